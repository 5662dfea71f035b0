"""Reports of claim checks: one `Report` (built by `build_report`, printed by the CLI and the pytest
plugin), its verdict and sources tables (terminal and Markdown), and a plot of the six pairs.

Computes no statistic: the checks, intervals and agreements it shows are passed in or computed by
harness.claims / harness.analysis.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from harness.claims.checks import PAIR_CLAIMS, Check, Evaluation
from harness.claims.robustness import Sweep
from harness.claims.registry import statement
from harness.report.format import markdown_table, save_figure
from harness.report.zoo import floors_frame, pairs_frame, plot_zoo, zoo_markdown
from harness.claims.thresholds import Thresholds, Transfer

SEED_MFR = {(base, target): mfr for base, target, mfr, _, _ in PAIR_CLAIMS.values()}

VERDICT_COLUMNS = ["check", "statement", "measured", "threshold", "verdict", "p", "rule"]
OUTCOME_COLUMNS = ["reproduced", "not_reproduced", "inconclusive", "not_testable"]  # outcomes.OUTCOMES as column names


def verdict_word(check: Check) -> str:
    """The outcome as the table prints it: capitals for everything but reproduced, to catch the eye."""
    return check.verdict if check.verdict == "reproduced" else check.verdict.upper()


def p_text(check: Check) -> str:
    """Raw and Holm-adjusted p ("-" for a check without a test)."""
    if check.p_value is None:
        return "-"
    adjusted = f" (adj {check.p_adjusted:.3g})" if check.p_adjusted is not None else ""
    return f"{check.p_value:.3g}{adjusted}"


def verdict_frame(
    checks: Iterable[Check], skipped: dict[str, str] | None = None, robustness: dict[str, str] | None = None
) -> pd.DataFrame:
    """One row per check: id, claim statement, measured value, threshold, verdict; with `robustness`
    (check key -> 'robust 0.97', harness.claims.robustness.verdict_notes) also that word and share."""
    rows = [
        {
            "check": c.key,
            "statement": statement(c.claim),
            "measured": c.measured,
            "threshold": c.condition,
            "verdict": verdict_word(c),
            "p": p_text(c),
            "rule": c.rule,
        }
        for c in checks
    ]
    for key, reason in (skipped or {}).items():
        rows.append({"check": key, "statement": statement(key.split("[")[0]), "measured": "-", "threshold": "-", "verdict": f"skipped: {reason}",
                     "p": "-", "rule": "-"})
    frame = pd.DataFrame(rows, columns=VERDICT_COLUMNS)
    if robustness is not None:
        frame.insert(len(VERDICT_COLUMNS), "robustness", [robustness.get(k, "-") for k in frame["check"]])
    return frame


def terminal_table(frame: pd.DataFrame) -> str:
    """The verdict table for a terminal: one block per claim, its statement once, then its checks."""
    lines = []
    width = max((len(c) for c in frame["check"]), default=10)
    measured_width = min(max((len(m) for m in frame["measured"]), default=10), 70)
    for claim, block in frame.groupby(frame["check"].str.split("[").str[0], sort=False):
        lines.append(f"{claim}: {block['statement'].iloc[0]}")
        for row in block.itertuples(index=False):
            robust = f"{getattr(row, 'robustness', ''):<17}  " if "robustness" in frame else ""
            p = f"  p {row.p}" if row.p != "-" else ""
            lines.append(f"  {row.check:<{width}}  {row.verdict:<14}  {robust}{row.measured:<{measured_width}}  needs {row.threshold}{p}")
            if row.verdict not in ("reproduced", "NOT REPRODUCED") or (row.rule and not row.rule.startswith("point rule")):
                lines.append(f"  {'':<{width}}  {'':<14}  {row.rule}")
    return "\n".join(lines)


def sources_frame(results: dict[str, Evaluation | str]) -> pd.DataFrame:
    """One row per source beside the others: the models it covers, its checks and their verdicts,
    or why it has no data (`results` maps a source name to its Evaluation or that reason)."""
    rows = []
    for name, ev in results.items():
        if isinstance(ev, str):
            rows.append({"source": name, "models": 0, "checks": 0, **dict.fromkeys(OUTCOME_COLUMNS, 0), "note": f"no data: {ev}"})
            continue
        models = set(ev.summary["base_model"]) | set(ev.summary["tgt_model"]) if len(ev.summary) else set()
        verdicts = [c.verdict.replace(" ", "_") for c in ev.checks.values()]
        rows.append(
            {
                "source": name,
                "models": len(models),
                "checks": len(ev.checks),
                **{column: verdicts.count(column) for column in OUTCOME_COLUMNS},
                "note": "; ".join(
                    ([f"{len(ev.unavailable)} checks need models this source lacks"] if ev.unavailable else []) + entry_notes(ev)
                ),
            }
        )
    return pd.DataFrame(rows, columns=["source", "models", "checks", *OUTCOME_COLUMNS, "note"])


def entry_notes(ev: Evaluation) -> list[str]:
    """Which stored entry each model's table came from (the "entry" column of computed sources)."""
    table = ev.table
    if table is None or "entry" not in table or not len(table):
        return []
    entries = table.groupby("model", sort=False)["entry"].first()
    return [f"{model} from {entry}" for model, entry in entries.items()]


