"""Time the exact batched scan and the IG screen on a GPU, on architecture twins (random weights, no
download, no registry needed): pythia-1b and qwen2.5-coder-1.5b by default. Prepared for a machine
with a CUDA device; never run by the tests.

    python benchmarks/gpu_ig_timing.py --device cuda --dtype bfloat16 --n-prompts 200 --steps 4 \
        --exact-layers 0,8,15 --out $OUT/gpu_ig.json

The exact scan's cost differs by layer (ablating a head of layer L re-runs blocks L..), so it is
timed on `--exact-layers` and scaled to every layer by the multiply-add count
(`scan_flops.scan_flops` over all layers / over the timed ones); the IG screen always runs every
layer. Each timing is preceded by a warm-up on 8 prompts and fenced by torch.cuda.synchronize().
Prints one JSON line per model: seconds (exact scaled, IG), multiply-adds, achieved rate, and the
agreement of the two on the timed layers (twins: the numbers mean nothing about IOI).
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main(argv: list[str] | None = None) -> int:
    from harness.data.ioi_dataset import build_prompts
    from harness.models import registry
    from harness.models.loaders import load_model
    from harness.runs.recompute import RunSpec
    from harness.scoring.batched import scan_batched, segment_rows
    from harness.scoring.integrated_gradients import scan_ig
    from harness.scoring.rank_agreement import agreement
    from harness.scoring.scan_flops import geometry_from_cfg, ig_flops, scan_flops

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="pythia-1b,qwen2.5-coder-1.5b")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--n-prompts", type=int, default=200)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--path", default="all", choices=["all", "layer"])
    parser.add_argument("--exact-layers", default="0,mid,last", help="layers the exact scan times ('mid', 'last' allowed)")
    parser.add_argument("--memory-budget-mb", type=float, default=16384)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    lines = []
    for model in args.models.split(","):
        loaded = load_model(registry.get(model), weights="twin", device=args.device, dtype=args.dtype, progress=False)
        bridge = loaded.bridge
        n_layers = registry.get(model).n_layers
        names = {"mid": n_layers // 2, "last": n_layers - 1}
        layers = sorted({names[x] if x in names else int(x) for x in args.exact_layers.split(",")})
        prompts = build_prompts(RunSpec(n_prompts=args.n_prompts).task("ioi", registry.get(model)), loaded.tokenizer)
        warm = build_prompts(RunSpec(n_prompts=8).task("ioi", registry.get(model)), loaded.tokenizer)
        scan_batched(bridge, warm, "mean", layers=layers[-1:], progress=False, memory_budget_mb=args.memory_budget_mb)
        scan_ig(bridge, warm, "mean", steps=1, path=args.path, progress=False, memory_budget_mb=args.memory_budget_mb)
        _sync(args.device)
        started = time.perf_counter()
        exact = scan_batched(bridge, prompts, "mean", layers=layers, progress=False, memory_budget_mb=args.memory_budget_mb)
        _sync(args.device)
        exact_s = time.perf_counter() - started
        started = time.perf_counter()
        ig = scan_ig(bridge, prompts, "mean", steps=args.steps, path=args.path, progress=False,
                     memory_budget_mb=args.memory_budget_mb)
        _sync(args.device)
        ig_s = time.perf_counter() - started
        g = geometry_from_cfg(bridge.cfg)
        lengths = [int(x) + 1 for x in prompts.last_pos]
        widths = [0] * len(lengths)
        for rows in segment_rows(prompts):
            for r in rows:
                widths[r] = max(lengths[i] for i in rows)
        exact_all = scan_flops(g, lengths, scan_widths=widths).ours
        exact_timed = scan_flops(g, lengths, layers=layers, scan_widths=widths).ours
        ig_macs = ig_flops(g, [prompts.tokens.shape[1]] * len(lengths) if args.path == "all" else lengths,
                           steps=args.steps, path=args.path)
        agree = agreement(exact, ig)
        line = {
            "model": model, "weights": "twin", "device": args.device, "dtype": args.dtype, "n_prompts": len(lengths),
            "exact_layers_timed": layers, "exact_seconds_timed": exact_s,
            "exact_seconds_all_scaled": exact_s * exact_all / exact_timed, "exact_macs_all": exact_all,
            "ig_steps": args.steps, "ig_path": args.path, "ig_seconds": ig_s, "ig_macs": ig_macs,
            "exact_tmacs_per_s": exact_timed / exact_s / 1e12, "ig_tmacs_per_s": ig_macs / ig_s / 1e12,
            "speedup": exact_s * exact_all / exact_timed / ig_s,
            "agreement_on_timed_layers": agree,
        }
        print(json.dumps(line))
        lines.append(line)
        del loaded, bridge
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(lines, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
