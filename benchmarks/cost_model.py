"""What the exact scan and the IG screen cost for the seed's models, from multiply-add counts and rates.

    python benchmarks/cost_model.py --cpu-exact-gmacs 75 --cpu-ig-gmacs 60 --steps 4

Per model of the seed's design (pythia 70m..1b, gpt-neo-125M, opt-125m, gpt2-medium), one task (IOI)
of 200 'wang' prompts, tokenised with the model's fixture tokenizer (the registry's `tokenizer`;
OPT's own checkpoint tokenizer splits text like GPT-2's): the multiply-adds of the exact batched
scan (`scan_flops.scan_flops(...).ours`, at the widths of its length segments) and of the IG screen
(`scan_flops.ig_flops`, --path: "layer" at each prompt's length, "all" at the batch's longest width), and the seconds they take
at a given rate. No model is loaded; only tokenizers.

Rates: on this CPU, the achieved multiply-add rates measured by `python -m harness bench` (float32;
pass them with --cpu-exact-gmacs / --cpu-ig-gmacs). On a GPU: NVIDIA H100 SXM5's dense bfloat16
tensor-core peak, 989.4 TFLOPS = 494.7 T multiply-adds/s (NVIDIA H100 Tensor Core GPU datasheet),
times an ASSUMED achieved share (--gpu-share, default 0.3: the scans' matmuls are a few thousand
tokens by d_model <= 2048, far from the sizes that reach the peak; not measured, no GPU was lent).
The seed's full design doubles each figure per extra task (anti) and per ablation method.
"""

from __future__ import annotations

import argparse

SEED_MODELS = ("pythia-70m", "pythia-160m", "pythia-410m", "pythia-1b", "gpt-neo-125M", "opt-125m", "gpt2-medium")
H100_BF16_MACS = 989.4e12 / 2  # NVIDIA H100 SXM5 datasheet: 989.4 TFLOPS dense BF16 (2 FLOPs per multiply-add)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def main(argv: list[str] | None = None) -> int:
    from harness.data.ioi_dataset import build_prompts
    from harness.models.tokenizers import tokenizer_of
    from harness.models import registry
    from harness.models.loaders import twin_config
    from harness.runs.recompute import RunSpec
    from harness.scoring.batched import segment_rows
    from harness.scoring.scan_flops import geometry_from_hf_config, ig_flops, scan_flops

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-prompts", type=int, default=200)
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--path", default="layer", choices=["layer", "all"])
    parser.add_argument("--cpu-exact-gmacs", type=float, required=True, help="measured exact-scan rate, G multiply-adds/s")
    parser.add_argument("--cpu-ig-gmacs", type=float, required=True, help="measured IG-screen rate, G multiply-adds/s")
    parser.add_argument("--gpu-share", type=float, default=0.3, help="assumed share of the H100 bf16 peak achieved")
    args = parser.parse_args(argv)

    gpu = H100_BF16_MACS * args.gpu_share
    print(f"| model | layers x heads | exact: T mult-adds | IG {args.path} m={args.steps}: T mult-adds | ratio | "
          f"exact, this CPU | IG, this CPU | exact, H100 (assumed {args.gpu_share:.0%} of bf16 peak) | IG, H100 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in SEED_MODELS:
        spec = registry.get(name)
        config = twin_config(spec)  # HF's attribute_map gives every architecture the same names
        names = ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
                 "intermediate_size", "vocab_size", "hidden_act", "model_type")
        hf = {k: getattr(config, k, None) for k in names}
        hf["intermediate_size"] = hf["intermediate_size"] or getattr(config, "ffn_dim", None) or getattr(config, "n_inner", None)
        g = geometry_from_hf_config({k: v for k, v in hf.items() if v is not None}, spec.architecture)
        tokenizer = tokenizer_of(spec)
        prompts = build_prompts(RunSpec(n_prompts=args.n_prompts).task("ioi", spec), tokenizer)
        lengths = [int(x) + 1 for x in prompts.last_pos]
        widths = [0] * len(lengths)
        for rows in segment_rows(prompts):
            for r in rows:
                widths[r] = max(lengths[i] for i in rows)
        exact = scan_flops(g, lengths, scan_widths=widths).ours
        screen = ig_flops(g, [max(lengths)] * len(lengths) if args.path == "all" else lengths, steps=args.steps, path=args.path)
        print(f"| {name} | {g.n_layers} x {g.n_heads} | {exact / 1e12:.2f} | {screen / 1e12:.3f} | {exact / screen:.1f}x | "
              f"{_duration(exact / (args.cpu_exact_gmacs * 1e9))} | {_duration(screen / (args.cpu_ig_gmacs * 1e9))} | "
              f"{_duration(exact / gpu)} | {_duration(screen / gpu)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
