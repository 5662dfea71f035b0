"""Every check seen under each ablation method side by side (issue 29): zero, mean, counterfactual.

Pure functions over evaluated sources (`harness.claims.checks.Evaluation`, one per `zoo:<method>`, or
a reason string for a source without data) and over stored head tables:

- `outcome_grid`: one row per check, its id without the source (`X3[mean_frac_rank]`), one column per
  method, each cell the outcome word (reproduced / not reproduced / inconclusive / not testable), or
  `skipped` (the source has data, not for this check) or `no data` (the source has no table at all);
- `claim_summary`: per claim, whether every check holds under all the methods, which checks depend on
  the ablation, and the mechanistic-validity criterion: does it hold under at least two of them;
- `agreement_frame`: per model and pair of methods, Spearman of the delta columns and the top-20
  overlap (`harness.analysis.agreement`), "n/a" where a table is missing;
- `cost_frame`: each stored scan's seconds (meta.json `seconds`, `layer_seconds_all_runs`);
- text, Markdown and a figure (the grid coloured by outcome) of the above.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from harness.analysis.agreement import table_agreement
from harness.claims.check import NOT_APPLICABLE
from harness.claims.checks import CLAIM_IDS, Evaluation
from harness.claims.outcomes import OUTCOMES, REPRODUCED
from harness.report.format import markdown_table, save_figure

NO_DATA = "no data"
SKIPPED = "skipped"
NOT_AVAILABLE = "n/a"
# Claims whose evidence is the effect of removing heads one at a time (the head tables' deltas): the
# mechanistic-validity criterion (holds under at least two ablations) is stated for these. C1-C3 keep a
# head set and ablate every other head: a sufficiency reading, reported with the same count.
SUFFICIENCY_CLAIMS = ("C1", "C2", "C3")
MIN_ABLATIONS = 2


def check_id(claim: str, variant: str) -> str:
    """A check's id without its source: CLAIM[variant]."""
    return f"{claim}[{variant}]"


def _claim_order(claim: str) -> int:
    return CLAIM_IDS.index(claim) if claim in CLAIM_IDS else len(CLAIM_IDS)


def _checks_of(result: Evaluation | str) -> dict[tuple[str, str], str]:
    """(claim, variant) -> outcome word of one source; its unavailable checks as `skipped`."""
    if isinstance(result, str):
        return {}
    cells = {key: SKIPPED for key in result.unavailable if key[1] != NOT_APPLICABLE}
    cells.update({key: check.verdict for key, check in result.checks.items()})
    return cells


def _variant_ranks(results: Mapping[str, Evaluation | str]) -> dict[tuple[str, str], int]:
    """(claim, variant) -> its position among the claim's variants in the first source's design."""
    from harness.claims.checks import variants

    ranks: dict[tuple[str, str], int] = {}
    for result in results.values():
        if isinstance(result, Evaluation) and result.design is not None:
            for claim in CLAIM_IDS:
                for i, variant in enumerate(variants(claim, result.source, result.design)):
                    ranks.setdefault((claim, variant), i)
    return ranks


def outcome_grid(results: Mapping[str, Evaluation | str]) -> pd.DataFrame:
    """One row per check any source lists (claims in registry order, variants in the design's order),
    one column per method of `results` (method -> Evaluation, or a reason string when the source has
    no data)."""
    cells = {method: _checks_of(result) for method, result in results.items()}
    seen = list(dict.fromkeys(key for c in cells.values() for key in c))  # first appearance breaks ties
    ranks = _variant_ranks(results)
    ordered = sorted(seen, key=lambda k: (_claim_order(k[0]), k[0], ranks.get(k, len(seen)), seen.index(k)))
    rows = []
    for claim, variant in ordered:
        row = {"check": check_id(claim, variant), "claim": claim}
        for method, result in results.items():
            row[method] = NO_DATA if isinstance(result, str) else cells[method].get((claim, variant), SKIPPED)
        rows.append(row)
    return pd.DataFrame(rows, columns=["check", "claim", *results])


def _decided(outcomes: Sequence[str]) -> list[str]:
    return [o for o in outcomes if o in OUTCOMES]


def check_criterion(outcomes: Sequence[str], minimum: int = MIN_ABLATIONS) -> str:
    """'yes' when at least `minimum` methods reproduce the check, 'no' when even the methods without
    an outcome could not get it there, 'open' otherwise."""
    held = sum(o == REPRODUCED for o in outcomes)
    unknown = len(outcomes) - len(_decided(outcomes))
    if held >= minimum:
        return "yes"
    return "no" if held + unknown < minimum else "open"


def _claim_criterion(words: Sequence[str]) -> str:
    if "no" in words:
        return "no"
    return "open" if "open" in words else "yes"


