"""The known-answer controls' report (docs/controls.md): each (base, control) pair of a controls design
read from the STORED tables (the controls' own scans, never a table made by hand), scored against the
control's true map (harness.analysis.controls), and the expectations K1-K8 over them; a figure of
frac_lost under index, depth, role+depth and the true map for each control."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.claims import checks as checks_mod
from harness.claims import control_claims
from harness.claims.check import Check
from harness.claims.sources import Source
from harness.data.head_table import with_categories
from harness.report.render import verdict_word

Summaries = dict[str, dict[str, dict[str, float]]]  # base -> control -> analysis.controls.pair_summary


def evaluate(source: Source, cfg: Any) -> tuple[Summaries, list[Check], list[str]]:
    """(base -> control -> pair_summary, the gate's K checks of the source with their outcomes, notes on
    what is absent): the same evaluation `pytest claims/` runs on it, so the command and the gate agree."""
    if not source.extras.get(control_claims.EXTRA):
        return {}, [], [*source.notes, f"source {source.name}: its design has no derived (control) models"]
    memo: dict = {}  # shared with the evaluation: the role null's draws are made once
    evaluation = checks_mod.evaluate(source.table, source.name, cfg, memo, floors=source.floors or None, design=source.design,
                                     extras=source.extras)
    table = with_categories(source.table, cfg.transfer.categories)
    summaries = control_claims.pair_summaries(table, source.extras, source.design, cfg, memo)
    k_checks = [c for (claim, _), c in evaluation.checks.items() if claim in control_claims.CLAIM_KINDS]
    notes = list(source.notes) + [f"{claim}[{variant}]: {why}" for (claim, variant), why in evaluation.unavailable.items()
                                  if claim in control_claims.CLAIM_KINDS]
    return summaries, k_checks, notes


def markdown(summaries: Summaries, checks: list[Check]) -> str:
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
    if checks:
        out += "\n| K | control | measured | condition | verdict |\n|---|---|---|---|---|\n"
        out += "\n".join(f"| {c.claim} | {c.variant} | {c.measured} | {c.condition} | {verdict_word(c)} |" for c in checks) + "\n"
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
