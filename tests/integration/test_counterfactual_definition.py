"""The counterfactual ablation pinned by its definition (issue 29), on a seeded architecture twin of
pythia-70m (6 layers x 8 heads, random weights, no download), 6 prompts, CPU, a few seconds.

Definition: a head's counterfactual delta is the mean over prompts of LD(clean prompt, with that
head's hook_z replaced at every position by its hook_z on the prompt's OWN paired ABC-corrupted prompt)
minus the mean clean LD. Here one head's delta from the harness's batched scan (method
"counterfactual") is recomputed by hand with plain TransformerLens hooks: run the corrupted prompts,
cache the layer's hook_z, patch the head's slice into the clean run, read the logit difference with
the harness's readout. The "replication" prompt style has a single template, so all six prompts share
one mean-ablation group and the per-prompt value differs from the template mean: the test also checks
that the counterfactual delta is not the mean-ablation one (otherwise a scan that silently fell back
to the mean would pass). Patching from the clean prompt instead gives exactly 0, far from the scan's
value (seen red that way).
"""

from __future__ import annotations

import pytest
import torch

from harness.models import registry
from harness.data.ioi_dataset import TaskSpec, build_prompts
from harness.models.loaders import load_model
from harness.scoring.batched import scan_batched
from harness.scoring.geometry import z_name
from harness.scoring.readout import logit_diff

pytestmark = pytest.mark.integration

MODEL = "pythia-70m"
LAYER = 3
N_PROMPTS = 6
TOLERANCE = 1e-5  # float32 rounding of two different forward paths; the deltas are about 1e-2


@pytest.fixture(scope="module")
def twin():
    return load_model(registry.get(MODEL), weights="twin", seed=0, device="cpu", progress=False)


@pytest.fixture(scope="module")
def prompts(twin):
    return build_prompts(TaskSpec(task="ioi", style="replication", n_prompts=N_PROMPTS, seed=0), twin.tokenizer)


def patched_delta_by_hand(bridge, prompts, layer: int, head: int) -> float:
    """Mean LD with head (layer, head) patched from each prompt's corrupted run, minus the mean clean LD."""
    corrupt = torch.as_tensor(prompts.corrupt_tokens, dtype=torch.long)
    with torch.no_grad():
        _, cache = bridge.run_with_cache(corrupt, names_filter=lambda name: name == z_name(layer))
        source = cache[z_name(layer)][:, :, head].clone()  # (N, T, d_head): each prompt's own corruption

        def patch(z, hook):
            z[:, :, head] = source[:, : z.shape[1]]
            return z

        clean = logit_diff(bridge, prompts, full_logits=True)
        patched = logit_diff(bridge, prompts, fwd_hooks=[(z_name(layer), patch)], full_logits=True)
    return float(patched.double().mean() - clean.double().mean())


def test_counterfactual_delta_of_one_head_equals_the_hand_computed_patch(twin, prompts):
    assert len(set(prompts.template_id)) == 1  # one mean-ablation group: mean and counterfactual differ
    assert (prompts.tokens != prompts.corrupt_tokens).any(1).all()  # every prompt has a real corruption
    scan = scan_batched(twin.bridge, prompts, "counterfactual", layers=[LAYER], progress=False).table
    mean = scan_batched(twin.bridge, prompts, "mean", layers=[LAYER], progress=False).table
    head = int(scan["delta"].abs().idxmax())  # the head of the layer that matters most, so equality has teeth
    by_hand = patched_delta_by_hand(twin.bridge, prompts, LAYER, head)
    scanned = float(scan.loc[head, "delta"])
    print(f"\nL{LAYER}H{head}: scan {scanned:+.6f}, by hand {by_hand:+.6f}, mean ablation {float(mean.loc[head, 'delta']):+.6f}")
    assert int(scan.loc[head, "layer"]) == LAYER and int(scan.loc[head, "head"]) == head
    assert abs(scanned) > 100 * TOLERANCE
    assert abs(float(mean.loc[head, "delta"]) - scanned) > 100 * TOLERANCE
    assert by_hand == pytest.approx(scanned, abs=TOLERANCE)