def claim_summary(grid: pd.DataFrame, methods: Sequence[str]) -> pd.DataFrame:
    """Per claim: its checks with an outcome under every method, whether all hold under all methods,
    the checks whose outcome depends on the ablation, and whether it holds under at least two."""
    rows = []
    for claim, block in grid.groupby("claim", sort=False):
        outcomes = block[list(methods)].to_numpy().tolist()
        complete = [o for o in outcomes if len(_decided(o)) == len(methods)]
        depends = [c for c, o in zip(block["check"], outcomes) if len(set(_decided(o))) > 1]
        if not any(_decided(o) for o in outcomes):
            under_all = NO_DATA
        elif len(complete) < len(outcomes):
            under_all = "incomplete"
        else:
            under_all = "yes" if all(o == REPRODUCED for row in outcomes for o in row) else "no"
        rows.append({
            "claim": claim,
            "kind": "sufficiency" if claim in SUFFICIENCY_CLAIMS else "necessity",
            "checks": len(block),
            "holds under all": under_all,
            "depends on the ablation": ", ".join(depends) or "-",
            f"holds under >= {MIN_ABLATIONS}": _claim_criterion([check_criterion(o) for o in outcomes]),
        })
    return pd.DataFrame(rows)


def agreement_frame(tables: Mapping[str, Mapping[str, pd.DataFrame | None]], methods: Sequence[str],
                    k: int = 20) -> pd.DataFrame:
    """Per model (tables: model -> method -> its head table with layer, head, delta, or None) and each
    pair of methods: Spearman of the deltas and the shared top-k heads by |delta|, "n/a" when either
    table is missing."""
    rows = []
    pairs = [(a, b) for i, a in enumerate(methods) for b in methods[i + 1 :]]
    for model, by_method in tables.items():
        for first, second in pairs:
            a, b = by_method.get(first), by_method.get(second)
            row = {"model": model, "methods": f"{first} vs {second}", "spearman": NOT_AVAILABLE, f"top-{k} shared": NOT_AVAILABLE}
            if a is not None and b is not None:
                agree = table_agreement(a, b, column="delta", k=k)
                row["spearman"] = f"{agree['spearman']:.3f}"
                row[f"top-{k} shared"] = f"{agree['top_k_overlap']}/{agree['top_k']}"
            rows.append(row)
    return pd.DataFrame(rows)


def cost_frame(metas: Mapping[str, Mapping[str, Mapping | None]], n_layers: Mapping[str, int]) -> pd.DataFrame:
    """Per model and method (metas: model -> method -> a stored scan's meta.json, or None; n_layers:
    model -> its layers): prompts, dtype, device, the wall seconds of the run that finished the table,
    the layers it scanned (a resumed scan's earlier runs are not in its seconds), seconds per layer of
    that run, and the summed layer seconds of all runs where the meta records them."""
    rows = []
    for model, by_method in metas.items():
        for method, meta in by_method.items():
            row = {"model": model, "method": method, "prompts": NOT_AVAILABLE, "dtype": NOT_AVAILABLE, "device": NOT_AVAILABLE,
                   "seconds (last run)": NOT_AVAILABLE, "layers in it": NOT_AVAILABLE, "s per layer": NOT_AVAILABLE,
                   "layer seconds (all runs)": NOT_AVAILABLE}
            if meta is not None:
                scanned = n_layers[model] - int(meta.get("resumed_layers") or 0)
                seconds, layer = meta.get("seconds"), meta.get("layer_seconds_all_runs")
                row.update({
                    "prompts": meta.get("n_prompts", NOT_AVAILABLE), "dtype": meta.get("dtype", "float32"), "device": meta.get("device", "?"),
                    "seconds (last run)": f"{seconds:.0f}" if seconds is not None else NOT_AVAILABLE,
                    "layers in it": f"{scanned}/{n_layers[model]}",
                    "s per layer": f"{seconds / scanned:.1f}" if seconds is not None and scanned else NOT_AVAILABLE,
                    "layer seconds (all runs)": f"{layer:.0f}" if layer is not None else NOT_AVAILABLE,
                })
            rows.append(row)
    return pd.DataFrame(rows)


def terminal_grid(grid: pd.DataFrame, methods: Sequence[str]) -> str:
    """The grid as fixed-width text: check, then one column per method."""
    width = max([len("check"), *(len(c) for c in grid["check"])])
    cell = max([len(m) for m in methods] + [len(w) for m in methods for w in grid[m]] + [len(NO_DATA)])
    lines = [f"{'check':<{width}}  " + "  ".join(f"{m:<{cell}}" for m in methods)]
    for row in grid.itertuples(index=False):
        values = row._asdict() if hasattr(row, "_asdict") else dict(zip(grid.columns, row))
        lines.append(f"{row.check:<{width}}  " + "  ".join(f"{values[m]:<{cell}}" for m in methods))
    return "\n".join(lines)


