"""`python -m harness roles`: one model's role table (harness.scoring.roles), one row per head."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness import options
from harness.cli import args as args_types
from harness.cli.output import UserError, _emit


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("roles", help="role scores of every head of a model (stored; --compute from weights)")
    p.add_argument("--model", required=True, help="registry name, e.g. smollm2-135m")
    p.add_argument("--compute", action="store_true", help="compute from the weights when no table is stored")
    p.add_argument("--commit", action="store_true", help="copy the table into fixtures/roles/ (to commit it)")
    p.add_argument("--device", default="auto", type=options.device, metavar="DEVICE", help=options.OPTIONS["device"].help)
    p.add_argument("--heatmap", type=Path, default=None, help="also draw the heatmap (layers x heads per score) to this PNG")
    args_types.add_output(p, "csv")
    p.add_argument("--design", type=Path, default=None, help="a design file whose models (e.g. controls) to know")
    p.add_argument("--role-seed", type=int, default=0,
                   help="seed of the IOI prompt draw and the random tokens (default 0; a prompt twin's roles use 1)")
    p.set_defaults(func=run)


def run(args) -> int:
    from harness.data import designs
    from harness.models import registry
    from harness.runs import roles

    if args.design is not None:
        designs.load(args.design)  # registers its models (DesignError: one line)
    if args.role_seed < 0:
        raise UserError(f"--role-seed must be >= 0, got {args.role_seed}")
    if args.model not in registry.MODELS:
        raise UserError(f"unknown model {args.model!r}; use one of {', '.join(registry.MODELS)}")
    spec = roles.RoleSpec(prompt_seed=args.role_seed, repeat_seed=args.role_seed)
    model = registry.get(args.model)  # the one look-up: the spec travels from here
    table = roles.stored_roles(model, spec)
    if table is None:
        if not args.compute:
            raise UserError(f"no role table of {args.model} is stored; compute it with `{roles.compute_command(args.model)}`")
        run = roles.compute_roles(model, spec, device=args.device)
        print(f"{args.model}: roles in {run.meta['seconds']} s (load {run.meta['load_seconds']} s)", file=sys.stderr)
        table = roles.stored_roles(model, spec)
    if args.commit:
        print(f"committed role table written to {roles.commit_roles(model, spec)}", file=sys.stderr)
    if args.heatmap:
        from harness.report.roles_plot import plot_roles

        print(f"heatmap: {plot_roles(table, args.heatmap)}", file=sys.stderr)
    _emit(table, args.format, args.out)
    return 0