def terminal_sources(frame: pd.DataFrame) -> str:
    """The sources table as plain lines for a terminal: one line per source."""
    lines = ["sources:"]
    for row in frame.to_dict("records"):
        if row["checks"]:
            text = (f"{row['checks']} checks on {row['models']} models: {row['reproduced']} reproduced, {row['not_reproduced']} not reproduced, "
                    f"{row['inconclusive']} inconclusive, {row['not_testable']} not testable")
            text += f" ({row['note']})" if row["note"] else ""
        else:
            text = row["note"]
        lines.append(f"  {row['source']:18s} {text}")
    return "\n".join(lines)


def reference_lines(table: pd.DataFrame, model: str, transfer_settings: Transfer) -> list[str]:
    """What a recomputed head table of one model says, in a few lines: how well the model does each
    task, how many heads fall in each category, its strongest IOI heads, and its self-transfer."""
    from harness.analysis import transfer

    lines = []
    for task, meta in table.attrs.get("tasks", {}).items():
        key = meta.get("key", {})
        lines.append(
            f"{task}: clean logit diff {meta['clean_logit_diff']:.2f}, accuracy {meta['clean_accuracy']:.2f} "
            f"({meta['n_prompts']} prompts, {key.get('method', '?')} ablation, {key.get('algorithm', '?')} scan)"
        )
    counts = table["category"].value_counts()
    lines.append("categories: " + ", ".join(f"{name} {counts[name]}" for name in sorted(counts.index)))
    top = table.reindex(table["delta_ioi"].sort_values(kind="stable").index).head(5)
    lines.append("strongest IOI heads (delta_ioi): " + ", ".join(f"L{r.layer}H{r.head} {r.delta_ioi:+.2f}" for r in top.itertuples()))
    summary = transfer.summarize_heads(transfer.transfer_heads(table, model, model, **transfer_settings.kwargs()))
    lines.append(
        f"self-transfer (k={transfer_settings.k}): frac_missing {summary['frac_missing_table']:.2f}, mean_frac_rank "
        f"{summary['mean_frac_rank']:.3f}, frac_lost {summary['frac_lost']:.2f}"
    )
    return lines


