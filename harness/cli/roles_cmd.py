"""`python -m harness roles`: one model's role table (harness.scoring.roles), one row per head."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.cli.output import UserError, _emit
from harness.claims.role_claims import role_transfer_report


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("roles", help="role scores of every head of a model (stored; --compute from weights)")
    p.add_argument("--model", required=True, help="registry name, e.g. smollm2-135m")
    p.add_argument("--compute", action="store_true", help="compute from the weights when no table is stored")
    p.add_argument("--commit", action="store_true", help="copy the table into fixtures/roles/ (to commit it)")
    p.add_argument("--device", default="auto")
    p.add_argument("--heatmap", type=Path, default=None, help="also draw the heatmap (layers x heads per score) to this PNG")
    p.add_argument("--format", default="csv", choices=["csv", "markdown"])
    p.add_argument("--out", type=Path)
    p.add_argument("--design", type=Path, default=None, help="a design file whose models (e.g. controls) to know")
    p.add_argument("--role-seed", type=int, default=0,
                   help="seed of the IOI prompt draw and the random tokens (default 0; a prompt twin's roles use 1)")
    p.set_defaults(func=cmd_roles)


def cmd_roles(args) -> int:
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
    table = roles.stored_roles(args.model, spec)
    if table is None:
        if not args.compute:
            raise UserError(f"no role table of {args.model} is stored; compute it with `{roles.compute_command(args.model)}`")
        run = roles.compute_roles(args.model, spec, device=args.device)
        print(f"{args.model}: roles in {run.meta['seconds']} s (load {run.meta['load_seconds']} s)", file=sys.stderr)
        table = roles.stored_roles(args.model, spec)
    if args.commit:
        print(f"committed role table written to {roles.commit_roles(args.model, spec)}", file=sys.stderr)
    if args.heatmap:
        from harness.report.roles_plot import plot_roles

        print(f"heatmap: {plot_roles(table, args.heatmap)}", file=sys.stderr)
    _emit(table, args.format, args.out)
    return 0


def add_controls_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("controls", help="known-answer controls (claims/designs/controls.toml) against their true maps: K1-K8")
    p.add_argument("--design", type=Path, default=None, help="a controls design (default: claims/designs/controls.toml)")
    p.add_argument("--method", default="mean")
    p.add_argument("--plot", type=Path, default=None, help="also draw frac_lost per correspondence and control to this PNG")
    p.set_defaults(func=cmd_controls)


def cmd_controls(args) -> int:
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


def add_transfer_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("role-transfer", help="each design pair under the correspondences index/depth/role/role+depth, with null and oracle")
    p.add_argument("--source", default="zoo:mean", help="a source with role tables (zoo:mean | zoo:zero)")
    p.add_argument("--format", default="markdown", choices=["csv", "markdown"])
    p.add_argument("--plot", type=Path, default=None, help="also draw the figure to this PNG")
    p.add_argument("--sensitivity", action="store_true",
                   help="instead: M1-M3 under each value of claims/role_robustness.toml, one choice at a time")
    p.add_argument("--out", type=Path)
    p.set_defaults(func=cmd_role_transfer)


def cmd_role_transfer(args) -> int:
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
