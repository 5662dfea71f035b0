"""Speed of the head-scan algorithms on SmolLM2-135M, as ratios (`python -m harness bench`).

Runs, once each, in one process and on one prompt set: the naive per-head loop (the reference),
TransformerLens's patching helper, the batched exact scan and attribution patching. Prints the
seconds of each, how far each exact scan's deltas are from the naive loop's, the speed ratios
naive/batched, TL/batched and naive/attribution, attribution's agreement with the exact scan
(Spearman over heads, top-20 overlap), and the machine it ran on. Next to the measured naive/batched
ratio it prints the multiply-add ratios (`harness.scan_flops`) naive/batched and naive/lower bound
for the same prompts and layers: the lower bound is the least work any exact scan must redo, so the
naive/lower-bound FLOP ratio caps what an exact scan can gain over the naive loop, unless the naive
loop runs fewer FLOPs per second than the scan.

On a shared machine pass `--threads 1`: with two OpenMP threads, another busy process on one core
stalls every parallel op waiting for the descheduled thread, which slowed small forwards more
than tenfold in our measurements, and the ratios then measure the neighbours, not the algorithms.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Sequence

import numpy as np
import torch

from harness.scoring import head_scores
from harness.scoring.head_scores import ScanResult
from harness.scoring.scan_flops import ScanFlops, geometry_from_cfg, scan_flops


def parse_layers(text: str) -> list[int] | None:
    """Layers from text: "all" is None (every layer); "26,27" or "20-29" are those layers."""
    if text == "all":
        return None
    layers: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        layers.extend(range(int(low), int(high or low) + 1))
    return layers


def cpu_name() -> str:
    """The CPU model as the OS reports it (falls back to platform.processor())."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(result: ScanResult) -> dict[str, str]:
    """Where the benchmark ran."""
    return {
        "cpu": f"{cpu_name()} ({os.cpu_count()} logical cores)",
        "torch": f"{torch.__version__}, {torch.get_num_threads()} intra-op threads",
        "device": result.device,
        "dtype": result.dtype,
        "python": platform.python_version(),
    }


def max_abs_diff(a: ScanResult, b: ScanResult) -> float:
    """Largest |delta_a - delta_b| over the heads both tables hold."""
    merged = a.table.merge(b.table, on=["layer", "head"])
    return float(np.abs(merged["delta_x"] - merged["delta_y"]).max())


def run_all(bridge, prompts, method: str, layers: Sequence[int] | None, progress: bool) -> dict[str, ScanResult]:
    """The four scans, in a fixed order, on the same bridge and prompts."""
    return {
        "naive": head_scores.scan_naive(bridge, prompts, method, layers=layers, progress=progress),
        "tl_patching": head_scores.scan_tl_patching(bridge, prompts, method, layers=layers, progress=progress),
        "batched": head_scores.scan_batched(bridge, prompts, method, layers=layers, progress=progress),
        "attribution": head_scores.scan_attribution(bridge, prompts, method, progress=progress),
    }


def bench_flops(cfg, prompts, layers: Sequence[int] | None) -> dict[str, ScanFlops]:
    """Multiply-adds of the scans on `prompts` (a PromptSet) over `layers` (None: all), for a model
    with config `cfg` (`bridge.cfg`). "as_run": the naive loop at the padded width of the whole
    batch (it runs `prompts.tokens` as one right-padded batch) and the batched scan at the padded
    width of each row's length segment; "unpadded": both at each prompt's own length. The lower
    bound is at the true lengths in both."""
    geometry = geometry_from_cfg(cfg)
    lengths = [int(x) + 1 for x in np.asarray(prompts.last_pos)]
    width = int(np.asarray(prompts.tokens).shape[1])
    # The segments scan_batched forms (its own grouping, so the widths match what it runs).
    scan_widths = [0] * len(lengths)
    for rows in head_scores.segment_rows(prompts):
        seg_width = max(lengths[i] for i in rows)
        for i in rows:
            scan_widths[i] = seg_width
    return {
        "as_run": scan_flops(
            geometry, lengths, layers=layers, naive_widths=[width] * len(lengths), scan_widths=scan_widths
        ),
        "unpadded": scan_flops(geometry, lengths, layers=layers),
    }