def reference_summary(transfer_settings: Transfer) -> list[str]:
    """The reference model's committed head table in a few lines (or why there is none)."""
    from harness.analysis.agreement import table_agreement
    from harness.models import registry
    from harness.models.registry import REFERENCE_METHODS, REFERENCE_MODEL
    from harness.runs.recompute import RunSpec, committed_head_table

    tables = {}
    for method in REFERENCE_METHODS:
        try:
            tables[method] = committed_head_table(registry.get(REFERENCE_MODEL), RunSpec(method=method))
        except FileNotFoundError as err:
            return [f"{REFERENCE_MODEL}: {err}"]
    default, *others = REFERENCE_METHODS
    lines = [f"{REFERENCE_MODEL}, committed head table (fixtures/recomputed/):", *reference_lines(tables[default], REFERENCE_MODEL, transfer_settings)]
    for other in others:
        a = table_agreement(tables[default], tables[other])
        lines.append(
            f"{default} vs {other} ablation: Spearman of delta_ioi {a['spearman']:.3f} over {a['n_heads']} heads, "
            f"top-{a['top_k']} |delta_ioi| heads shared {a['top_k_overlap']}/{a['top_k']}"
        )
    return lines


def summary_markdown(report: Report, heatmap: str | None = None) -> str:
    """The whole Markdown report: sources side by side, transfer summary per source, the verdicts (with
    their robustness notes when given, and a link to the robustness heatmap `heatmap`), and the
    reference model's recomputed head table in a few lines."""
    parts = ["# IOI head transfer: claim verdicts", ""]
    if report.preface:  # what a reader must know first: modified fixtures, the user's files and their sha256
        parts += [*[f"> **{line}**" if line.startswith("WARNING") else f"> {line}" for line in report.preface], ""]
    if report.notes:
        parts += ["## Settings overridden on the command line", "", *[f"- {line}" for line in report.notes], ""]
    if len(report.sources):
        parts += ["## Sources", "", markdown_table(report.sources), ""]
    if report.reference:
        parts += ["## Reference model", "", *[f"- {line}" for line in report.reference], ""]
    for ev in report.evaluations:
        parts += [f"## Transfer summary, source `{ev.source}`", "", markdown_table(ev.summary.round(4)), ""]
    frame = report.verdicts
    counts = {word: int((frame["verdict"].str.lower() == word).sum()) for word in ("reproduced", "not reproduced", "inconclusive", "not testable")}
    n_skip = len(frame) - sum(counts.values())
    parts += ["## Verdicts", "", ", ".join(f"{n} {word}" for word, n in counts.items()) + f", {n_skip} skipped.", "",
              "Outcomes (harness/claims/outcomes.py, [verdicts] of claims/thresholds.toml): reproduced / not reproduced only when "
              "the check's 95% interval lies wholly on one side of its threshold and its test decides at the Holm-adjusted level; "
              "inconclusive when they straddle; not testable when a premise fails. `p` is raw (Holm-adjusted over the source's "
              "p-valued checks); `rule` says which evidence decided.", ""]
    if report.robustness is not None:
        parts += [
            "The verdict is the one at the default choices (the gate); `robustness` gives the share of the grid of "
            "claims/robustness.toml where the check holds, robust or fragile as its [labels] say (`python -m harness robustness`).",
            "",
        ]
    parts += [markdown_table(frame), ""]
    if heatmap:
        parts += [f"![share of the grid where each check holds]({heatmap})", ""]
    return "\n".join(parts)


