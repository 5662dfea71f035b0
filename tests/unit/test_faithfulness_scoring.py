"""Logit differences with whole head sets ablated (harness.scoring.faithfulness) on a tiny seeded
twin, against a direct computation: a plain forward whose hooks ablate the complement of the set
by hand, head by head, with the full-vocabulary logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.models import registry
from harness.scoring import faithfulness as fs
from harness.scoring import ablation, readout
from test_head_scores_unit import N_HEADS, N_LAYERS, toy_bridge, toy_prompts

# the toy bridge's spec (measure takes a spec; the test hands it the loaded bridge and prompts)
TOY = registry.ModelSpec(name="toy", family="toy", hub_id="toy", architecture="LlamaForCausalLM", n_layers=N_LAYERS,
                         n_heads=N_HEADS, n_params=0, tokenizer="gpt2")

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
    values = ablation.ablation_values(bridge, prompts, method)

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
        return readout.logit_diff(bridge, prompts, fwd_hooks=hooks, full_logits=True).double().numpy()


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
        clean = readout.logit_diff(llama, prompts, full_logits=True).double().numpy()
    np.testing.assert_allclose(fs.set_logit_diffs(llama, prompts, full, progress=False)[0], clean, atol=1e-5)
    masks = np.stack([fs.keep_mask(N_LAYERS, N_HEADS, sorted(s)) for s in SETS])
    one_per_forward = fs.set_logit_diffs(llama, prompts, masks, memory_budget_mb=1e-6, progress=False)
    np.testing.assert_allclose(one_per_forward, fs.set_logit_diffs(llama, prompts, masks, progress=False), atol=1e-5)


def test_bad_masks_and_heads_are_refused(llama, prompts):
    with pytest.raises(ValueError, match="masks must be"):
        fs.set_logit_diffs(llama, prompts, np.ones((2, N_LAYERS + 1, N_HEADS), dtype=bool), progress=False)
    with pytest.raises(ValueError, match="outside the geometry"):
        fs.keep_mask(N_LAYERS, N_HEADS, [(N_LAYERS, 0)])


def test_measure_stores_and_extends_results(llama, prompts, tmp_path):
    """The run layer on a twin: m of each planned set is set_logit_diffs' mean (necessity = the set
    alone ablated), results are written, and a second call measures only the sets it lacks."""
    from types import SimpleNamespace

    import pandas as pd

    from harness.analysis import faithfulness as fa
    from harness.runs import faithfulness as runs

    table = pd.DataFrame({"layer": np.repeat(range(N_LAYERS), N_HEADS), "head": np.tile(range(N_HEADS), N_LAYERS),
                          "delta_ioi": np.linspace(-1, 1, N_LAYERS * N_HEADS)})
    loaded = SimpleNamespace(bridge=llama, device=torch.device("cpu"), dtype=torch.float32, fingerprint="twin")
    run = runs.FaithRun(method="mean", n_prompts=len(prompts), prompt_seed=0)
    plan = fa.plan_sets(table, N_LAYERS, N_HEADS, k_grid=[2], k_claim=2, n_random=2, n_random_curve=0, seed=0)
    results, meta = runs.measure(TOY, run, plan, root=tmp_path, loaded=loaded, prompts=prompts, progress=False)
    top = results[(results["kind"] == "top") & (results["ranking"] == "signed")].iloc[0]
    assert top["heads"] == "0.0 0.1"  # the two most negative deltas
    mask = fs.keep_mask(N_LAYERS, N_HEADS, [(0, 0), (0, 1)])
    direct = fs.set_logit_diffs(llama, prompts, np.stack([mask, ~mask]), progress=False).mean(1)
    nec = results[(results["kind"] == "necessity") & (results["ranking"] == "signed")].iloc[0]
    assert top["m"] == pytest.approx(direct[0], abs=1e-5) and nec["m"] == pytest.approx(direct[1], abs=1e-5)
    assert runs.stored("toy", "mean", tmp_path)[0].shape == results.shape
    first = meta["forward_sets"]
    more = fa.plan_sets(table, N_LAYERS, N_HEADS, k_grid=[2], k_claim=2, n_random=4, n_random_curve=0, seed=0)
    results2, meta2 = runs.measure(TOY, run, more, root=tmp_path, loaded=loaded, prompts=prompts, progress=False, chunk=1)
    assert len(results2) == len(results) + 2 and meta2["forward_sets"] == first + 2
    per_prompt = runs.stored_per_prompt("toy", "mean", tmp_path)
    assert per_prompt.shape == (len(results2), len(prompts))
    np.testing.assert_allclose(per_prompt.mean(1), results2["m"].to_numpy(float), atol=1e-5)
    # a run stopped between its two writes (the values first, then the CSV): the values of a set the CSV does
    # not name yet are cut off when read, and the next run keeps every earlier set's values
    np.savez_compressed(runs.per_prompt_path("toy", "mean", tmp_path), ld=np.vstack([per_prompt, per_prompt[:1] + 9]).astype(np.float32))
    assert runs.stored_per_prompt("toy", "mean", tmp_path).shape == per_prompt.shape
    # the table rescanned: its top sets change; a new plan replaces the stored top / necessity sets
    # (same places, other heads) instead of keeping both, and the random sets are not measured again
    rescanned = table.assign(delta_ioi=table["delta_ioi"].to_numpy()[::-1])
    again = fa.plan_sets(rescanned, N_LAYERS, N_HEADS, k_grid=[2], k_claim=2, n_random=4, n_random_curve=0, seed=0)
    results3, meta3 = runs.measure(TOY, run, again, root=tmp_path, loaded=loaded, prompts=prompts, progress=False)
    assert len(results3) == len(results2) and fa.stale_models(results3.assign(model="m"), rescanned.assign(model="m")) == {}
    top3 = results3[(results3["kind"] == "top") & (results3["ranking"] == "signed")]
    assert top3["heads"].tolist() == [fa.heads_text(fa.ranked_heads(rescanned, "signed")[:2])]
    assert meta3["forward_sets"] - meta2["forward_sets"] <= 4  # the top and necessity sets of two rankings
    per_prompt = runs.stored_per_prompt("toy", "mean", tmp_path)
    np.testing.assert_allclose(per_prompt.mean(1), results3["m"].to_numpy(float), atol=1e-5)


def test_counterfactual_values_are_each_prompts_own_corrupted_run(llama, prompts):
    """counterfactual = hook_z of the paired corrupted prompt, per prompt (checked on layer 1 against
    a plain recording), and the batched scan equals the naive loop under it."""
    from harness.scoring.batched import scan_batched
    from harness.scoring.naive import scan_naive

    values = ablation.ablation_values(llama, prompts, "counterfactual")
    recorded = {}

    def keep(z, hook):
        recorded["z"] = z.clone()

    with torch.no_grad():
        llama.run_with_hooks(torch.as_tensor(prompts.corrupt_tokens), fwd_hooks=[("blocks.1.attn.hook_z", keep)])
    np.testing.assert_allclose(values.rows(1, slice(None)).numpy(), recorded["z"].numpy(), atol=1e-6)
    assert not torch.equal(values.rows(1, slice(0, 1)), values.rows(1, slice(1, 2)))  # one value per prompt
    batched = scan_batched(llama, prompts, "counterfactual", progress=False).table["delta"].to_numpy()
    naive = scan_naive(llama, prompts, "counterfactual", progress=False).table["delta"].to_numpy()
    np.testing.assert_allclose(batched, naive, atol=1e-5)
    masks = np.stack([fs.keep_mask(N_LAYERS, N_HEADS, sorted(s)) for s in SETS])
    got = fs.set_logit_diffs(llama, prompts, masks, "counterfactual", progress=False)
    np.testing.assert_allclose(got[1], _by_hand(llama, prompts, "counterfactual", SETS[1]), atol=1e-5)
