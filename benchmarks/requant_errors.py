"""How large is each re-quantisation scheme's perturbation, against the zoo files' own quantisation?

    python benchmarks/requant_errors.py                 # all four zoo models, every 8th row of each matrix
    python benchmarks/requant_errors.py --stride 1 --model qwen2.5-coder-0.5b

Prints, per zoo model: the file's quantisation mix and its own rounding error (relative RMS, from the
blocks' stored steps: step^2/12 per value), and for each scheme the gguf package can quantise to
(harness.models.requant.SCHEMES) the error of re-quantising the file's dequantised weights with it
(mean |dw|, relative RMS), pooled over every quantised tensor (rows sampled with a fixed stride).
Also each scheme's error on standard Gaussian rows, and the step^2/12 estimate beside the measured
error there (a check of the estimator). The twin scheme of the weights-noise floor is chosen from
these numbers (registry.WEIGHTS_TWIN, README "The weights-noise floor").
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def gaussian_table() -> list[str]:
    from harness.models import requant

    x = np.random.default_rng(0).standard_normal((256, 4096)).astype(np.float32)
    lines = ["scheme | Gaussian mean abs | Gaussian rel RMS | step^2/12 estimate"]
    for scheme, err in requant.gaussian_errors().items():
        blocks = x.reshape(-1, 32)
        if scheme in ("Q8_0",):
            step = np.abs(blocks).max(1) / 127
        elif scheme in ("Q5_0",):
            step = np.abs(blocks).max(1) / 16
        elif scheme in ("Q4_0",):
            step = np.abs(blocks).max(1) / 8
        elif scheme == "Q4_1":
            step = (blocks.max(1) - blocks.min(1)) / 15
        else:  # Q5_1
            step = (blocks.max(1) - blocks.min(1)) / 31
        estimate = float(np.sqrt((step.astype(np.float64) ** 2).mean() / 12) / np.sqrt((x.astype(np.float64) ** 2).mean()))
        lines.append(f"{scheme} | {err.mean_abs:.4f} | {err.rel_rms:.4f} | {estimate:.4f}")
    return lines


def model_lines(model: str, stride: int) -> list[str]:
    from gguf import GGUFReader, quants

    from harness.models import gguf as gguf_weights
    from harness.models import registry, requant

    path = gguf_weights.gguf_path(registry.get(model))
    facts = requant.read_file_quantisation(path)
    sums = {scheme: requant.ErrorSum() for scheme in requant.SCHEMES}
    for tensor in GGUFReader(str(path)).tensors:
        if tensor.tensor_type.name in ("F32", "F16", "BF16"):
            continue
        rows = quants.dequantize(np.asarray(tensor.data), tensor.tensor_type)
        rows = rows.reshape(-1, rows.shape[-1])[::stride]
        for scheme in requant.SCHEMES:
            sums[scheme].add(rows, requant.requantize(rows, scheme))
    own = ", ".join(f"{k} {v:.4f}" for k, v in sorted(facts.rounding_rel_rms.items()))
    lines = [
        f"## {model}: {facts.mix()}",
        f"file's own rounding (rel RMS, step^2/12): pooled {facts.rounding_rel_rms_all:.4f} ({own})",
        "scheme | re-quantisation mean abs | rel RMS",
    ]
    for scheme, total in sums.items():
        err = total.result()
        lines.append(f"{scheme} | {err.mean_abs:.5f} | {err.rel_rms:.4f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    from harness.data.designs import builtin

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", help="a zoo model (repeatable; default: all four)")
    parser.add_argument("--stride", type=int, default=8, help="use every Nth row of each matrix (1 = all)")
    args = parser.parse_args(argv)
    print("\n".join(gaussian_table()))
    for model in args.model or builtin("zoo").models:
        print()
        print("\n".join(model_lines(model, args.stride)))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