def plot_pairs(evaluation: Evaluation, path: Path, intervals: pd.DataFrame | None = None) -> Path:
    """PNG of the six pairs: mean_frac_rank (with bootstrap intervals when given) and both missing
    fractions plus frac_lost, within-family pairs left of cross-family ones."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    s = evaluation.summary
    labels = [f"{b}\n-> {t}" for b, t in zip(s["base_model"], s["tgt_model"])]
    x = np.arange(len(s))
    colors = ["tab:blue" if k == "within" else "tab:orange" for k in s["kind"]]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    yerr = None
    if intervals is not None:
        iv = intervals.set_index(["base_model", "tgt_model"]).loc[list(zip(s["base_model"], s["tgt_model"]))]
        yerr = np.vstack([s["mean_frac_rank"].to_numpy() - iv["mfr_lo"].to_numpy(), iv["mfr_hi"].to_numpy() - s["mean_frac_rank"].to_numpy()])
    ax1.bar(x, s["mean_frac_rank"], color=colors, yerr=yerr, capsize=4)
    ax1.axhline(0.5, color="grey", lw=0.8, ls="--")
    seed_values = [SEED_MFR.get((b, t)) for b, t in zip(s["base_model"], s["tgt_model"])]
    ax1.scatter(x, [v if v is not None else np.nan for v in seed_values], marker="D", color="black", zorder=3, label="seed's value")
    ax1.legend(fontsize=8, loc="upper left")
    ax1.set_ylim(0, 1)
    ax1.set_ylabel("mean_frac_rank (0 = strongest)")
    ax1.set_title("Rank of the base's top-20 IOI heads in the target")
    w = 0.27
    ax2.bar(x - w, s["frac_missing_table"], w, color="0.45", label="missing (not a table row: origin)")
    ax2.bar(x, s["frac_missing_geometry"], w, color="tab:purple", label="missing (index absent: seed's words)")
    ax2.bar(x + w, s["frac_lost"], w, color="tab:red", label="lost (missing or weaker half)")
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel("fraction of base heads")
    ax2.set_title("Missing and lost heads")
    ax2.legend(fontsize=8, loc="upper left")
    for ax in (ax1, ax2):
        ax.set_xticks(x, labels, fontsize=7)
    fig.suptitle(f"IOI head transfer, source: {evaluation.source} (blue/left = within Pythia, orange = cross-family)", fontsize=10)
    return save_figure(fig, path)


def settings_notes(settings: Thresholds, overrides: dict[str, object]) -> list[str]:
    """One line per [transfer] setting a command-line flag overrode, naming the file's value."""
    from harness.claims.thresholds import load

    file_values = load(settings.path).transfer
    return [
        f"{name} = {value} (from --{name.replace('_', '-')}; {settings.path.name} says {getattr(file_values, name)})"
        for name, value in overrides.items()
    ]


@dataclass(frozen=True, eq=False)  # eq=False: frames do not compare to one bool
class Report:
    """One report of evaluated sources, built once (`build_report`) and printed by both the CLI
    (`python -m harness report`) and the pytest plugin's terminal summary; `write_files` writes it."""

    results: Mapping[str, Evaluation | str]  # source -> its evaluation, or why it has none
    checks: tuple[Check, ...]
    skipped: Mapping[str, str]  # check key -> why it was not computed
    settings: Thresholds
    verdicts: pd.DataFrame  # verdict_frame: one row per check (skipped ones last)
    sources: pd.DataFrame  # sources_frame: one row per source
    robustness: Mapping[str, str] | None  # check key -> 'robust 0.97'; None: no robustness column
    sweep: Sweep | None  # the table-level robustness sweep the notes come from (the CLI draws its heatmap)
    preface: tuple[str, ...]  # what a reader must know first (harness.claims.sources.preface)
    reference: tuple[str, ...]  # the reference model's committed head table in a few lines
    notes: tuple[str, ...]  # [transfer] settings a command-line flag overrode

    @property
    def evaluations(self) -> list[Evaluation]:
        return [ev for ev in self.results.values() if not isinstance(ev, str)]


def build_report(
    results: Mapping[str, Evaluation | str],
    settings: Thresholds,
    *,
    checks: Iterable[Check] | None = None,
    skipped: Mapping[str, str] | None = None,
    robustness: bool = True,
    preface: Iterable[str] | None = None,
    notes: Iterable[str] = (),
) -> Report:
    """The report of `results` (source -> Evaluation or why it has none). `checks` and `skipped` default
    to every check of the evaluations and every one they could not compute, in evaluation order (the
    plugin passes the ones its tests ran, in test order); `robustness` adds each check's share of the
    claims/robustness.toml table-level grid; `preface` defaults to the sources' own."""
    from harness.claims import robustness as robustness_mod
    from harness.claims import sources as sources_mod
    from harness.claims.checks import check_key

    evaluations = [ev for ev in results.values() if not isinstance(ev, str)]
    if checks is None:
        checks = [c for ev in evaluations for c in ev.checks.values()]
    if skipped is None:
        skipped = {check_key(c, ev.source, v): r for ev in evaluations for (c, v), r in ev.unavailable.items()}
    checks = tuple(checks)
    sweep = robustness_mod.sweep_evaluations(evaluations) if robustness else None
    notes_by_check = robustness_mod.verdict_notes(sweep.summary) if sweep is not None else None
    return Report(
        results=dict(results),
        checks=checks,
        skipped=dict(skipped),
        settings=settings,
        verdicts=verdict_frame(checks, skipped, notes_by_check),
        sources=sources_frame(dict(results)),
        robustness=notes_by_check,
        sweep=sweep,
        preface=tuple(sources_mod.preface(list(results)) if preface is None else preface),
        reference=tuple(reference_summary(settings.transfer)),
        notes=tuple(notes),
    )


