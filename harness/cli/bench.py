"""Speed of the head-scan algorithms on one model, as ratios in one run (`python -m harness bench`).

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
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from harness import options
from harness.cli import args as args_types
from harness.data.designs import builtin
from harness.scoring.attribution import scan_attribution
from harness.scoring.batched import scan_batched, segment_rows
from harness.scoring.integrated_gradients import scan_ig
from harness.scoring.methods import ABLATION_METHODS, DEFAULT_IG_PATH, DEFAULT_IG_STEPS, IG_PATHS
from harness.scoring.naive import scan_naive
from harness.scoring.rank_agreement import agreement
from harness.scoring.result import ScanResult
from harness.scoring.tl_patching import scan_tl_patching
from harness.scoring.scan_flops import ScanFlops, geometry_from_cfg, ig_flops, matmul_shapes, scan_flops
from harness.errors import InputError


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



REFERENCE = "float32"
DEFAULT_MODEL = "smollm2-135m"
NAIVE_SAMPLE_LAYERS = 2  # "auto" on models other than SmolLM2


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


def run_bench(model: str, args, log=print) -> tuple[list[Entry], dict[str, Any]]:
    """Every scan of the bench on `model` (options as parsed by build_parser), and the context:
    the peak rates, the prompts, the layers, the machine."""
    import gc

    from harness.models import registry
    from harness.models.loaders import load_model
    from harness.runs.recompute import RunSpec
    from harness.data.ioi_dataset import build_prompts

    progress = not args.no_progress
    dtypes = [REFERENCE, *[d for d in args.dtypes if d != REFERENCE]]
    style = args.style or ("zoo" if model in builtin("zoo").models else "wang")
    spec = RunSpec(style=style, n_prompts=args.n_prompts, seed=args.seed, method=args.method).task(args.task, model)
    n_layers = registry.get(model).n_layers
    layers = parse_layers(args.layers) or list(range(n_layers))
    naive_layers = naive_sample(model, layers, args.naive_layers)
    scale = len(layers) / len(naive_layers)
    run_tl = args.tl == "yes" or (args.tl == "auto" and model == DEFAULT_MODEL)
    entries: list[Entry] = []
    context: dict[str, Any] = {"model": model, "weights": args.weights, "layers": layers, "naive_layers": naive_layers,
                               "style": style}  # fmt: skip
    for dtype in dtypes:
        loaded = load_model(model, weights=args.weights, device=args.device, dtype=dtype, seed=args.seed,
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
    return entries, context


def loaders_dtype(name: str) -> torch.dtype:
    from harness.models.loaders import DTYPES

    return DTYPES[name]


def _find(entries: list[Entry], name: str, dtype: str = REFERENCE) -> Entry | None:
    return next((e for e in entries if e.name == name and e.dtype == dtype), None)


def comparison_rows(entries: list[Entry], peak: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per scan: seconds, ratio to the naive loop, multiply-add rate and share of the peak
    in its dtype; exact float32 scans against the naive loop (max |delta| difference); batched scans
    of other dtypes against float32 batched (Spearman, top-20, max |delta| difference, speed ratio);
    attribution (plain, and with AtP*'s GradDrop) against float32 batched (Spearman, top-20)."""
    naive, ref = _find(entries, "naive"), _find(entries, "batched")
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


def _fmt(value: Any, spec: str, empty: str = "-") -> str:
    return empty if value is None else format(value, spec)


