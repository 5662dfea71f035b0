"""`python -m harness role-transfer`: each design pair under the correspondences index / depth / role /
role+depth, with null and oracle (harness.claims.role_claims), or M1-M3 under each value of
claims/role_robustness.toml (--sensitivity)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.cli import args as args_types
from harness.cli.output import UserError, _emit
from harness.claims.role_claims import role_transfer_report


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("role-transfer", help="each design pair under the correspondences index/depth/role/role+depth, with null and oracle")
    p.add_argument("--source", default="zoo:mean", help="a source with role tables (zoo:mean | zoo:zero)")
    args_types.add_output(p, "markdown")
    p.add_argument("--plot", type=Path, default=None, help="also draw the figure to this PNG")
    p.add_argument("--sensitivity", action="store_true",
                   help="instead: M1-M3 under each value of claims/role_robustness.toml, one choice at a time")
    p.set_defaults(func=run)


def run(args) -> int:
    from harness.analysis import role_transfer

    try:
        rows, results, src = role_transfer_report(args.source)
    except LookupError as err:
        raise UserError(str(err.args[0])) from None
    if args.sensitivity:
        from harness.claims import role_grid

        frame = role_grid.sensitivity(src)
        _emit(frame, args.format, args.out)
        moved = role_grid.flips(frame)
        print(f"{len(moved)} of {int((~frame['default']).sum())} non-default rows flip a verdict", file=sys.stderr)
        for row in moved.itertuples():
            print(f"flip: {row.claim}[{row.source}-{row.variant}] under {row.choice}={row.value}: holds={row.holds}", file=sys.stderr)
        return 0
    if args.plot:
        from harness.report.role_transfer_plot import plot_role_transfer

        print(f"figure: {plot_role_transfer(rows, results, args.plot, f'Transfer under correspondences ({args.source})')}", file=sys.stderr)
    if args.format == "markdown" and not args.out:
        sys.stdout.write(role_transfer.markdown(rows))
    else:
        _emit(rows, args.format, args.out)
    return 0
