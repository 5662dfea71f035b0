"""`python -m harness controls`: the known-answer controls (claims/designs/controls.toml) against their
true maps, K1-K8 (harness.report.controls)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.cli.output import UserError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("controls", help="known-answer controls (claims/designs/controls.toml) against their true maps: K1-K8")
    p.add_argument("--design", type=Path, default=None, help="a controls design (default: claims/designs/controls.toml)")
    p.add_argument("--method", default="mean")
    p.add_argument("--plot", type=Path, default=None, help="also draw frac_lost per correspondence and control to this PNG")
    p.set_defaults(func=run)


def run(args) -> int:
    from harness.claims import sources, thresholds
    from harness.report import controls as report

    name = f"controls:{args.method}"
    if args.design is not None:  # a user's controls design: its source of that method
        added = sources.use_design(args.design)
        name = next((s for s in added if s.endswith(f":{args.method}")), None)
        if name is None:
            raise UserError(f"design {args.design} scans no {args.method!r} tables (its methods: {', '.join(a.split(':')[1] for a in added)})")
    summaries, checks, notes = report.evaluate(sources.load(name, compute=False), thresholds.load())
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(report.markdown(summaries, checks))
    if args.plot and summaries:
        print(f"figure: {report.plot(summaries, args.plot)}", file=sys.stderr)
    return 0
