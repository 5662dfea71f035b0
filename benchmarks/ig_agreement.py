"""How well the IG screen (algorithm attribution_ig) agrees with the committed exact zoo tables.

    python benchmarks/ig_agreement.py compute --model smollm2-135m --method mean --steps 1,2,4,8,16
    python benchmarks/ig_agreement.py compute --model qwen2.5-coder-1.5b --method mean --n-prompts 16
    python benchmarks/ig_agreement.py report            # the agreement table and the verdict comparison

No exact scan is run: the exact side is the committed 200-prompt (Qwen 1.5B: 64) per-prompt arrays
in fixtures/recomputed/. `compute` scores the first `--n-prompts` of the zoo's committed prompt set
(default all) with IG, the replacement values taken over ALL the committed prompts as the exact scan
took them, so the two sides differ only by the method; each (model, method, path, m) is stored as one
.npz under --out (default benchmarks/results/ig/, resumable: a stored one is skipped) with its
wall-clock seconds. `report` compares each with the exact deltas over the SAME prompts: Spearman over
all heads, overlap of the top-20 by |delta|, the largest |delta| difference, the heads of the exact
top-20 the screen misses; and, where every zoo model has an IG table of one (method, path, m) on the
same prompts, the zoo verdicts (claims.checks.evaluate on the zoo design, noise floors included)
from the IG tables against those from the exact tables on those prompts. The speed-up is measured
against the exact batched scan's seconds per prompt recorded in the committed tables' metadata
(measured on this machine, scaled to the prompts scored here), and its multiply-add ratio
(scan_flops.ig_flops against scan_flops.scan_flops's `ours`) is printed beside it.
"""

from __future__ import annotations

from harness.models import registry
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "ig"


def _exact(model: str, method: str, n_prompts: int | None = None):
    """(ablated (L, H, N), clean (N,), meta) of the committed exact zoo table (at the zoo design's
    prompt count, or at `n_prompts`: the count a stored IG run was compared with)."""
    from harness.runs.zoo import zoo_arrays, zoo_entry

    entry = zoo_entry(registry.get(model), method, n_prompts=n_prompts)
    arrays = zoo_arrays(registry.get(model), method, n_prompts=n_prompts)
    if entry is None or arrays is None:
        raise SystemExit(f"no committed exact zoo table with per-prompt arrays for {model} {method}"
                         + (f" at {n_prompts} prompts" if n_prompts else ""))
    return arrays[0], arrays[1], entry[1]


def _name(model: str, method: str, path: str, steps: int, n: int) -> str:
    return f"{model}__{method}__{path}__m{steps}__n{n}.npz"


def compute(args) -> int:
    import torch

    from harness.data.ioi_dataset import build_prompts
    from harness.models.loaders import load_model
    from harness.runs.recompute import zoo_run
    from harness.scoring.ablation import AblationValues, ablation_values
    from harness.scoring.geometry import chosen_layers
    from harness.scoring.integrated_gradients import ig_estimates
    from harness.scoring.prompts import Prompts, as_prompts

    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    run = zoo_run(args.model, args.method)
    ablated, clean, _ = _exact(args.model, args.method)
    loaded = load_model(registry.get(args.model), device="cpu", dtype=run.dtype, progress=False)
    bridge = loaded.bridge
    prompts = build_prompts(run.task("ioi", registry.get(args.model)), loaded.tokenizer)
    p = as_prompts(prompts, torch.device("cpu"))
    if len(p) != clean.shape[0]:
        raise SystemExit(f"{args.model}: {len(p)} prompts built, the committed arrays have {clean.shape[0]}")
    n = min(args.n_prompts or len(p), len(p))
    values = ablation_values(bridge, p, args.method)  # over every committed prompt, as the exact scan
    width = int(p.last_pos[:n].max()) + 1
    sub = Prompts(p.tokens[:n, :width], p.corrupt_tokens[:n, :width], p.last_pos[:n], p.correct[:n],
                  p.distractor[:n], p.group[:n], p.n_groups)
    sub_values = AblationValues(values.method, [v[:, :width] for v in values.by_group], values.group[:n])
    layers = chosen_layers(bridge, None)
    for path in args.paths.split(","):
        for steps in [int(x) for x in args.steps.split(",")]:
            target = out / _name(args.model, args.method, path, steps, n)
            if target.exists():
                print(f"{target.name}: stored, skipped", file=sys.stderr)
                continue
            started = time.perf_counter()
            est = np.zeros(ablated.shape[:2] + (n,))
            ig_clean = None
            for layer, layer_est, layer_clean in ig_estimates(bridge, sub, sub_values, layers, steps=steps, path=path):
                est[layer] = layer_est.double().cpu().numpy()
                ig_clean = layer_clean.double().cpu().numpy()
            seconds = time.perf_counter() - started
            np.savez(target, est=est, clean=ig_clean, seconds=seconds, n=n, threads=torch.get_num_threads(),
                     dtype=run.dtype, lengths=(p.last_pos[:n] + 1).numpy(), width=width, exact_n=clean.shape[0])
            print(f"{target.name}: {seconds:.1f} s", file=sys.stderr)
    return 0