def report(entries: list[Entry], context: dict[str, Any]) -> str:
    """The bench's table and notes, as text."""
    rows = comparison_rows(entries, context["peak"])
    layers, naive_layers = context["layers"], context["naive_layers"]
    prompts = context["prompts"]
    g = context["geometry"]
    head = (f"{'scan':<12} {'dtype':<9} {'heads':>5} {'seconds':>9} {'vs naive':>8} {'GMAC/s':>7} {'of peak':>7}  "
            f"{'max|d-ref|':>10} {'Spearman':>8} {'top-20':>6} {'speed':>6}  compared with")  # fmt: skip
    lines = [
        f"model {context['model']} ({context['weights']} weights; {g.n_layers} layers x {g.n_heads} heads, d_head {g.d_head}, "
        f"{g.kv_heads} kv heads, {'gated' if g.gated else 'plain'} MLP {g.d_mlp}), {len(prompts)} {context['style']} "
        f"prompts, method {entries[0].result.method}, layers {_span(layers)}",
        "",
        head,
    ]
    for r in rows:
        lines.append(
            f"{r['scan']:<12} {r['dtype']:<9} {r['heads']:>5} {r['seconds']:>8.2f}{'*' if r['sampled'] else ' '} "
            f"{_fmt(r['vs_naive'], '7.2f')}x {_fmt(r['gmacs'], '7.1f'):>7} {_fmt(r['share_of_peak'], '6.0%'):>7}  "
            f"{_fmt(r['max_diff'], '10.2e'):>10} {_fmt(r['spearman'], '8.3f'):>8} {r['top_k'] or '-':>6} "
            f"{_fmt(r['speed_vs_f32'], '5.2f') + ('x' if r['speed_vs_f32'] else ''):>6}  {r['against'] or ''}"
        )
    if any(r["sampled"] for r in rows):
        timed = len(naive_layers) * g.n_heads
        lines.append(
            f"* timed on {timed} of {len(layers) * g.n_heads} heads (layers {_span(naive_layers)}) and scaled "
            f"x{len(layers) / len(naive_layers):.2f}: each head costs one full forward whatever its layer; "
            f"max|d-ref| over the timed heads"
        )
    if len(layers) < g.n_layers and _find(entries, "attribution"):
        lines.append(f"attribution scores all {g.n_layers * g.n_heads} heads in one pass; its 'vs naive' compares that "
                     f"with the naive loop on layers {_span(layers)} only")  # fmt: skip
    lines.append("")
    lines.append("matmul peak in this run (torch.matmul, multiply-adds/s, the model's shapes at "
                 f"{next(iter(context['shapes'].values()))[0]} tokens, {torch.get_num_threads()} threads):")  # fmt: skip
    for dtype, peak in context["peak"].items():
        shapes = ", ".join(f"{name} {rate / 1e9:.0f}" for name, rate in peak["by_shape"].items())
        lines.append(f"  {dtype:<9} {peak['best'] / 1e9:7.1f} GMAC/s (best of: {shapes})")
    naive = _find(entries, "naive")
    batched = _find(entries, "batched")
    if naive and batched:
        lines += ["", *flops_lines(context["flops"], naive.seconds / batched.seconds)]
    lines += [
        "",
        f"clean logit diff {batched.result.clean_logit_diff:.3f}, accuracy {batched.result.clean_accuracy:.3f} "
        f"(batched float32)" if batched else "",
    ]
    lines += [""] + [f"{k:<7} {v}" for k, v in context["machine"].items() if k != "dtype"]
    return "\n".join(lines)


def _span(layers: list[int]) -> str:
    if layers and layers == list(range(layers[0], layers[-1] + 1)) and len(layers) > 2:
        return f"{layers[0]}-{layers[-1]}"
    return ",".join(map(str, layers))


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--model", default=DEFAULT_MODEL, type=args_types.model_name, help="a registry model (default smollm2-135m; any zoo model)")
    parser.add_argument("--weights", default="pretrained", choices=["pretrained", "twin"],
                        help="real weights, or the architecture twin (random weights: speed only)")  # fmt: skip
    parser.add_argument("--dtypes", "--dtype", type=_dtypes, default=["float32", "bfloat16"],
                        help="comma-separated compute dtypes of the batched scan; float32 is always run, as the reference")  # fmt: skip
    parser.add_argument("--n-prompts", type=args_types.PROMPTS, default=32)
    parser.add_argument("--task", default="ioi", choices=["ioi", "anti"])
    parser.add_argument("--style", default=None, choices=["wang", "replication", "zoo"],
                        help="prompt style (default: zoo for zoo models, else wang)")  # fmt: skip
    parser.add_argument("--seed", type=args_types.SEED, default=0)
    parser.add_argument("--method", default="mean", choices=list(ABLATION_METHODS))
    parser.add_argument("--layers", default="all", help='"all", or e.g. "26-29" to scan only those (quick look)')
    parser.add_argument("--naive-layers", default="auto",
                        help='layers the naive loop and TL helper time, scaled to all: "auto" (all on SmolLM2, '
                             f'{NAIVE_SAMPLE_LAYERS} elsewhere), "all", or e.g. "0,23"')  # fmt: skip
    parser.add_argument("--tl", default="auto", choices=["auto", "yes", "no"],
                        help="time TransformerLens's patching helper (auto: on SmolLM2 only)")  # fmt: skip
    parser.add_argument("--graddrop", action=argparse.BooleanOptionalAction, default=True,
                        help="also time attribution patching with AtP*'s GradDrop correction")  # fmt: skip
    parser.add_argument("--ig-steps", type=_steps_list, default=[DEFAULT_IG_STEPS],
                        help=f"IG screen rows: comma-separated m (default {DEFAULT_IG_STEPS}); 'none' leaves IG out")
    parser.add_argument("--ig-path", default=DEFAULT_IG_PATH, choices=IG_PATHS, help="IG screen: which heads move together")
    parser.add_argument("--peak-seconds", type=float, default=2.0, help="time spent measuring each dtype's matmul peak")
    parser.add_argument("--peak-tokens", type=int, default=2048, help="rows of the peak's matmuls (the scan's tokens per forward)")
    parser.add_argument("--device", default="cpu", type=options.device, help="cpu | cuda | auto")
    parser.add_argument("--threads", type=args_types.POSITIVE, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; `argv` as on the command line (a leading "--" is dropped, so that
    `python -m harness bench -- --n-prompts 8` passes its options through)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv[1:] if argv[:1] == ["--"] else argv)
    previous = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        entries, context = run_bench(args.model, args)
    finally:  # called in-process (tests, `python -m harness bench`): leave the thread count as it was
        torch.set_num_threads(previous)
    print(report(entries, context))
    return 0


if __name__ == "__main__":
    sys.exit(main())
