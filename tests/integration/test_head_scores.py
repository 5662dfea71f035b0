"""Head scans of the real SmolLM2-135M (30 layers x 9 heads) on IOI prompts.

What is asserted, and why (measured values: 16 wang-style IOI prompts, seeds 0 and 1, CPU):
- the clean task works: mean logit difference > 0 and >= 90 % of prompts right (measured: 4.23,
  16/16 on seed 0; 3.47, 15/16 on seed 1);
- the batched exact scan gives the naive loop's deltas to 1e-4 (zero and mean ablation) on layers
  0, 14 and 29 (the full naive loop takes minutes; measured max difference about 3e-6);
- mean-ablating every head of the top half of the layers (15-29) leaves less than a quarter of the
  clean logit difference (measured: 0.65 of 4.23, i.e. 15 %), while ablating every head of layer 2
  keeps more than 80 % of it (measured: 98 %), so the collapse is about the top layers and not
  about ablating heads at all;
- the ranking of heads does not depend on the prompts drawn: Spearman over all 270 heads between
  two disjoint prompt sets is above 0.25 (measured: 0.41). Most heads have |delta| < 0.05, whose
  order is noise at 16 prompts, so the bar is set against chance, not perfection: two unrelated
  rankings of 270 heads have Spearman 0 +- 0.06, so 0.25 is four standard deviations above chance
  and well below the measured value; the strong heads agree far better (11 of the top 20 shared);
- attribution patching agrees with the exact scan: Spearman > 0.75 and >= 12 of the top-20 heads
  (measured: Spearman 0.905, 15/20); the numbers are printed;
- the IG screen at the default m (integrated gradients from the clean to the ablated z, the path
  issue 20 builds because attribution's first-order estimate agrees too poorly) ranks the heads at
  least as well as attribution patching on the same prompts, by Spearman and by top-20 overlap: the
  premise of the screen, stated before it was measured; the numbers are printed.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.models import registry
from harness.scoring.ablation import ablation_values
from harness.scoring.attribution import scan_attribution
from harness.scoring.batched import scan_batched
from harness.scoring.geometry import z_name
from harness.scoring.integrated_gradients import scan_ig
from harness.scoring.methods import ABLATION_METHODS
from harness.scoring.naive import scan_naive
from harness.scoring.rank_agreement import agreement
from harness.scoring.readout import logit_diff
from harness.scoring.result import ScanResult
from harness.models.weights import weights_available

pytestmark = pytest.mark.integration

_AVAILABLE, _REASON = weights_available(registry.get("smollm2-135m"))
needs_smollm2 = pytest.mark.skipif(not _AVAILABLE, reason=f"SmolLM2-135M weights are not installed: {_REASON}")

N_PROMPTS = 16
EXACT_LAYERS = [0, 14, 29]
TOP_LAYERS = list(range(15, 30))
STABILITY_MIN_SPEARMAN = 0.25
ATTRIBUTION_MIN_SPEARMAN = 0.75
ATTRIBUTION_MIN_TOP20 = 12


@pytest.fixture(scope="module")
def model():
    if not _AVAILABLE:
        pytest.skip(f"SmolLM2-135M weights are not installed: {_REASON}")
    from harness.models.loaders import load_model

    return load_model(registry.get("smollm2-135m"), device="cpu", progress=False)


def _prompts(model, seed: int):
    from harness.data.ioi_dataset import TaskSpec, build_prompts

    return build_prompts(TaskSpec(task="ioi", style="wang", n_prompts=N_PROMPTS, seed=seed), model.tokenizer)


@pytest.fixture(scope="module")
def prompts(model):
    return _prompts(model, seed=0)


@pytest.fixture(scope="module")
def exact(model, prompts) -> ScanResult:
    """The full batched (exact) mean-ablation scan of the seed-0 prompts."""
    return scan_batched(model.bridge, prompts, "mean", progress=False)


@needs_smollm2
def test_clean_task_works(model, prompts, exact):
    clean = logit_diff(model.bridge, prompts)
    assert float(clean.mean()) > 0
    assert float((clean > 0).float().mean()) >= 0.9
    assert exact.clean_logit_diff == pytest.approx(float(clean.mean()), abs=1e-4)
    assert exact.clean_accuracy >= 0.9


@needs_smollm2
@pytest.mark.parametrize("method", ABLATION_METHODS)
def test_batched_equals_naive(model, prompts, method):
    naive = scan_naive(model.bridge, prompts, method, layers=EXACT_LAYERS, progress=False)
    batched = scan_batched(model.bridge, prompts, method, layers=EXACT_LAYERS, progress=False)
    assert len(batched.table) == len(EXACT_LAYERS) * 9
    assert naive.table["delta"].abs().max() > 0.1  # some head matters, so equality has teeth
    diff = np.abs(naive.table["delta"].to_numpy() - batched.table["delta"].to_numpy()).max()
    print(f"\n{method}: max |batched - naive| = {diff:.2e}")
    assert diff < 1e-4


def _ld_with_all_heads_ablated(model, prompts, layers: list[int]) -> float:
    values = ablation_values(model.bridge, prompts, "mean")

    def replace_all(layer: int):
        def hook(z, hook):
            return values.rows(layer, slice(None)).clone()

        return hook

    with torch.no_grad():
        hooks = [(z_name(layer), replace_all(layer)) for layer in layers]
        return float(logit_diff(model.bridge, prompts, fwd_hooks=hooks).mean())


@needs_smollm2
def test_ablating_the_top_layers_collapses_the_logit_diff(model, prompts, exact):
    clean = exact.clean_logit_diff
    top = _ld_with_all_heads_ablated(model, prompts, TOP_LAYERS)
    early = _ld_with_all_heads_ablated(model, prompts, [2])
    print(f"\nclean LD {clean:.3f}; all heads of layers 15-29 ablated: {top:.3f}; of layer 2: {early:.3f}")
    assert top < 0.25 * clean
    assert early > 0.8 * clean


@needs_smollm2
def test_head_ranking_is_stable_across_prompt_sets(model, prompts, exact):
    other = _prompts(model, seed=1)
    assert not set(other.clean_text) & set(prompts.clean_text)  # disjoint prompt sets
    second = scan_batched(model.bridge, other, "mean", progress=False)
    rho = agreement(exact, second)["spearman"]
    print(f"\nSpearman over all heads between prompt seeds 0 and 1: {rho:.3f}")
    assert rho > STABILITY_MIN_SPEARMAN


@needs_smollm2
def test_attribution_agrees_with_the_exact_scan(model, prompts, exact):
    approx = scan_attribution(model.bridge, prompts, "mean", progress=False)
    agree = agreement(exact, approx)
    print(f"\nattribution vs exact: Spearman {agree['spearman']:.3f}, top-20 overlap {agree['top_k_overlap']}/20")
    assert approx.clean_logit_diff == pytest.approx(exact.clean_logit_diff, abs=1e-4)
    assert agree["spearman"] > ATTRIBUTION_MIN_SPEARMAN
    assert agree["top_k_overlap"] >= ATTRIBUTION_MIN_TOP20


@needs_smollm2
def test_ig_screen_ranks_heads_at_least_as_well_as_attribution(model, prompts, exact):
    ig = scan_ig(model.bridge, prompts, "mean", progress=False)
    atp = scan_attribution(model.bridge, prompts, "mean", progress=False)
    by_ig, by_atp = agreement(exact, ig), agreement(exact, atp)
    print(f"\nIG (default m) vs exact: Spearman {by_ig['spearman']:.3f}, top-20 {by_ig['top_k_overlap']}/20; "
          f"attribution: {by_atp['spearman']:.3f}, {by_atp['top_k_overlap']}/20")
    assert by_ig["spearman"] >= by_atp["spearman"]
    assert by_ig["top_k_overlap"] >= by_atp["top_k_overlap"]
