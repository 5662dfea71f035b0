"""`python -m harness zoo`: the resumable scan of an IOI-only design's tables (default: the zoo's four
PyPI models), its plan printed first (harness.report.scan_plan), each table optionally committed."""

from __future__ import annotations

import argparse
import sys

from harness import options
from harness.cli import args as args_types
from harness.cli import common
from harness.cli.output import UserError
from harness.scoring.methods import ABLATION_METHODS, GATE_METHODS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("zoo", help="scan (resumably) the zoo's IOI tables from real weights; --commit to fixtures/",
                       description=f"Scan (resumably) the IOI tables of a design's models. A plain run scans every model of the "
                                   f"zoo design under {' and '.join(GATE_METHODS)} (a design's [run] methods); it first prints "
                                   "which tables are stored, which it will scan, and about how long, from the stored scan times.")
    p.add_argument("--model", action="append", help="a zoo model (repeatable; default: all four)")
    p.add_argument("--method", default=None, choices=("both", *ABLATION_METHODS),
                   help=f"one method, or 'both' ({' and '.join(GATE_METHODS)}); default: the design's [run] methods, "
                        f"which for the zoo design (and any design that names none) are {', '.join(GATE_METHODS)}, "
                        "the methods the gate's verdicts are recorded under")
    options.add_argparse(p, "device", "design")
    p.add_argument("--refresh", action="store_true", help="recompute even when cached")
    p.add_argument("--commit", action="store_true", help="copy each finished table into fixtures/recomputed/")
    p.add_argument("--weights", default=None,
                   help="pretrained | twin | perturbed (the weights-noise twin, registry.ZOO_WEIGHTS_TWIN) | requant:SCHEME "
                        "(default: each model's in the design: twin for a model given by hf_config alone, else pretrained)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--n-prompts", type=args_types.PROMPTS, default=None, help="prompts (default: the registry's zoo count of each model)")
    args_types.add_scan_options(p, dtype=None)
    p.set_defaults(func=run)


def run(args) -> int:
    """Scan (resumably) and optionally commit the IOI tables of an IOI-only design (default: the zoo):
    every model x method asked."""
    from harness.data import designs
    from harness.models import registry
    from harness.runs.recompute import commit_scores, design_run, task_scores

    from harness.claims.sources import design_methods
    from harness.report.scan_plan import plan, plan_lines

    common.check_scan(args)
    design = common.design(args) or designs.builtin("zoo")
    models = args.model or list(design.models)
    methods = design_methods(design) if args.method is None else GATE_METHODS if args.method == "both" else (args.method,)
    for model in models:
        if model not in design.models:
            raise UserError(f"{model!r} is not a model of the {design.name} design ({', '.join(design.models)})")
    weights = registry.ZOO_WEIGHTS_TWIN if args.weights == "perturbed" else args.weights  # None: each model's in the design
    from harness.models.weights import check_weights_kind

    if weights is not None:
        check_weights_kind(weights)  # ValueError: one line, exit 2
    rows = plan(design, models, methods, dtype=args.dtype, weights=weights, n_prompts=args.n_prompts, refresh=args.refresh)
    for line in plan_lines(rows, f"zoo ({design.name} design)"):
        print(line, file=sys.stderr)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    for model in models:
        for method in methods:
            # --dtype, --weights, --n-prompts override the design's
            spec = design_run(design, model, method, args.dtype, weights=weights, n_prompts=args.n_prompts)
            table, meta = task_scores(design.spec_of(model), "ioi", spec, device=args.device, refresh=args.refresh, workers=args.workers,
                                      executor=args.executor, ray_address=args.ray_address)
            common.note_unused_device(args.device, [meta.get("entry", "?")])
            print(f"{model} {method}: clean LD {meta['clean_logit_diff']:.3f}, accuracy {meta['clean_accuracy']:.3f}, "
                  f"{meta.get('n_prompts')} prompts, {meta.get('seconds', 0)} s", file=sys.stderr)
            if args.commit:
                for folder in commit_scores(design.spec_of(model), spec, tasks=("ioi",)):
                    print(f"committed scores written to {folder}", file=sys.stderr)
    return 0
