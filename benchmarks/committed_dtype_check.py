"""Does a committed zoo table rank heads as another compute dtype would? Rescans layers in that dtype.

    python benchmarks/committed_dtype_check.py --model qwen2.5-coder-0.5b --layers 0,12,20-23
    python benchmarks/committed_dtype_check.py --model smollm2-135m --layers all --dtype bfloat16

The committed zoo tables of the two Qwens are bfloat16 scans (claims/designs/zoo.toml), with the committed
prompt set (200 prompts; 64 for Qwen 1.5B). A float32 scan of every head costs hours here, so this
rescans the chosen layers in float32 on the same prompts and reports, over the heads of the slice:
Spearman of delta, the largest |delta| difference, and how many heads change side of the IOI-like
threshold (delta <= -tau, the zoo run's tau); and, over the whole table, the top-20 by |delta|
after the slice's bfloat16 deltas are replaced by the float32 ones (the heads outside the slice keep
their bfloat16 values, so this measures what the slice can change). Each layer costs about one
forward of the prompt set per head through layers L.. (layer 0 is the dearest).
"""

from __future__ import annotations

from harness.models import registry
import argparse
import sys
import time

import numpy as np
from scipy.stats import spearmanr


def main(argv: list[str] | None = None) -> int:
    from harness.runs.bench import parse_layers
    from harness.data.ioi_dataset import build_prompts
    from harness.models.loaders import load_model
    from harness.runs.cache import committed_cache
    from harness.runs.recompute import cache_key, zoo_run
    from harness.scoring.batched import scan_batched

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--method", default="mean")
    parser.add_argument("--layers", required=True, help='e.g. "0,12,20-23"')
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--dtype", default="float32", help="dtype of the rescan (default float32)")
    args = parser.parse_args(argv)

    run = zoo_run(args.model, args.method)
    hit = committed_cache().get(cache_key(registry.get(args.model), "ioi", run))
    if hit is None:
        print(f"no current committed table for {args.model} {args.method}", file=sys.stderr)
        return 2
    committed, meta = hit
    loaded = load_model(registry.get(args.model), device="cpu", dtype=args.dtype, progress=False)
    prompts = build_prompts(run.task("ioi", registry.get(args.model)), loaded.tokenizer)
    started = time.perf_counter()
    fresh = scan_batched(loaded.bridge, prompts, args.method, layers=parse_layers(args.layers), progress=True)
    seconds = time.perf_counter() - started
    merged = committed.merge(fresh.table, on=["layer", "head"], suffixes=("_committed", "_rescan"), validate="one_to_one")
    tau = run.tau
    side = (merged["delta_committed"] <= -tau) != (merged["delta_rescan"] <= -tau)
    replaced = committed.set_index(["layer", "head"])["delta"].copy()
    replaced.loc[list(zip(merged["layer"], merged["head"]))] = merged["delta_rescan"].to_numpy()

    def top(series) -> set:
        return set(series.abs().sort_values(ascending=False, kind="stable").index[: args.k])

    before = top(committed.set_index(["layer", "head"])["delta"])
    in_slice = before & set(zip(merged["layer"], merged["head"]))
    print(f"{args.model} {args.method}: committed {meta['dtype']} ({meta['n_prompts']} prompts) vs a {args.dtype} rescan of "
          f"layers {args.layers} ({len(merged)} heads, {seconds:.0f} s)")
    print(f"  Spearman over the slice {spearmanr(merged['delta_committed'], merged['delta_rescan']).statistic:.4f}; "
          f"max |delta diff| {np.abs(merged['delta_committed'] - merged['delta_rescan']).max():.4f}; "
          f"clean LD {meta['clean_logit_diff']:.3f} (committed) vs {fresh.clean_logit_diff:.3f} (rescan)")
    crossing = ", ".join(
        f"L{r.layer}H{r.head} {r.delta_committed:+.3f} -> {r.delta_rescan:+.3f}" for r in merged[side].itertuples()
    )
    print(f"  heads changing side of tau={tau}: {int(side.sum())} of {len(merged)}" + (f" ({crossing})" if crossing else ""))
    print(f"  top-{args.k} of the whole table with the slice rescanned: {len(before & top(replaced))}/{args.k} "
          f"the same ({len(in_slice)} of the committed top-{args.k} lie in the slice)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
