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