def flops_lines(flops: dict[str, ScanFlops], measured: float) -> list[str]:
    """The FLOP comparison, as report lines: `measured` is the timed naive/batched ratio."""
    run, flat = flops["as_run"], flops["unpadded"]
    return [
        (
            f"multiply-adds (per-head work, scanned heads; shared clean/mean forwards left out): "
            f"naive {run.naive:.3e}, batched {run.ours:.3e}, exact lower bound {run.lower_bound:.3e}"
        ),
        (
            f"naive / batched       measured {measured:5.1f}x   FLOPs {run.naive_over_ours:5.2f}x "
            f"(unpadded {flat.naive_over_ours:.2f}x)"
        ),
        (
            f"naive / lower bound                   FLOPs {run.naive_over_lower_bound:5.2f}x "
            f"(unpadded {flat.naive_over_lower_bound:.2f}x)"
        ),
        (
            "an exact scan cannot beat the naive loop by more than the naive / lower-bound FLOP ratio, "
            "unless the naive loop is less efficient per FLOP"
        ),
    ]


def report(results: dict[str, ScanResult], all_layers: bool, flops: dict[str, ScanFlops] | None = None) -> str:
    """The table of times, differences and ratios, as text; with `flops` (from `bench_flops`), also
    the multiply-add ratios next to the measured naive/batched one."""
    naive = results["naive"]
    lines = [f"{'algorithm':<12} {'heads':>6} {'seconds':>9}  max|delta - naive|"]
    for name, res in results.items():
        diff = "(approximate)" if name == "attribution" else f"{max_abs_diff(res, naive):.2e}"
        lines.append(f"{name:<12} {len(res.table):>6} {res.seconds:>9.2f}  {diff}")
    t = {name: res.seconds for name, res in results.items()}
    agree = head_scores.agreement(results["batched"], results["attribution"])
    subset_note = "" if all_layers else "   (naive scanned a layer subset, attribution all heads)"
    lines += [
        "",
        f"naive / batched       {t['naive'] / t['batched']:8.1f}x",
        f"TL helper / batched   {t['tl_patching'] / t['batched']:8.1f}x",
        f"naive / attribution   {t['naive'] / t['attribution']:8.1f}x{subset_note}",
        *(flops_lines(flops, t["naive"] / t["batched"]) if flops else []),
        (
            f"attribution vs exact: Spearman {agree['spearman']:.3f} over {agree['n_heads']} heads, "
            f"top-{agree['top_k']} overlap {agree['top_k_overlap']}/{agree['top_k']}"
        ),
        (
            f"clean logit diff {naive.clean_logit_diff:.3f}, accuracy {naive.clean_accuracy:.3f}, "
            f"{naive.n_prompts} prompts, method {naive.method}"
        ),
    ]
    lines += [""] + [f"{k:<7} {v}" for k, v in machine_info(naive).items()]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness bench", description=__doc__)
    parser.add_argument("--n-prompts", type=int, default=32)
    parser.add_argument("--task", default="ioi", choices=["ioi", "anti"])
    parser.add_argument("--style", default="wang", choices=["wang", "replication"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--method", default="mean", choices=list(head_scores.METHODS))
    parser.add_argument("--layers", default="all", help='"all", or e.g. "26-29" to scan only those (quick look)')
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; `argv` as on the command line (a leading "--" is dropped, so that
    `python -m harness bench -- --n-prompts 8` passes its options through)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv[1:] if argv[:1] == ["--"] else argv)
    from harness.data.ioi_dataset import TaskSpec, build_prompts
    from harness.models.loaders import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    loaded = load_model("smollm2-135m", device=args.device, progress=not args.no_progress)
    spec = TaskSpec(task=args.task, style=args.style, n_prompts=args.n_prompts, seed=args.seed)
    prompts = build_prompts(spec, loaded.tokenizer)
    layers = parse_layers(args.layers)
    results = run_all(loaded.bridge, prompts, args.method, layers, progress=not args.no_progress)
    flops = bench_flops(loaded.bridge.cfg, prompts, layers)
    print(report(results, all_layers=layers is None, flops=flops))
    return 0


if __name__ == "__main__":
    sys.exit(main())
