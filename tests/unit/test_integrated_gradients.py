"""The IG screen on seeded toy Llama models (no pretrained weights): it equals the exact ablation
effect where LD is linear in z, tends to it as m grows where a layer has one head, obeys
completeness for a layer's heads together, and plugs into the dispatcher like the other scans."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.scoring.attribution import scan_attribution
from harness.scoring.batched import scan_batched
from harness.scoring.geometry import z_name
from harness.scoring.head_scores import score_heads
from harness.scoring.ablation import ablation_values
from harness.scoring.integrated_gradients import iter_ig_layers, midpoints, scan_ig
from harness.scoring.readout import logit_diff

pytestmark = pytest.mark.unit

VOCAB = 100


def _bridge(n_layers: int, n_heads: int, *, linear: bool = False):
    """A seeded random Llama (GQA when n_heads > 1) as a frozen TransformerBridge. `linear=True`:
    every RMSNorm made an identity to float32 precision (eps 1e10 and weight 1e5: x / sqrt(mean x^2
    + 1e10) * 1e5 = x (1 - O(1e-10))) and the MLP's output zeroed, so with one layer the logit
    difference is linear in the layer's z (z -> o_proj -> residual -> unembedding)."""
    from transformer_lens.model_bridge.sources._bridge_builder import build_bridge_from_module
    from transformers import AutoModelForCausalLM, LlamaConfig

    config = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=n_layers,
                         num_attention_heads=n_heads, num_key_value_heads=max(1, n_heads // 2),
                         initializer_range=0.3, vocab_size=VOCAB, max_position_embeddings=64,
                         rms_norm_eps=1e10 if linear else 1e-6)  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        model = AutoModelForCausalLM.from_config(config, attn_implementation="eager").eval()
    with torch.no_grad():
        if linear:
            for name, parameter in model.named_parameters():
                if "norm" in name:
                    parameter.fill_(1e5)
                if "down_proj" in name:
                    parameter.zero_()
    bridge = build_bridge_from_module(model, "LlamaForCausalLM", hf_config=model.config, model_name="toy-ig")
    for module in (bridge, model):
        for parameter in torch.nn.Module.parameters(module):
            parameter.requires_grad_(False)
    return bridge


def _prompts():
    import test_head_scores_unit as toy  # the same toy PromptSet the other scans are tested on

    return toy.toy_prompts()


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _deltas(result) -> np.ndarray:
    return result.table["delta"].to_numpy()


def test_midpoints():
    assert midpoints(1).tolist() == [0.5]
    assert midpoints(4).tolist() == [0.125, 0.375, 0.625, 0.875]
    with pytest.raises(ValueError, match=">= 1"):
        midpoints(0)


@pytest.mark.parametrize("path", ["all", "layer"])
@pytest.mark.parametrize("method", ["mean", "zero"])
def test_exact_where_the_effect_is_linear_in_z(path, method):
    bridge, prompts = _bridge(1, 4, linear=True), _prompts()
    exact = _deltas(scan_batched(bridge, prompts, method, progress=False))
    assert np.abs(exact).max() > 0.05  # the heads matter: the equality below means something
    for steps in (1, 3):
        ig = _deltas(scan_ig(bridge, prompts, method, steps=steps, path=path, progress=False))
        np.testing.assert_allclose(ig, exact, rtol=1e-4, atol=1e-5 * np.abs(exact).max())


def test_tends_to_the_exact_effect_as_m_grows_with_one_head_per_layer():
    """With one head per layer the "layer" path moves that head alone, so by the fundamental theorem
    of calculus IG -> the exact effect; the midpoint rule's error falls like 1/m^2 once m resolves
    the path (layer 0 of this twin is far from linear: m = 1 even has the wrong sign there)."""
    bridge, prompts = _bridge(3, 1), _prompts()
    exact = _deltas(scan_batched(bridge, prompts, "mean", progress=False))
    errors = [np.abs(_deltas(scan_ig(bridge, prompts, "mean", steps=m, path="layer", progress=False)) - exact).max()
              for m in (1, 4, 16, 64, 256)]
    scale = np.abs(exact).max()
    assert errors[0] > 0.1 * scale  # nonlinear enough that m matters
    assert errors[-1] < errors[-2] < errors[-3], errors
    assert errors[-1] < errors[-2] / 16 * 2  # at least ~1/m^2 between m = 64 and 256 (16x), within 2x
    assert errors[-1] < 1e-4 * scale, errors


def test_a_layers_heads_sum_to_ablating_the_whole_layer():
    """Completeness of the "layer" path: its heads' estimates add up to LD(every head of the layer
    ablated) - LD(clean), to the midpoint rule's error."""
    bridge, prompts = _bridge(3, 4), _prompts()
    values = ablation_values(bridge, prompts, "mean")
    clean = logit_diff(bridge, prompts).double().mean()
    for layer, ablated, clean_rows in iter_ig_layers(bridge, prompts, "mean", steps=32, path="layer", progress=False):
        replacement = values.rows(layer, slice(None))

        def all_heads(z, hook, replacement=replacement):
            return replacement[:, : z.shape[1]].clone()

        whole = logit_diff(bridge, prompts, fwd_hooks=[(z_name(layer), all_heads)]).double().mean() - clean
        summed = (ablated - clean_rows[None, :]).mean(-1).sum()
        assert abs(float(summed - whole)) < 2e-3 * max(1.0, abs(float(whole))), (layer, float(summed), float(whole))


def test_m1_all_differs_from_attribution_patching_and_dispatches():
    """m = 1 evaluates the gradient at the path's midpoint, attribution patching at the clean point:
    on a nonlinear model they differ; score_heads reaches the scan with its options."""
    bridge, prompts = _bridge(3, 4), _prompts()
    ig = score_heads(bridge, prompts, "mean", "attribution_ig", steps=1, path="all", progress=False)
    atp = scan_attribution(bridge, prompts, "mean", progress=False)
    assert ig.algorithm == "attribution_ig" and ig.ablated_per_prompt.shape == (3, 4, len(prompts.tokens))
    assert np.abs(_deltas(ig) - _deltas(atp)).max() > 1e-4
    with pytest.raises(ValueError, match="IG path"):
        score_heads(bridge, prompts, "mean", "attribution_ig", path="diagonal", progress=False)


def test_layers_subset_and_memory_chunking_do_not_change_the_numbers():
    bridge, prompts = _bridge(3, 4), _prompts()
    for path in ("all", "layer"):
        full = scan_ig(bridge, prompts, "mean", steps=4, path=path, progress=False).table
        tight = scan_ig(bridge, prompts, "mean", steps=4, path=path, memory_budget_mb=0.05, progress=False).table
        np.testing.assert_allclose(tight["delta"], full["delta"], rtol=1e-5, atol=1e-6)
        part = scan_ig(bridge, prompts, "mean", steps=4, path=path, layers=[1, 2], progress=False).table
        np.testing.assert_allclose(part["delta"], full[full["layer"] >= 1]["delta"], rtol=1e-5, atol=1e-6)
