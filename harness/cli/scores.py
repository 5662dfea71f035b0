"""`python -m harness scores`: the head table of one model computed from its weights (cached), with
the scan's defaults from the model's design (harness.runs.recompute)."""

from __future__ import annotations

import argparse
import sys

from harness import options
from harness.cli import args as args_types
from harness.cli import common
from harness.cli.output import _emit
from harness.data.ioi_dataset import STYLES
from harness.scoring.methods import (
    ABLATION_METHODS, DEFAULT_ALGORITHM, DEFAULT_IG_PATH, DEFAULT_IG_STEPS, DEFAULT_METHOD, IG_PATHS, SCAN_ALGORITHMS,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scores", help="head table of one model from its weights")
    p.add_argument("--model", required=True, help="registry name, e.g. smollm2-135m")
    p.add_argument("--task", default="ioi", choices=["ioi", "anti", "both"], help="'both' gives the full head table (categories)")
    p.add_argument("--method", default=DEFAULT_METHOD, choices=ABLATION_METHODS)
    p.add_argument("--algorithm", default=DEFAULT_ALGORITHM, choices=SCAN_ALGORITHMS)
    p.add_argument("--ig-steps", type=args_types.POSITIVE, default=DEFAULT_IG_STEPS, help="attribution_ig: midpoint steps m")
    p.add_argument("--ig-path", default=DEFAULT_IG_PATH, choices=IG_PATHS, help="attribution_ig: which heads move together")
    p.add_argument("--style", default=None, choices=STYLES, help="prompt style (default: the model's design's, else wang)")
    p.add_argument("--n-prompts", type=args_types.PROMPTS, default=None, help="prompts (default: the model's design's, else 200)")
    p.add_argument("--seed", type=args_types.SEED, default=None, help="prompt seed (default: the model's design's, else 0)")
    p.add_argument("--weights", default=None, choices=["pretrained", "twin"],
                   help="default: the model's design's (twin for a model given by hf_config alone), else pretrained")
    p.add_argument("--refresh", action="store_true", help="recompute even when cached")
    p.add_argument("--commit", action="store_true", help="also copy the scores into fixtures/recomputed/ (to commit them)")
    args_types.add_scan_options(p, dtype=None)
    args_types.add_output(p, "csv")
    options.add_argparse(p, "device", "design")
    p.set_defaults(func=run)


def run(args) -> int:
    from harness.models import registry
    from harness.runs.recompute import commit_scores, scores_table

    common.check_scan(args)
    design = model_design(args, args.model)
    model = registry.get(args.model)  # the one look-up: the spec travels from here
    spec = scores_run(args, design)
    if design is not None:
        print(f"note: {args.model}: prompt style {spec.style}, {spec.n_prompts} prompts (seed {spec.seed}), {spec.dtype}, "
              f"{spec.weights} weights from the {design.name} design (--style / --n-prompts / --seed / --dtype / --weights "
              "override)", file=sys.stderr)
    note = _committed_runs_note(model, spec) if not args.refresh else None
    if note:
        print(f"note: {note}", file=sys.stderr)
    scan = dict(workers=args.workers, executor=args.executor, ray_address=args.ray_address)
    table = scores_table(model, spec, task=args.task, device=args.device, refresh=args.refresh, **scan)
    common.note_unused_device(args.device, table.attrs.get("entries", []))
    _emit(table, args.format, args.out)
    if args.commit:
        tasks = ("ioi", "anti") if args.task == "both" else (args.task,)
        for folder in commit_scores(model, spec, tasks=tasks):
            print(f"committed scores written to {folder}", file=sys.stderr)
    return 0


def model_design(args, model: str):
    """The design a model's scan defaults come from: --design, else the shipped design that has the
    model and scans the task(s) asked (zoo before seed: the zoo scans IOI only), else None (RunSpec's
    defaults, the reference model's wang tables)."""
    from harness.data import designs

    design = common.design(args)
    if design is not None:
        return design
    tasks = {"ioi", "anti"} if args.task == "both" else {args.task}
    shipped = map(designs.builtin, ("zoo", "seed"))
    return next((d for d in shipped if model in d.models and tasks <= set(d.run.tasks)), None)


def _committed_runs_note(spec, run) -> str | None:
    """When model `spec` has no stored table under `run` but committed ones under other options: the
    options that read them (a scan takes minutes to hours on a CPU)."""
    from harness.runs.cache import committed_cache
    from harness.runs.recompute import stored_scores

    if stored_scores(spec, "ioi", run) is not None:
        return None
    model = spec.name
    options = set()
    for meta in committed_cache().entries(model):
        key, dataset = meta.get("key", {}), meta.get("key", {}).get("dataset", {})
        options.add(
            f"--style {dataset.get('style')} --n-prompts {dataset.get('n_prompts')} --method {key.get('method')} "
            f"--dtype {key.get('dtype', 'float32')} --task {dataset.get('task')}"
        )
    if not options:
        return None
    return (f"{model} has no stored table under these options, so this starts a scan (minutes to hours on a CPU); "
            f"its committed tables are read at once with: {' | '.join(sorted(options))}")


def scores_run(args, design):
    """The RunSpec of `scores`: each option given, else the model's run in `design` (prompt style, count
    and seed, dtype, weights: a design model given by hf_config alone is a twin), else RunSpec's defaults."""
    from dataclasses import replace

    from harness.runs.recompute import RunSpec, design_run

    scan = dict(method=args.method, algorithm=args.algorithm, ig_steps=args.ig_steps, ig_path=args.ig_path)
    if design is None:
        return RunSpec(**scan, style=args.style or "wang", n_prompts=args.n_prompts or RunSpec.n_prompts,
                       seed=RunSpec.seed if args.seed is None else args.seed, weights=args.weights or "pretrained",
                       dtype=args.dtype or "float32")
    run = design_run(design, args.model, args.method, args.dtype, weights=args.weights, n_prompts=args.n_prompts)
    return replace(run, **scan, style=args.style or run.style, seed=run.seed if args.seed is None else args.seed)
