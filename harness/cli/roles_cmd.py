"""`python -m harness roles`: one model's role table (harness.scoring.roles), one row per head."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("roles", help="role scores of every head of a model (stored; --compute from weights)")
    p.add_argument("--model", required=True, help="registry name, e.g. smollm2-135m")
    p.add_argument("--compute", action="store_true", help="compute from the weights when no table is stored")
    p.add_argument("--commit", action="store_true", help="copy the table into fixtures/roles/ (to commit it)")
    p.add_argument("--device", default="auto")
    p.add_argument("--heatmap", type=Path, default=None, help="also draw the heatmap (layers x heads per score) to this PNG")
    p.add_argument("--format", default="csv", choices=["csv", "markdown"])
    p.add_argument("--out", type=Path)
    p.set_defaults(func=cmd_roles)


def cmd_roles(args) -> int:
    from harness.cli.main import UserError, _emit
    from harness.models import registry
    from harness.runs import roles

    if args.model not in registry.MODELS:
        raise UserError(f"unknown model {args.model!r}; use one of {', '.join(registry.MODELS)}")
    table = roles.stored_roles(args.model)
    if table is None:
        if not args.compute:
            raise UserError(f"no role table of {args.model} is stored; compute it with `{roles.compute_command(args.model)}`")
        run = roles.compute_roles(args.model, device=args.device)
        print(f"{args.model}: roles in {run.meta['seconds']} s (load {run.meta['load_seconds']} s)", file=sys.stderr)
        table = roles.stored_roles(args.model)
    if args.commit:
        print(f"committed role table written to {roles.commit_roles(args.model)}", file=sys.stderr)
    if args.heatmap:
        from harness.report.roles_plot import plot_roles

        print(f"heatmap: {plot_roles(table, args.heatmap)}", file=sys.stderr)
    _emit(table, args.format, args.out)
    return 0


def add_transfer_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("role-transfer", help="each design pair under the correspondences index/depth/role/role+depth, with null and oracle")
    p.add_argument("--source", default="zoo:mean", help="a source with role tables (zoo:mean | zoo:zero)")
    p.add_argument("--format", default="markdown", choices=["csv", "markdown"])
    p.add_argument("--plot", type=Path, default=None, help="also draw the figure to this PNG")
    p.add_argument("--out", type=Path)
    p.set_defaults(func=cmd_role_transfer)


def role_transfer_report(source_name: str):
    """(rows, results, source) of harness.analysis.role_transfer.transfer_table on a loaded source."""
    from harness.analysis import role_transfer
    from harness.claims import sources, thresholds

    src = sources.load(source_name)
    roles = src.extras.get("roles")
    if not roles:
        raise LookupError(f"source {source_name!r} has no role tables: {'; '.join(n for n in src.notes if 'role' in n)}")
    rows, results = role_transfer.transfer_table(src.table, roles, src.design.pairs, thresholds.load(), src.floors)
    return rows, results, src


def cmd_role_transfer(args) -> int:
    from harness.analysis import role_transfer
    from harness.cli.main import UserError, _emit

    try:
        rows, results, _ = role_transfer_report(args.source)
    except LookupError as err:
        raise UserError(str(err.args[0])) from None
    if args.plot:
        from harness.report.role_transfer_plot import plot_role_transfer

        print(f"figure: {plot_role_transfer(rows, results, args.plot, f'Transfer under correspondences ({args.source})')}", file=sys.stderr)
    if args.format == "markdown" and not args.out:
        sys.stdout.write(role_transfer.markdown(rows))
    else:
        _emit(rows, args.format, args.out)
    return 0