def _agreement(exact: np.ndarray, approx: np.ndarray, k: int) -> dict:
    from scipy.stats import spearmanr

    e, a = exact.reshape(-1), approx.reshape(-1)
    order_e = np.argsort(-np.abs(e), kind="stable")[:k]
    order_a = np.argsort(-np.abs(a), kind="stable")[:k]
    n_heads = exact.shape[1]
    missed = sorted(set(order_e.tolist()) - set(order_a.tolist()))
    return {
        "spearman": float(spearmanr(e, a).statistic),
        "top_k": len(set(order_e.tolist()) & set(order_a.tolist())),
        "max_abs_diff": float(np.abs(e - a).max()),
        "max_abs_exact": float(np.abs(e).max()),
        "missed": [(int(i // n_heads), int(i % n_heads), round(float(e[i]), 3), round(float(a[i]), 3)) for i in missed],
    }


def _flops_ratio(model: str, lengths: list[int], width: int, steps: int, path: str) -> float:
    """Multiply-adds of the exact batched scan over those of the IG screen on the same prompts (the
    exact scan's padding within length segments is ignored: a slight undercount of its work)."""
    from harness.models import registry
    from harness.scoring.scan_flops import geometry_from_hf_config, ig_flops, scan_flops

    spec = registry.get(model)
    g = geometry_from_hf_config(spec.hf_config, spec.architecture)
    exact = scan_flops(g, lengths).ours
    screen = ig_flops(g, [width] * len(lengths) if path == "all" else lengths, steps=steps, path=path)
    return exact / screen


def _verdicts(per_model: dict[str, tuple[np.ndarray, np.ndarray]], method: str) -> dict[str, bool]:
    """Zoo verdicts (check key -> holds) from per-prompt arrays (ablated, clean) per zoo model."""
    from harness.analysis.noise_floor import noise_floor
    from harness.claims import checks, thresholds
    from harness.data.head_table import DEFAULT_TAU
    from harness.models import registry
    from harness.runs.sharded_scan import merged_table

    cfg = thresholds.load()
    tables, floors = [], {}
    import pandas as pd

    from harness.data.head_table import categorize, with_derived_columns

    for model, (ablated, clean) in per_model.items():
        scores = merged_table(ablated, clean)
        table = pd.DataFrame({
            "family": registry.get(model).family, "model": model, "layer": scores["layer"].astype(int),
            "head": scores["head"].astype(int), "delta_ioi": scores["delta"].astype(float), "delta_anti": 0.0,
        })
        table = with_derived_columns(table)
        table["category"] = categorize(table["delta_ioi"], table["delta_anti"], DEFAULT_TAU, "signed")
        table["delta_a"], table["delta_b"] = scores["delta_a"].to_numpy(float), scores["delta_b"].to_numpy(float)
        table["clean_logit_diff_ioi"] = float(clean.mean())
        table["clean_accuracy_ioi"] = float((clean > 0).mean())
        table["n_prompts"] = clean.shape[0]
        tables.append(table)
        floors[model] = noise_floor(
            model, registry.get(model).family, ablated, clean, **cfg.transfer.kwargs(), tau=DEFAULT_TAU,
            rule="signed", n_boot=cfg.noise_floor.n_boot, level=cfg.uncertainty.level, seed=cfg.uncertainty.seed,
        )
    evaluation = checks.evaluate(pd.concat(tables, ignore_index=True), f"zoo:{method}", cfg, floors=floors)
    return {check.key: bool(check.holds) for check in evaluation.checks.values()}


def report(args) -> int:
    from harness.claims import thresholds
    from harness.data.designs import builtin

    screen = thresholds.load().screen
    stored = sorted(Path(args.out).glob("*.npz"))
    if not stored:
        print(f"nothing stored under {args.out}; run `compute` first", file=sys.stderr)
        return 2
    rows, by_setting = [], {}
    for file in stored:
        model, method, path, m, n = file.stem.split("__")
        steps, n = int(m[1:]), int(n[1:])
        data = np.load(file)
        # the exact table the run was scored against: its prompt count is stored with the run (the
        # first n of a 64-prompt set are other prompts than the first n of a 200-prompt set), and the
        # clean logit differences of the same prompts agree to the last digit (checked)
        ablated, clean, meta = _exact(model, method, int(data["exact_n"]) if "exact_n" in data else None)
        if np.abs(data["clean"] - clean[:n]).max() > 1e-3:
            raise SystemExit(f"{file.name}: its clean logit differences are not the committed exact table's on the same "
                             f"prompts (max diff {np.abs(data['clean'] - clean[:n]).max():.3f}): other prompts")
        exact = ablated[:, :, :n].mean(-1) - clean[:n].mean()
        approx = data["est"].mean(-1)
        agree = _agreement(exact, approx, screen.top_k)
        exact_per_prompt = float(meta["seconds"]) / clean.shape[0]
        speedup = exact_per_prompt * n / float(data["seconds"])
        rows.append({"model": model, "method": method, "path": path, "m": steps, "n_prompts": n, **agree,
                     "seconds": float(data["seconds"]), "speedup": speedup,
                     "flops_speedup": _flops_ratio(model, [int(x) for x in data["lengths"]], int(data["width"]), steps, path)})
        setting = by_setting.setdefault((method, path, steps), {})
        if model not in setting or setting[model][3] < n:  # the most prompts scored for this setting
            setting[model] = (clean[:n][None, None, :] + data["est"], clean[:n], ablated[:, :, :n], n)
    print("| model | method | path | m | prompts | Spearman | top-20 | max abs diff (max abs exact) | IG s | speed-up (time / mult-adds) | goal |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        goal = (r["spearman"] >= screen.min_spearman and r["top_k"] >= screen.min_top_k and r["speedup"] >= screen.min_speedup)
        print(f"| {r['model']} | {r['method']} | {r['path']} | {r['m']} | {r['n_prompts']} | {r['spearman']:.4f} | "
              f"{r['top_k']}/{screen.top_k} | {r['max_abs_diff']:.3f} ({r['max_abs_exact']:.3f}) | {r['seconds']:.0f} | "
              f"{r['speedup']:.1f}x / {r['flops_speedup']:.1f}x | {'met' if goal else 'missed'} |")
    print()
    for r in rows:
        if r["missed"]:
            print(f"{r['model']} {r['method']} {r['path']} m={r['m']}: exact top-{screen.top_k} heads the screen misses "
                  f"(layer, head, exact delta, IG delta): {r['missed']}")
    print()
    for (method, path, steps), per_model in sorted(by_setting.items()):
        if set(per_model) != set(builtin("zoo").models):
            continue
        ig = _verdicts({m: (v[0], v[1]) for m, v in per_model.items()}, method)
        exact = _verdicts({m: (v[2], v[1]) for m, v in per_model.items()}, method)
        flips = sorted(k for k in exact if ig.get(k) != exact[k])
        counts = ", ".join(f"{m} {v[3]}" for m, v in per_model.items())
        print(f"zoo:{method} verdicts, {path} m={steps}, prompts scored ({counts}), exact on the same prompts: "
              f"{sum(exact.values())}/{len(exact)} hold (exact), {sum(ig.values())}/{len(ig)} (IG); "
              f"{'identical' if not flips else 'differ: ' + ', '.join(flips)}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("compute")
    p.add_argument("--model", required=True)
    p.add_argument("--method", default="mean", choices=["mean", "zero"])
    p.add_argument("--steps", default="1,2,4,8,16")
    p.add_argument("--paths", default="all")
    p.add_argument("--n-prompts", type=int, default=None, help="score the first N committed prompts (default all)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=str(RESULTS))
    p.set_defaults(func=compute)
    p = sub.add_parser("report")
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument("--json", default=None)
    p.set_defaults(func=report)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
