"""The known-answer controls' report (docs/controls.md): each (base, control) pair of a controls design
read from the STORED tables (the controls' own scans, never a table made by hand), scored against the
control's true map (harness.analysis.controls), and the expectations K1-K8 over them; a figure of
frac_lost under index, depth, role+depth and the true map for each control."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis import controls
from harness.claims.control_claims import KINDS
from harness.data.designs import Design
from harness.models import registry, transforms
from harness.models.weights import WeightsNotFound



def evaluate(design: Design, method: str, cfg: Any) -> tuple[dict[str, dict[str, dict[str, float]]], pd.DataFrame, list[str]]:
    """(base -> control -> pair_summary, the expectations of every base, notes on what is absent)."""
    from harness.runs import roles as role_store
    from harness.runs.zoo import zoo_head_table

    table, notes = zoo_head_table(method, design=design)
    present = set(table.get("model", []))
    role_tables = {}
    for model in design.models:
        spec = registry.get(model)
        try:
            found = role_store.stored_roles(model, role_store.design_role_spec(design, model))
        except WeightsNotFound:  # role tables are keyed by pretrained weights (a twin has none)
            found = None
        if found is not None:
            role_tables[model] = found
        elif spec.derive is not None:
            notes.append(f"{model}: no role table stored (role+depth left out)")
    summaries: dict[str, dict[str, dict[str, float]]] = {}
    checks = []
    for base, control in design.pairs:
        derive = registry.get(control).derive
        if derive is None or base not in present or control not in present:
            continue
        summaries.setdefault(base, {})[control] = controls.pair_summary(table, role_tables, base, control, transforms.control_true_map(control), cfg)
    for base, by_control in summaries.items():
        kinds = {c: KINDS[registry.get(c).derive.transform] for c in by_control}
        prompt_twin = [c for c, k in kinds.items() if k == "prompts"]
        if not prompt_twin:
            notes.append(f"{base}: no prompt twin table: K1-K3 have no floor")
            continue
        checks.append(controls.expectations(by_control, kinds, floor=by_control[prompt_twin[0]]["index_lost"]).assign(base=base))
    return summaries, (pd.concat(checks, ignore_index=True) if checks else pd.DataFrame()), notes


def markdown(summaries: dict[str, dict[str, dict[str, float]]], checks: pd.DataFrame) -> str:
    lines = ["| base | control | index lost / acc | depth lost / acc | role+depth lost / acc | true map lost | Spearman through the map |",
             "|---|---|---|---|---|---|---|"]
    for base, by_control in summaries.items():
        for control, s in by_control.items():
            def cell(name: str, s=s) -> str:
                if f"{name}_lost" not in s:
                    return "n/a"
                return f"{s[f'{name}_lost']:.2f} / {s[f'{name}_acc']:.2f}"
            lines.append(f"| {base} | {control} | {cell('index')} | {cell('depth')} | {cell('role+depth')} | "
                         f"{s.get('true_lost', float('nan')):.2f} | {s.get('spearman', float('nan')):.4f} |")
    out = "\n".join(lines) + "\n"
    if not checks.empty:
        out += "\n| K | control | measured | condition | holds |\n|---|---|---|---|---|\n"
        out += "\n".join(f"| {r.k} | {r.control} | {r.measured} | {r.condition} | {r.holds} |" for r in checks.itertuples()) + "\n"
    return out


def plot(summaries: dict[str, dict[str, dict[str, float]]], path: Path) -> Path:
    """frac_lost of each control under index, depth, role+depth and the true map, one panel per base."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ("index", "depth", "role+depth", "true")
    fig, axes = plt.subplots(1, max(1, len(summaries)), figsize=(6 * max(1, len(summaries)), 3.6), squeeze=False)
    for ax, (base, by_control) in zip(axes[0], summaries.items()):
        labels = list(by_control)
        width = 0.8 / len(names)
        for i, name in enumerate(names):
            values = [by_control[c].get(f"{name}_lost", float("nan")) for c in labels]
            ax.bar([j + i * width for j in range(len(labels))], values, width, label=name)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(labels))], [c.split("~")[-1] for c in labels])
        ax.set_ylim(0, 1.05)
        ax.set_title(base)
        ax.set_ylabel("frac_lost of the base's top 20")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
