"""`python -m harness leave-one-out`: each pooled check's outcome with every model and with each model
dropped (harness.claims.leave_one_out)."""

from __future__ import annotations

import argparse

import pandas as pd

from harness.cli import args as args_types
from harness.cli.output import UserError, _emit


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("leave-one-out", help="does each pooled verdict (X2, X3, T1-T3) survive dropping any one model?")
    p.add_argument("--source", default="zoo:mean,zoo:zero", help="comma-separated sources (stored data only, never a scan)")
    args_types.add_output(p, "markdown")
    p.set_defaults(func=run)


def run(args) -> int:
    """Each pooled check's outcome with every model and with each model dropped (harness.claims.leave_one_out)."""
    from harness.claims import sources
    from harness.claims.leave_one_out import leave_one_out

    frames = []
    for name in args.source.split(","):
        try:
            sources.parse(name)
        except sources.UnknownSource as err:
            raise UserError(f"--source: {err}") from None
        src = sources.load(name, compute=False)
        if src.table.empty:
            raise UserError(f"source {name} has no head table: {'; '.join(src.notes) or 'no data'}")
        frames.append(leave_one_out(src))
    _emit(pd.concat(frames, ignore_index=True), args.format, args.out)
    return 0
