"""`python -m harness faithfulness`: faithfulness curves of a zoo model's top-k head sets against
random-set nulls (and, with --transfer, causal transfer between the zoo's pairs), read from the
committed results (fixtures/faithfulness/); `--compute` measures the missing sets first
(harness.claims.faithfulness_runs)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from harness import options
from harness.claims import thresholds
from harness.cli import args as args_types
from harness.cli.output import UserError, _emit
from harness.scoring.methods import ABLATION_METHODS, DEFAULT_METHOD


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("faithfulness", help="f of a zoo model's top-k head sets vs random sets (stored; --compute measures)")
    p.add_argument("--model", default=None, help="a zoo model")
    p.add_argument("--method", default=DEFAULT_METHOD, help=f"{' | '.join(ABLATION_METHODS)}, or a comma-separated list")
    p.add_argument("--compute", action="store_true", help="measure the sets missing from fixtures/faithfulness/ (loads the model)")
    p.add_argument("--extend-null", action="store_true",
                   help="grow the random k-set null by doubling until it decides ([verdicts] sequential_h, faithfulness_max_draws; loads the model)")
    p.add_argument("--transfer", action="store_true", help="causal transfer of the zoo's pairs (stored results)")
    p.add_argument("--plot", type=Path, help="draw the stored curves of every model and method (PNG) here")
    p.add_argument("--summary", action="store_true", help="one row per stored (model, method): f(top-K), null, p, CPR, CMD, seconds")
    p.add_argument("--design", type=Path, default=None,
                   help="a design whose models and pairs to measure (e.g. claims/designs/controls.toml for K9; default the zoo)")
    p.add_argument("--device", default="cpu", type=options.device, metavar="DEVICE", help="cpu (default: the committed results were measured there) | auto | cuda | cuda:N | mps")
    args_types.add_output(p, "markdown")
    p.set_defaults(func=run)


def run(args) -> int:
    """One row per (ranking, k): f, necessity, the random null's mean and 95th percentile (stored
    results; --compute measures the missing sets first, loading the model). --transfer: one row
    per (pair, correspondence) of the zoo's pairs instead."""
    from harness.claims import faithfulness_runs as faith

    cfg = thresholds.load()
    if args.plot:
        from harness.report.faithfulness_plot import plot_curves
        from harness.runs.faithfulness import load_results

        path = plot_curves({m: load_results(m) for m in ABLATION_METHODS}, args.plot)
        print(f"faithfulness curves written to {path}", file=sys.stderr)
        if not (args.model or args.transfer or args.summary):
            return 0
    if args.transfer:
        frame = pd.concat([faith.transfer(m, cfg.transfer.k).assign(method=m) for m in args.method.split(",")], ignore_index=True)
        _emit(frame.round(3), args.format, args.out)
        return 0
    if args.summary:
        _emit(faith.summary(args.method.split(","), cfg.transfer.k).round(3), args.format, args.out)
        return 0
    if not args.model:
        raise UserError("--model is required (or --transfer, --summary, --plot)")
    from harness.data import designs

    design = designs.load(args.design) if args.design is not None else faith.zoo_design()  # registers its models
    if args.model not in design.models:
        raise UserError(f"{args.model!r} is not a model of the {design.name} design ({', '.join(design.models)})")
    methods = args.method.split(",")
    for method in methods:
        if method not in ABLATION_METHODS:
            raise UserError(f"--method {method!r}: use one of {', '.join(ABLATION_METHODS)} (comma-separated)")
    loaded = None
    for method in methods:  # with --compute, one model load serves every method
        if args.compute:
            _, meta, loaded = faith.compute(args.model, method, cfg, device=args.device, loaded=loaded, design=design)
            print(f"{args.model} {method}: {meta.get('forward_sets')} sets, {meta.get('n_prompts')} prompts, "
                  f"{meta.get('seconds')} s (fixtures/faithfulness/)", file=sys.stderr)
        if args.extend_null:
            done = faith.extend_null(args.model, method, cfg, device=args.device, loaded=loaded,
                                     log=lambda line: print(line, file=sys.stderr), design=design)
            print(f"{args.model} {method}: null of {done['draws']} random sets, {done['reached']} reach f(top-k) = {done['f_top']:.3f}, "
                  f"p = {done['p']:.4f}, {done['seconds']} s", file=sys.stderr)
        frame, summary = faith.curve(args.model, method)
        _emit(frame.round(4), args.format, args.out if len(methods) == 1 else None)
        print(f"{args.model} {method}: CPR {summary['cpr']:.3f} (signed ranking, higher = more faithful), "
              f"CMD {summary['cmd']:.3f} (|delta| ranking, lower = more faithful), {summary['n_prompts']} prompts", file=sys.stderr)
    return 0
