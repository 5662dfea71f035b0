"""Logit differences with whole head sets ablated (harness.scoring.faithfulness) on a tiny seeded
twin, against a direct computation: a plain forward whose hooks ablate the complement of the set
by hand, head by head, with the full-vocabulary logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.scoring import faithfulness as fs
from harness.scoring import head_scores as hs
from test_head_scores_unit import N_HEADS, N_LAYERS, toy_bridge, toy_prompts

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def llama():
    return toy_bridge("LlamaForCausalLM")


@pytest.fixture(scope="module")
def prompts():
    return toy_prompts()


def _by_hand(bridge, prompts, method: str, kept: set[tuple[int, int]]) -> np.ndarray:
    """Each prompt's logit difference with every head NOT in `kept` replaced by its ablation value,
    one plain hook per layer setting the heads one at a time, read off the full logits."""
    values = hs.ablation_values(bridge, prompts, method)

    def hook_for(layer: int):
        replacement = values.rows(layer, slice(None))

        def hook(z, hook):
            for head in range(N_HEADS):
                if (layer, head) not in kept:
                    z[:, :, head] = replacement[:, : z.shape[1], head]
            return z

        return hook

    hooks = [(f"blocks.{layer}.attn.hook_z", hook_for(layer)) for layer in range(N_LAYERS)]
    with torch.no_grad():
        return hs.logit_diff(bridge, prompts, fwd_hooks=hooks, full_logits=True).double().numpy()


SETS = [set(), {(0, 1)}, {(0, 0), (1, 2), (2, 3)}, {(l, h) for l in range(N_LAYERS) for h in range(N_HEADS)} - {(1, 1)}]


@pytest.mark.parametrize("method", ["mean", "zero"])
def test_sets_equal_the_complement_ablated_by_hand(llama, prompts, method):
    masks = np.stack([fs.keep_mask(N_LAYERS, N_HEADS, sorted(s)) for s in SETS])
    got = fs.set_logit_diffs(llama, prompts, masks, method, progress=False)
    assert got.shape == (len(SETS), len(prompts))
    for i, kept in enumerate(SETS):
        np.testing.assert_allclose(got[i], _by_hand(llama, prompts, method, kept), atol=1e-5)
    # the sets differ from one another: the check above is not comparing constants
    assert np.abs(got[0] - got[-1]).max() > 1e-2


def test_full_mask_is_the_clean_model_and_packing_does_not_matter(llama, prompts):
    full = np.ones((1, N_LAYERS, N_HEADS), dtype=bool)
    with torch.no_grad():
        clean = hs.logit_diff(llama, prompts, full_logits=True).double().numpy()
    np.testing.assert_allclose(fs.set_logit_diffs(llama, prompts, full, progress=False)[0], clean, atol=1e-5)
    masks = np.stack([fs.keep_mask(N_LAYERS, N_HEADS, sorted(s)) for s in SETS])
    one_per_forward = fs.set_logit_diffs(llama, prompts, masks, memory_budget_mb=1e-6, progress=False)
    np.testing.assert_allclose(one_per_forward, fs.set_logit_diffs(llama, prompts, masks, progress=False), atol=1e-5)


def test_bad_masks_and_heads_are_refused(llama, prompts):
    with pytest.raises(ValueError, match="masks must be"):
        fs.set_logit_diffs(llama, prompts, np.ones((2, N_LAYERS + 1, N_HEADS), dtype=bool), progress=False)
    with pytest.raises(ValueError, match="outside the geometry"):
        fs.keep_mask(N_LAYERS, N_HEADS, [(N_LAYERS, 0)])
