"""The report's section on heads matched by role: per source, the pairs under every correspondence
(harness.analysis.role_transfer.markdown) and its figure; per model, the role heatmap and the cost of
its role table (seconds, from the stored meta.json)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def cost_table(models: list[str]) -> pd.DataFrame:
    """Seconds to load each model and to score its role table, as stored with the table."""
    from harness.models import registry
    from harness.runs.roles import stored_entry

    rows = []
    for model in models:
        hit = stored_entry(registry.get(model))
        if hit is None:
            continue
        meta = hit[1]
        rows.append({"model": model, "heads": len(hit[0]), "load_s": meta.get("load_seconds"), "roles_s": meta.get("seconds"),
                     "names": meta.get("n_names"), "device": meta.get("device")})
    return pd.DataFrame(rows)


def write_section(sources: list[str], out: Path, figures: Path) -> Path:
    """Write the Markdown section to `out`, drawing the heatmaps and figures into `figures`."""
    from harness.analysis import role_transfer
    from harness.claims.role_claims import role_transfer_report
    from harness.report.render import markdown_table
    from harness.report.role_transfer_plot import plot_role_transfer
    from harness.report.roles_plot import plot_roles
    from harness.models import registry
    from harness.runs.roles import stored_roles

    lines = ["# Heads matched by role", ""]
    models: list[str] = []
    for name in sources:
        rows, results, src = role_transfer_report(name)
        png = plot_role_transfer(rows, results, figures / f"role_transfer_{name.replace(':', '_')}.png", f"Transfer under correspondences ({name})")
        lines += [f"## {name}", "", role_transfer.markdown(rows), f"![{name}]({png.name})", ""]
        models += [m for m in src.design.models if m not in models]
    lines += ["## Cost of the role tables (one model at a time, 2-core CPU shared with other jobs)", "",
              markdown_table(cost_table(models)), "", "## Role maps", ""]
    for model in models:
        table = stored_roles(registry.get(model))
        if table is not None:
            png = plot_roles(table, figures / f"roles_{model}.png")
            lines += [f"![{model}]({png.name})", ""]
    out.write_text("\n".join(lines) + "\n")
    return out
