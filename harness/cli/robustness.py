"""`python -m harness robustness`: the share of the grid of analyst's choices (claims/robustness.toml)
where each check holds (harness.claims.robustness), and its heatmap."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.cli import args as args_types
from harness.cli.output import _emit


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("robustness", help="share of a grid of analyst's choices where each claim check holds")
    p.add_argument("--source", default=None, help="comma-separated sources (default: every source; cached data only, never a scan)")
    p.add_argument("--quick", action="store_true", help="table-level grid only (seconds)")
    p.add_argument("--choices", default=None, help="comma-separated table-level choices to sweep (default: all of claims/robustness.toml)")
    args_types.add_output(p, "markdown")
    p.add_argument("--heatmap", type=lambda s: Path(s) if s else None, default=Path("reports/robustness.png"), help="PNG path ('' = none)")
    p.set_defaults(func=run)


def run(args) -> int:
    from harness.claims import robustness, sources
    from harness.report.robustness_plot import plot_heatmap

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
