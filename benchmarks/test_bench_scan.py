"""Speed of the four head-scan paths on SmolLM2-135M (pytest-benchmark), each checked for its numbers.

The same prompt set goes through: the naive per-head loop (the reference), TransformerLens's
patching helper (`transformer_lens.patching.get_act_patch_attn_head_out_all_pos`, which runs on a
TransformerBridge), our batched exact scan and our attribution patching. The exact ones must give
the naive loop's deltas to 1e-4; attribution's agreement with them (Spearman over heads, top-20
overlap) goes into the benchmark's extra_info and the captured output.

Two sizes:
- short (correctness only, well under 2 minutes): 8 prompts, the top 3 layers, one round. Chosen
  when BENCH_SHORT=1, or when BENCH_SHORT is unset and benchmarking is disabled (the project's
  default addopts pass --benchmark-disable, so a plain `pytest` run stays short);
- full: 32 prompts, every layer, one round each (about 30 minutes on one core of a 2-core CPU,
  most of it the naive loop and the TL helper). Run it with
  `BENCH_SHORT=0 python -m pytest benchmarks -o addopts="" -m bench`.
`python -m harness bench` prints the same comparison as one table of times and ratios.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pytest

from harness.models import registry
from harness.scoring.attribution import scan_attribution
from harness.scoring.batched import scan_batched
from harness.scoring.naive import scan_naive
from harness.scoring.rank_agreement import agreement
from harness.scoring.result import ScanResult
from harness.scoring.tl_patching import scan_tl_patching
from harness.models.weights import weights_available

pytestmark = pytest.mark.bench

_AVAILABLE, _REASON = weights_available(registry.get("smollm2-135m"))
if not _AVAILABLE:
    pytest.skip(f"SmolLM2-135M weights are not installed: {_REASON}", allow_module_level=True)

EXACT_ATOL = 1e-4


@dataclass
class Setup:
    bridge: object
    prompts: object
    layers: list[int] | None
    short: bool
    method: str = "mean"


def _short_mode(config: pytest.Config) -> bool:
    env = os.environ.get("BENCH_SHORT")
    if env is not None:
        return env == "1"
    return bool(config.getoption("benchmark_disable", default=False))


@pytest.fixture(scope="module")
def setup(request) -> Setup:
    from harness.data.ioi_dataset import TaskSpec, build_prompts
    from harness.models.loaders import load_model

    short = _short_mode(request.config)
    loaded = load_model(registry.get("smollm2-135m"), device="cpu", progress=False)
    n_layers = loaded.spec.n_layers
    prompts = build_prompts(TaskSpec(task="ioi", style="wang", n_prompts=8 if short else 32, seed=0), loaded.tokenizer)
    layers = list(range(n_layers - 3, n_layers)) if short else None
    return Setup(loaded.bridge, prompts, layers, short)


@pytest.fixture(scope="module")
def reference(setup) -> ScanResult:
    """The naive loop's result, computed here (untimed) so that no test depends on which ran first."""
    return scan_naive(setup.bridge, setup.prompts, setup.method, layers=setup.layers, progress=False)


def _once(benchmark, fn):
    return benchmark.pedantic(fn, rounds=1, iterations=1, warmup_rounds=0)


def _max_diff(a: ScanResult, b: ScanResult) -> float:
    merged = a.table.merge(b.table, on=["layer", "head"])
    assert len(merged) == len(a.table) == len(b.table)
    return float(np.abs(merged["delta_x"] - merged["delta_y"]).max())


def _record(benchmark, result: ScanResult, setup: Setup, **extra) -> None:
    benchmark.extra_info.update(
        n_prompts=result.n_prompts, n_heads=len(result.table), short=setup.short, seconds=result.seconds, **extra
    )


def test_naive(benchmark, setup, reference):
    result = _once(
        benchmark, lambda: scan_naive(setup.bridge, setup.prompts, setup.method, layers=setup.layers, progress=False)
    )
    _record(benchmark, result, setup)
    assert result.clean_logit_diff > 0 and result.table["delta"].abs().max() > 0.01
    assert _max_diff(result, reference) < EXACT_ATOL  # the timed run is the reference run, repeated


@pytest.mark.parametrize("scan", [scan_tl_patching, scan_batched], ids=["tl_patching", "batched"])
def test_exact_scan_equals_naive(benchmark, setup, reference, scan):
    result = _once(
        benchmark,
        lambda: scan(setup.bridge, setup.prompts, setup.method, layers=setup.layers, progress=False),
    )
    diff = _max_diff(result, reference)
    _record(benchmark, result, setup, max_abs_diff_vs_naive=diff)
    assert diff < EXACT_ATOL


def test_attribution(benchmark, setup, reference):
    result = _once(benchmark, lambda: scan_attribution(setup.bridge, setup.prompts, setup.method, progress=False))
    agree = agreement(reference, result)
    _record(benchmark, result, setup, **{f"agreement_{key}": value for key, value in agree.items()})
    print(f"\nattribution vs exact ({agree['n_heads']} heads): Spearman {agree['spearman']:.3f}, "
          f"top-{agree['top_k']} overlap {agree['top_k_overlap']}/{agree['top_k']}")  # fmt: skip
    assert len(result.table) == setup.bridge.cfg.n_layers * setup.bridge.cfg.n_heads
    assert result.clean_logit_diff == pytest.approx(reference.clean_logit_diff, abs=EXACT_ATOL)
    assert agree["spearman"] > 0  # reported above; the integration tests hold the real bar