def write_files(
    report: Report, *, markdown: Path | None = None, plot: Path | None = None, heatmap: str | None = None, zoo_plot: Path | None = None,
) -> list[str]:
    """Write the Markdown report and/or the pairs plot of `report`; returns one line per file written.
    The CLI (`report`) and the pytest plugin (`--claims-report`, `--claims-plot`) both call this.
    `heatmap` (a link to the robustness heatmap) goes into the Markdown report; zoo sources add their
    pairs against the noise floors (harness.report.zoo), and `zoo_plot` draws them."""
    from harness.analysis.uncertainty import pair_intervals

    written = []
    settings = report.settings
    evaluations = report.evaluations
    zoo_sections = _zoo_sections(evaluations, settings) if (markdown or zoo_plot) else {}
    if zoo_plot and zoo_sections:

        published = next((e for e in evaluations if e.source == "published"), None)
        for i, (source, (_, pairs, floors)) in enumerate(zoo_sections.items()):
            path = plot_zoo(published, pairs, floors, zoo_plot_path(Path(zoo_plot), source, first=i == 0),
                            f"IOI head transfer: published pairs (grey) and the zoo's, source {source} (blue = within family, orange = cross)")
            written.append(f"zoo plot of {source} written to {path}")
    if plot and evaluations:
        unc = settings.uncertainty
        ev = next((e for e in evaluations if e.source == "published"), evaluations[0])
        intervals = pair_intervals(ev.heads, unc.n_boot, unc.level, unc.seed)
        written.append(f"claims plot written to {plot_pairs(ev, Path(plot), intervals)}")
    # the Markdown report last: it links the plots, and an interrupted run leaves the old one whole
    if markdown:
        markdown = Path(markdown)
        markdown.parent.mkdir(parents=True, exist_ok=True)
        text = summary_markdown(report, heatmap)
        for lines in zoo_sections.values():
            text += "\n" + "\n".join(lines[0])
        from harness.files import atomic_write_text

        atomic_write_text(markdown, text, streams=True)
        written.append(f"claims report written to {markdown}")
    return written


def zoo_plot_path(path: Path, source: str, *, first: bool) -> Path:
    """Where the zoo plot of `source` goes: the first zoo source at `path`, each other one beside it,
    named by its method (zoo:zero -> zoo_zero.png) or, for a user design, by the source."""
    if first:
        return path
    label = source.partition(":")[2] if source.startswith("zoo:") else source.replace(":", "_")
    return path.with_name(f"{path.stem}_{label}{path.suffix}")


def _zoo_sections(evaluations: list[Evaluation], settings: Thresholds) -> dict[str, tuple[list[str], pd.DataFrame, dict]]:
    """Per zoo evaluation: its report lines, its pairs frame and its floors."""

    out = {}
    for ev in evaluations:
        if not ev.source.startswith("zoo:") or not ev.heads:
            continue
        floors = ev.floors or {}
        pairs = pairs_frame(ev, floors, ev.source.partition(":")[2], settings)
        out[ev.source] = (zoo_markdown(pairs, floors_frame(floors), ev.source), pairs, floors)
    return out
