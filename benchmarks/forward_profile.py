"""Where one forward's CPU time goes, per model (torch.profiler, self time by op).

    python benchmarks/forward_profile.py smollm2-135m gemma-3-270m [--n-prompts 16] [--threads 1]

Explains a scan's share of the matmul peak: the bench's peak is measured on matrix products alone, so
the time a model's forward spends outside them (norms, activations, copies) caps what share any scan
of that model can reach. Prints the share of self CPU time in matrix-product ops and the top ops.
"""

from __future__ import annotations

from harness.models import registry
import argparse
import dataclasses
import sys

MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::baddbmm")


def main(argv: list[str] | None = None) -> int:
    import torch
    from torch.profiler import ProfilerActivity, profile

    from harness.data.ioi_dataset import build_prompts
    from harness.models.loaders import load_model
    from harness.runs.recompute import zoo_run
    from harness.scoring.prompts import as_prompts
    from harness.scoring.readout import final_residual

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+")
    parser.add_argument("--n-prompts", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for model in args.models:
        loaded = load_model(registry.get(model), device="cpu", dtype="float32", progress=False)
        spec = dataclasses.replace(zoo_run(model, "mean").task("ioi", registry.get(model)), n_prompts=args.n_prompts)
        tokens = as_prompts(build_prompts(spec, loaded.tokenizer), torch.device("cpu")).tokens
        with torch.no_grad():
            final_residual(loaded.bridge, tokens)  # warm-up
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                final_residual(loaded.bridge, tokens)
        events = prof.key_averages()
        total = sum(e.self_cpu_time_total for e in events)
        matmul = sum(e.self_cpu_time_total for e in events if e.key in MATMUL_OPS)
        print(f"{model}: one forward of {args.n_prompts} prompts, {total / 1e3:.0f} ms self CPU, "
              f"matrix products {matmul / total:.0%}")
        for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[: args.top]:
            print(f"   {e.key:<40} {e.self_cpu_time_total / total:6.1%}")
        del loaded
    return 0


if __name__ == "__main__":
    sys.exit(main())