def terminal_frame(frame: pd.DataFrame) -> str:
    """Any small frame as aligned text."""
    return frame.to_string(index=False) if len(frame) else "(none)"


def markdown_section(grid: pd.DataFrame, summary: pd.DataFrame, agreement: pd.DataFrame, cost: pd.DataFrame,
                     methods: Sequence[str], command: str, notes: Sequence[str] = (), figure: str | None = None) -> str:
    """The view as Markdown: the command that made it, the outcome grid (and its figure), the per-claim
    summary, the agreement between methods and the cost table."""
    parts = [f"Generated by `{command}` from the stored tables (no scan).", ""]
    parts += [f"- {note}" for note in notes] + ([""] if notes else [])
    parts += ["#### Each check under " + ", ".join(methods), "", markdown_table(grid.drop(columns="claim")), ""]
    if figure:
        parts += [f"![each check's outcome under {', '.join(methods)}]({figure})", ""]
    parts += ["#### Per claim", "",
              f"`holds under all`: every check reproduced under every method; `depends on the ablation`: the checks "
              f"whose outcome differs between the methods that have one; `holds under >= {MIN_ABLATIONS}`: the "
              "mechanistic-validity criterion (a necessity claim should hold under at least two ablations): yes when "
              "every check is reproduced under at least two methods, no when one cannot be, open while a method has "
              "no outcome for it.", "", markdown_table(summary), ""]
    parts += ["#### Agreement between ablations per model", "",
              "Spearman of the delta columns over all heads and the top-20 heads by |delta| the two tables share.", "",
              markdown_table(agreement), ""]
    parts += ["#### Cost of each table", "", markdown_table(cost), ""]
    return "\n".join(parts)


OUTCOME_COLOURS = {
    "reproduced": "#4c9f70", "not reproduced": "#d1495b", "inconclusive": "#edae49", "not testable": "#8d99ae",
    SKIPPED: "#e5e5e5", NO_DATA: "#ffffff",
}


def plot_grid(grid: pd.DataFrame, methods: Sequence[str], path: Path) -> Path:
    """The grid as coloured cells: a row per check, a column per method, the colour its outcome."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    words = list(OUTCOME_COLOURS)
    codes = grid[list(methods)].apply(lambda column: column.map(words.index)).to_numpy()
    fig, ax = plt.subplots(figsize=(3.6 + 1.6 * len(methods), 1.2 + 0.24 * len(grid)))
    ax.imshow(codes, cmap=ListedColormap(list(OUTCOME_COLOURS.values())), vmin=0, vmax=len(words) - 1, aspect="auto")
    ax.set_xticks(range(len(methods)), list(methods), fontsize=8)
    ax.xaxis.tick_top()
    ax.set_yticks(range(len(grid)), list(grid["check"]), fontsize=7)
    ax.set_xticks([x - 0.5 for x in range(1, len(methods))], minor=True)
    ax.set_yticks([y - 0.5 for y in range(1, len(grid))], minor=True)
    ax.grid(which="minor", color="white", linewidth=1)
    ax.tick_params(which="minor", length=0)
    ax.legend(handles=[Patch(facecolor=c, edgecolor="#999999", label=w) for w, c in OUTCOME_COLOURS.items()],
              loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7, frameon=False)
    ax.set_title("each check's outcome under each ablation", fontsize=9, pad=24)
    return save_figure(fig, path)


# The methods in the view's order: the origin's (zero), the harness default (mean), MIB's (counterfactual).
VIEW_METHODS = ("zero", "mean", "counterfactual")
# A Markdown file holding both markers gets the view between them (the rest of the page is kept).
SECTION_START = "<!-- ablation-view: generated, do not edit by hand -->"
SECTION_END = "<!-- /ablation-view -->"


def spliced(page: str | None, section: str) -> str:
    """`page` with the text between the view's markers replaced by `section`; the section alone, with
    its markers, for a new file (`page` None). A page without both markers is refused (ValueError):
    the view never overwrites text it did not write."""
    block = f"{SECTION_START}\n{section.rstrip()}\n{SECTION_END}"
    if page is None:
        return block + "\n"
    if SECTION_START not in page or SECTION_END not in page.split(SECTION_START, 1)[1]:
        raise ValueError(f"the page has no '{SECTION_START}' ... '{SECTION_END}' markers to write the view between")
    before, rest = page.split(SECTION_START, 1)
    return before + block + rest.split(SECTION_END, 1)[1]


def missing_notes(tables: Mapping[str, Mapping[str, object | None]], methods: Sequence[str]) -> list[str]:
    """One line per method naming the models without a stored table."""
    lines = []
    for method in methods:
        lacking = [model for model, by_method in tables.items() if by_method.get(method) is None]
        if lacking:
            lines.append(f"zoo:{method} has no stored table for {', '.join(lacking)}")
    return lines
