"""`python -m harness bench`: speed of the head-scan algorithms on one model, as ratios in one run.

Runs, in one process and on one prompt set: the naive per-head loop in float32 (the reference),
TransformerLens's patching helper (SmolLM2 only by default: it is as slow as the naive loop), the
batched exact scan in float32 and in each other `--dtypes` entry (bfloat16 by default), and
attribution patching, plain and with AtP*'s GradDrop (`--no-graddrop` leaves that out), and the IG
screen (`--ig-steps`, `--ig-path`; its multiply-adds from `scan_flops.ig_flops`). For each it
prints the seconds, the ratio to the naive loop, the multiply-add rate (`harness.scoring.scan_flops`)
and its share of the machine's matmul peak in the scan's dtype, measured in the same run
(torch.matmul on the model's own shapes, `matmul_shapes`, at the bench's thread count). Each dtype's batched scan is compared with the float32 one on the same prompts:
Spearman over all heads, top-20 overlap, max |delta| difference and the speed ratio. Both attribution
scans and the IG screen are compared with the exact float32 scan the same way.

`--model` is any registry model (smollm2-135m by default; the zoo's: qwen2.5-coder-0.5b/1.5b,
gemma-3-270m), with its real weights or `--weights twin`. The naive loop costs the same for every head
(a full forward each), so on the bigger models it runs on a sample of layers (`--naive-layers`,
"auto": all on SmolLM2, two layers elsewhere) and its time is scaled to all heads; the output says
so. Multiply-adds are counted as one "FLOP" each (double both the rate and the peak for the other
convention: the share does not change).

On a shared machine pass `--threads 1`: with two OpenMP threads, another busy process on one core
stalls every parallel op waiting for the descheduled thread, which slowed small forwards more
than tenfold in our measurements, and the ratios then measure the neighbours, not the algorithms.
"""

from __future__ import annotations

import argparse
from dataclasses import fields

from harness import options
from harness.cli import args as args_types
from harness.runs.bench import DEFAULT_MODEL, NAIVE_SAMPLE_LAYERS, BenchOptions
from harness.scoring.methods import ABLATION_METHODS, DEFAULT_IG_STEPS, IG_PATHS


def _dtypes(text: str) -> list[str]:
    from harness.models.loaders import DTYPES

    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in DTYPES]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown dtype(s) {bad}; valid: {', '.join(DTYPES)}")
    return names


def _steps_list(text: str) -> list[int]:
    if text.strip().lower() == "none":
        return []
    try:
        steps = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers >= 1 or 'none', got {text!r}") from None
    if not steps or min(steps) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers >= 1 or 'none', got {text!r}")
    return steps


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bench", help="speed of the head-scan algorithms as ratios (options: python -m harness bench --help)",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--model", default=DEFAULT_MODEL, type=args_types.model_name, help="a registry model (default smollm2-135m; any zoo model)")
    parser.add_argument("--weights", default=BenchOptions.weights, choices=["pretrained", "twin"],
                        help="real weights, or the architecture twin (random weights: speed only)")  # fmt: skip
    parser.add_argument("--dtypes", "--dtype", type=_dtypes, default=list(BenchOptions.dtypes),
                        help="comma-separated compute dtypes of the batched scan; float32 is always run, as the reference")  # fmt: skip
    parser.add_argument("--n-prompts", type=args_types.PROMPTS, default=BenchOptions.n_prompts)
    parser.add_argument("--task", default=BenchOptions.task, choices=["ioi", "anti"])
    parser.add_argument("--style", default=None, choices=["wang", "replication", "zoo"],
                        help="prompt style (default: zoo for zoo models, else wang)")  # fmt: skip
    parser.add_argument("--seed", type=args_types.SEED, default=BenchOptions.seed)
    parser.add_argument("--method", default=BenchOptions.method, choices=list(ABLATION_METHODS))
    parser.add_argument("--layers", default=BenchOptions.layers, help='"all", or e.g. "26-29" to scan only those (quick look)')
    parser.add_argument("--naive-layers", default=BenchOptions.naive_layers,
                        help='layers the naive loop and TL helper time, scaled to all: "auto" (all on SmolLM2, '
                             f'{NAIVE_SAMPLE_LAYERS} elsewhere), "all", or e.g. "0,23"')  # fmt: skip
    parser.add_argument("--tl", default=BenchOptions.tl, choices=["auto", "yes", "no"],
                        help="time TransformerLens's patching helper (auto: on SmolLM2 only)")  # fmt: skip
    parser.add_argument("--graddrop", action=argparse.BooleanOptionalAction, default=BenchOptions.graddrop,
                        help="also time attribution patching with AtP*'s GradDrop correction")  # fmt: skip
    parser.add_argument("--ig-steps", type=_steps_list, default=list(BenchOptions.ig_steps),
                        help=f"IG screen rows: comma-separated m (default {DEFAULT_IG_STEPS}); 'none' leaves IG out")
    parser.add_argument("--ig-path", default=BenchOptions.ig_path, choices=IG_PATHS, help="IG screen: which heads move together")
    parser.add_argument("--peak-seconds", type=float, default=BenchOptions.peak_seconds, help="time spent measuring each dtype's matmul peak")
    parser.add_argument("--peak-tokens", type=int, default=BenchOptions.peak_tokens, help="rows of the peak's matmuls (the scan's tokens per forward)")
    parser.add_argument("--device", default=BenchOptions.device, type=options.device, help="cpu | cuda | auto")
    parser.add_argument("--threads", type=args_types.POSITIVE, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=run)


def run(args) -> int:
    """Run the benchmark and print its table; the thread count is restored afterwards (a command run in
    process, as the tests do, leaves it as it was)."""
    import torch

    from harness.report.bench import report
    from harness.runs.bench import run_bench

    chosen = {f.name: getattr(args, f.name) for f in fields(BenchOptions) if f.name != "progress"}
    bench_options = BenchOptions(**{**chosen, "dtypes": tuple(args.dtypes), "ig_steps": tuple(args.ig_steps)},
                                 progress=not args.no_progress)
    previous = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    from harness.models import registry

    try:
        entries, context = run_bench(registry.get(args.model), bench_options)
    finally:
        torch.set_num_threads(previous)
    print(report(entries, context))
    return 0
