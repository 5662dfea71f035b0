"""Unit tests of the bench's pieces (`harness.runs.bench`, `python -m harness bench`'s parser) that need no model: the naive loop's layer
sample, the matmul-peak measurement, the comparison rows (dtype against float32, shares of the peak)
and the option parsing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from harness.cli.main import build_parser
from harness.runs import bench
from harness.scoring.result import ScanResult

pytestmark = pytest.mark.unit


def _result(deltas: np.ndarray, name: str, dtype: str, seconds: float, layers: list[int] | None = None) -> ScanResult:
    n_layers, n_heads = deltas.shape
    layers = layers or list(range(n_layers))
    table = pd.DataFrame({
        "layer": np.repeat(layers, n_heads), "head": np.tile(np.arange(n_heads), len(layers)),
        "delta": deltas[layers].reshape(-1),
    })  # fmt: skip
    table["delta_norm"] = table["delta"] / 2.0
    return ScanResult(table, 2.0, 1.0, "mean", name, "cpu", dtype, seconds, 8)


def test_naive_sample():
    layers = list(range(24))
    assert bench.naive_sample("smollm2-135m", layers, "auto") == layers
    assert bench.naive_sample("qwen2.5-coder-0.5b", layers, "auto") == [0, 23]
    assert bench.naive_sample("qwen2.5-coder-0.5b", [4, 5], "auto") == [4, 5]
    assert bench.naive_sample("gemma-3-270m", layers, "all") == layers
    assert bench.naive_sample("gemma-3-270m", layers, "3,7-8") == [3, 7, 8]
    with pytest.raises(ValueError, match="among the scanned layers"):
        bench.naive_sample("gemma-3-270m", [0, 1], "5")


def test_matmul_peak_is_a_positive_rate_per_shape():
    rates = bench.measure_matmul_peak({"a": (16, 8, 4), "b": (8, 8, 8)}, torch.float32, seconds=0.01, repeats=2)
    assert set(rates) == {"a", "b"} and all(rate > 0 for rate in rates.values())
    assert bench.measure_matmul_peak({"a": (4, 4, 4)}, torch.bfloat16, seconds=0.005, repeats=1)["a"] > 0


def test_comparison_rows():
    rng = np.random.default_rng(0)
    exact = rng.normal(size=(4, 10))  # 40 heads
    noisy = exact + rng.normal(scale=1e-3, size=exact.shape)
    naive = bench.Entry("naive", "float32", _result(exact, "naive", "float32", 3.0, layers=[0, 3]), 6.0, 2.0, 600)
    batched = bench.Entry("batched", "float32", _result(exact + 1e-6, "batched", "float32", 2.0), 2.0, flops=400)
    bf16 = bench.Entry("batched", "bfloat16", _result(noisy, "batched", "bfloat16", 1.0), 1.0, flops=400)
    attribution = bench.Entry("attribution", "float32", _result(-exact, "attribution", "float32", 0.5), 0.5)
    peak = {"float32": {"best": 400.0}, "bfloat16": {"best": 800.0}}
    rows = {(r["scan"], r["dtype"]): r for r in bench.comparison_rows([naive, batched, attribution, bf16], peak)}

    r = rows["naive", "float32"]
    assert r["sampled"] and r["vs_naive"] == 1.0 and r["heads"] == 20
    assert r["gmacs"] == pytest.approx(600 / 3.0 / 1e9) and r["share_of_peak"] == pytest.approx(200 / 400)
    r = rows["batched", "float32"]
    assert r["vs_naive"] == 3.0 and r["share_of_peak"] == pytest.approx(0.5)
    assert r["max_diff"] == pytest.approx(1e-6) and r["against"] == "naive float32"
    r = rows["batched", "bfloat16"]
    assert r["share_of_peak"] == pytest.approx(400 / 800) and r["speed_vs_f32"] == 2.0
    assert r["spearman"] > 0.99 and r["top_k"] == "20/20" and r["against"] == "batched float32"
    assert r["max_diff"] == pytest.approx(np.abs(noisy - exact - 1e-6).max())
    r = rows["attribution", "float32"]
    assert r["spearman"] == pytest.approx(-1.0) and r["gmacs"] is None and r["max_diff"] is None


def test_parser():
    args = build_parser().parse_args(["bench"])
    assert (args.model, args.dtypes, args.naive_layers, args.tl) == ("smollm2-135m", ["float32", "bfloat16"], "auto", "auto")
    assert build_parser().parse_args(["bench", "--dtype", "bfloat16,float16"]).dtypes == ["bfloat16", "float16"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--dtypes", "float8"])


def test_the_bench_commands_defaults_are_the_options_of_runs_bench():
    """`python -m harness bench` declares its options with harness.runs.bench.BenchOptions's defaults."""
    from dataclasses import fields

    args = build_parser().parse_args(["bench"])
    parsed = {f.name: getattr(args, f.name) for f in fields(bench.BenchOptions) if f.name != "progress"}
    defaults = {f.name: f.default for f in fields(bench.BenchOptions) if f.name != "progress"}
    assert {**parsed, "dtypes": tuple(parsed["dtypes"]), "ig_steps": tuple(parsed["ig_steps"])} == defaults
    assert args.no_progress is False and bench.BenchOptions().progress
