"""The scan benchmark's measurements (`python -m harness bench`, whose help says what it runs): every
head scan of one model timed on one prompt set (`run_bench`, with its options in `BenchOptions`), the
machine's matmul peak in each dtype measured in the same run (`measure_matmul_peak`), the scans'
multiply-adds (`bench_flops`) and each scan's row of comparisons (`comparison_rows`). The table is
printed by harness.report.bench.

On a shared machine pass `--threads 1`: with two OpenMP threads, another busy process on one core
stalls every parallel op waiting for the descheduled thread, which slowed small forwards more
than tenfold in our measurements, and the ratios then measure the neighbours, not the algorithms.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.models.registry import ModelSpec
from harness.data.designs import builtin
from harness.errors import InputError
from harness.scoring.methods import DEFAULT_IG_PATH, DEFAULT_IG_STEPS
from harness.scoring.rank_agreement import agreement
from harness.scoring.scan_flops import ScanFlops, geometry_from_cfg, ig_flops, matmul_shapes, scan_flops

if TYPE_CHECKING:  # torch and the scans load when a bench runs, so the CLI's parser reads this module's defaults cheaply
    import torch

    from harness.scoring.result import ScanResult


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
    import torch

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


def bench_flops(cfg, prompts, layers: Sequence[int] | None) -> dict[str, ScanFlops]:
    """Multiply-adds of the scans on `prompts` (a PromptSet) over `layers` (None: all), for a model
    with config `cfg` (`bridge.cfg`). "as_run": the naive loop at the padded width of the whole
    batch (it runs `prompts.tokens` as one right-padded batch) and the batched scan at the padded
    width of each row's length segment; "unpadded": both at each prompt's own length. The lower
    bound is at the true lengths in both."""
    from harness.scoring.batched import segment_rows

    geometry = geometry_from_cfg(cfg)
    lengths = [int(x) + 1 for x in np.asarray(prompts.last_pos)]
    width = int(np.asarray(prompts.tokens).shape[1])
    # The segments scan_batched forms (its own grouping, so the widths match what it runs).
    scan_widths = [0] * len(lengths)
    for rows in segment_rows(prompts):
        seg_width = max(lengths[i] for i in rows)
        for i in rows:
            scan_widths[i] = seg_width
    return {
        "as_run": scan_flops(
            geometry, lengths, layers=layers, naive_widths=[width] * len(lengths), scan_widths=scan_widths
        ),
        "unpadded": scan_flops(geometry, lengths, layers=layers),
    }


REFERENCE = "float32"
DEFAULT_MODEL = "smollm2-135m"
NAIVE_SAMPLE_LAYERS = 2  # "auto" on models other than SmolLM2


@dataclass(frozen=True)
class BenchOptions:
    """What the bench runs (the options of `python -m harness bench`, whose defaults these are)."""

    weights: str = "pretrained"  # or "twin" (random weights: speed only)
    dtypes: tuple[str, ...] = ("float32", "bfloat16")  # batched scan's dtypes; float32 always runs, as the reference
    n_prompts: int = 32
    task: str = "ioi"
    style: str | None = None  # None: zoo for zoo models, else wang
    seed: int = 0
    method: str = "mean"
    layers: str = "all"  # or e.g. "26-29"
    naive_layers: str = "auto"  # see naive_sample
    tl: str = "auto"  # auto | yes | no: TransformerLens's patching helper (auto: SmolLM2 only)
    graddrop: bool = True
    ig_steps: tuple[int, ...] = (DEFAULT_IG_STEPS,)  # () leaves the IG screen out
    ig_path: str = DEFAULT_IG_PATH
    peak_seconds: float = 2.0
    peak_tokens: int = 2048
    device: str = "cpu"
    progress: bool = True


@dataclass
class Entry:
    """One timed scan of the bench."""

    name: str  # naive | tl_patching | batched | attribution | atp_graddrop | ig_<path>_m<steps>
    dtype: str
    result: ScanResult
    seconds: float  # for all the bench's heads (scaled when `sampled`)
    scale: float = 1.0  # seconds / measured seconds (naive and TL on a layer sample)
    flops: int | None = None  # multiply-adds of what ran (None: not counted, attribution)

    @property
    def label(self) -> str:
        return f"{self.name} {self.dtype}"


def measure_matmul_peak(
    shapes: dict[str, tuple[int, int, int]], dtype: torch.dtype, *, seconds: float = 0.5, repeats: int = 3
) -> dict[str, float]:
    """Multiply-adds per second of torch.matmul on each (m, k, n) of `shapes` in `dtype`, at the
    current thread count: the best of `repeats` timings of about seconds / (repeats * len(shapes))
    each, after one warm-up call."""
    import torch

    rates: dict[str, float] = {}
    budget = seconds / max(1, repeats * len(shapes))
    for name, (m, k, n) in shapes.items():
        gen = torch.Generator().manual_seed(0)
        a = torch.randn(m, k, generator=gen).to(dtype)
        b = torch.randn(k, n, generator=gen).to(dtype)
        torch.matmul(a, b)
        best = 0.0
        for _ in range(repeats):
            calls, started = 0, time.perf_counter()
            while True:
                torch.matmul(a, b)
                calls += 1
                elapsed = time.perf_counter() - started
                if elapsed >= budget:
                    break
            best = max(best, calls * m * k * n / elapsed)
        rates[name] = best
    return rates


def naive_sample(model: str, layers: list[int], choice: str) -> list[int]:
    """The layers the naive loop (and TL helper) time, out of the bench's `layers`: all of them for
    "all" (or "auto" on SmolLM2), NAIVE_SAMPLE_LAYERS spread over them for "auto" elsewhere, or a
    list ("3,7")."""
    if choice == "all" or (choice == "auto" and model == DEFAULT_MODEL):
        return list(layers)
    if choice == "auto":
        if len(layers) <= NAIVE_SAMPLE_LAYERS:
            return list(layers)
        picks = np.linspace(0, len(layers) - 1, NAIVE_SAMPLE_LAYERS).round().astype(int)
        return [layers[i] for i in sorted(set(picks.tolist()))]
    chosen = parse_layers(choice) or list(layers)
    if not set(chosen) <= set(layers):
        raise InputError(f"--naive-layers {choice!r} must be among the scanned layers {layers}")
    return chosen


def _timed(name: str, dtype: str, result: ScanResult, scale: float = 1.0, flops: int | None = None) -> Entry:
    return Entry(name, dtype, result, result.seconds * scale, scale, flops)


def run_bench(model_spec: ModelSpec, args: BenchOptions, log=print) -> tuple[list[Entry], dict[str, Any]]:
    """Every scan of the bench on model `model_spec`, and the context: the peak rates, the prompts, the
    layers, the machine and its thread count."""
    import gc

    import torch

    from harness.scoring.attribution import scan_attribution
    from harness.scoring.batched import scan_batched
    from harness.scoring.integrated_gradients import scan_ig
    from harness.scoring.naive import scan_naive
    from harness.scoring.tl_patching import scan_tl_patching
    from harness.models.loaders import load_model
    from harness.runs.recompute import RunSpec
    from harness.data.ioi_dataset import build_prompts

    model = model_spec.name
    progress = args.progress
    dtypes = [REFERENCE, *[d for d in args.dtypes if d != REFERENCE]]
    style = args.style or ("zoo" if model in builtin("zoo").models else "wang")
    spec = RunSpec(style=style, n_prompts=args.n_prompts, seed=args.seed, method=args.method).task(args.task, model_spec)
    n_layers = model_spec.n_layers
    layers = parse_layers(args.layers) or list(range(n_layers))
    naive_layers = naive_sample(model, layers, args.naive_layers)
    scale = len(layers) / len(naive_layers)
    run_tl = args.tl == "yes" or (args.tl == "auto" and model == DEFAULT_MODEL)
    entries: list[Entry] = []
    context: dict[str, Any] = {"model": model, "weights": args.weights, "layers": layers, "naive_layers": naive_layers,
                               "style": style}  # fmt: skip
    for dtype in dtypes:
        loaded = load_model(model_spec, weights=args.weights, device=args.device, dtype=dtype, seed=args.seed,
                            progress=progress)  # fmt: skip
        bridge = loaded.bridge
        if dtype == REFERENCE:
            prompts = build_prompts(spec, loaded.tokenizer)
            geometry = geometry_from_cfg(bridge.cfg)
            flops = bench_flops(bridge.cfg, prompts, layers)
            naive_flops = bench_flops(bridge.cfg, prompts, naive_layers)["as_run"].naive
            context.update(prompts=prompts, flops=flops, geometry=geometry)
            log(f"[bench] naive float32 on layers {naive_layers} ({len(naive_layers)} of {len(layers)})", file=sys.stderr)
            naive = scan_naive(bridge, prompts, args.method, layers=naive_layers, progress=progress)
            entries.append(_timed("naive", dtype, naive, scale, naive_flops))
            if run_tl:
                tl = scan_tl_patching(bridge, prompts, args.method, layers=naive_layers, progress=progress)
                entries.append(_timed("tl_patching", dtype, tl, scale))  # its work is not counted
        batched = scan_batched(bridge, prompts, args.method, layers=layers, progress=progress)
        entries.append(_timed("batched", dtype, batched, flops=context["flops"]["as_run"].ours))
        if dtype == REFERENCE:
            attribution = scan_attribution(bridge, prompts, args.method, progress=progress)
            entries.append(_timed("attribution", dtype, attribution))
            if args.graddrop:
                graddrop = scan_attribution(bridge, prompts, args.method, graddrop=True, progress=progress)
                entries.append(_timed("atp_graddrop", dtype, graddrop))
            for steps in args.ig_steps:
                ig = scan_ig(bridge, prompts, args.method, layers=layers, steps=steps, path=args.ig_path, progress=progress)
                ig_widths = [prompts.tokens.shape[1]] * len(prompts) if args.ig_path == "all" else [
                    int(x) + 1 for x in np.asarray(prompts.last_pos)]
                macs = ig_flops(geometry, ig_widths, steps=steps, path=args.ig_path, layers=layers)
                entries.append(_timed(f"ig_{args.ig_path}_m{steps}", dtype, ig, flops=macs))
        del loaded, bridge
        gc.collect()
    shapes = matmul_shapes(context["geometry"], args.peak_tokens)
    context["shapes"] = shapes
    context["peak"] = {}
    for dtype in dtypes:
        rates = measure_matmul_peak(shapes, loaders_dtype(dtype), seconds=args.peak_seconds)
        context["peak"][dtype] = {"best": max(rates.values()), "by_shape": rates}
    context["machine"] = machine_info(entries[0].result)
    context["threads"] = torch.get_num_threads()  # the run's, before a caller restores its own
    return entries, context


def loaders_dtype(name: str) -> torch.dtype:
    from harness.models.loaders import DTYPES

    return DTYPES[name]


def find(entries: list[Entry], name: str, dtype: str = REFERENCE) -> Entry | None:
    return next((e for e in entries if e.name == name and e.dtype == dtype), None)


def comparison_rows(entries: list[Entry], peak: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per scan: seconds, ratio to the naive loop, multiply-add rate and share of the peak
    in its dtype; exact float32 scans against the naive loop (max |delta| difference); batched scans
    of other dtypes against float32 batched (Spearman, top-20, max |delta| difference, speed ratio);
    attribution (plain, and with AtP*'s GradDrop) against float32 batched (Spearman, top-20)."""
    naive, ref = find(entries, "naive"), find(entries, "batched")
    rows = []
    for e in entries:
        rate = e.flops / (e.seconds / e.scale) if e.flops else None
        row: dict[str, Any] = {
            "scan": e.name, "dtype": e.dtype, "heads": len(e.result.table), "seconds": e.seconds,
            "sampled": e.scale != 1.0, "vs_naive": naive.seconds / e.seconds if naive else None,
            "gmacs": rate / 1e9 if rate else None,
            "share_of_peak": rate / peak[e.dtype]["best"] if rate and e.dtype in peak else None,
            "max_diff": None, "spearman": None, "top_k": None, "speed_vs_f32": None, "against": None,
        }  # fmt: skip
        if e.name in ("batched", "tl_patching") and e.dtype == REFERENCE and naive is not None:
            row.update(max_diff=max_abs_diff(e.result, naive.result), against="naive float32")
        elif e.name == "batched" and ref is not None:
            agree = agreement(ref.result, e.result)
            row.update(max_diff=max_abs_diff(e.result, ref.result), spearman=agree["spearman"],
                       top_k=f"{agree['top_k_overlap']}/{agree['top_k']}", speed_vs_f32=ref.seconds / e.seconds,
                       against="batched float32")  # fmt: skip
        elif (e.name in ("attribution", "atp_graddrop") or e.name.startswith("ig_")) and ref is not None:
            agree = agreement(ref.result, e.result)
            row.update(spearman=agree["spearman"], top_k=f"{agree['top_k_overlap']}/{agree['top_k']}",
                       against="batched float32")  # fmt: skip
        rows.append(row)
    return rows
