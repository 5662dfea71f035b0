"""Role diagnostics (harness.scoring.roles) on seeded architecture twins (no weights needed).

- prev-token, duplicate-token and induction scores equal TransformerLens's head_detector.detect_head
  ("mul") on the same sequence: detect_head sums the pattern entries of its detection pattern over all
  T query rows and divides by T; ours averages the second half's L rows, so ours = TL x T / L. The named
  duplicate_token_head / induction_head patterns are used as they are (the random half has distinct
  tokens, so they mark exactly offsets L and L-1 of the second half); previous-token uses a detection
  pattern of the second half's offset-1 entries (TL's named one covers the first half too).
- the direct logit attribution of a layer's heads sums to that of the layer's attention output read at
  the attention hook (Gemma: after its post-attention norm), so the per-head split is exact.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.data.ioi_dataset import ZOO_NAMES, TaskSpec, build_prompts
from harness.models import registry
from harness.models.loaders import load_model
from harness.scoring import roles

pytestmark = pytest.mark.integration
L = 20


@pytest.fixture(scope="module", params=["smollm2-135m", "gemma-3-270m"])
def twin(request):
    return load_model(registry.get(request.param), weights="twin", seed=0, progress=False)


def name_sequence(loaded):
    rng = np.random.default_rng(0)
    names = [ZOO_NAMES[i] for i in rng.choice(len(ZOO_NAMES), L, replace=False)]
    text = "".join(" " + n for n in names + names)
    tokens = loaded.bridge.to_tokens(text)
    prefix = tokens.shape[1] - 2 * L
    assert prefix in (0, 1) and torch.equal(tokens[0, prefix : prefix + L], tokens[0, prefix + L :])
    return text, tokens, prefix


def test_repeat_scores_equal_transformer_lens_head_detector(twin):
    from transformer_lens.head_detector import detect_head

    text, tokens, prefix = name_sequence(twin)
    T = tokens.shape[1]
    ours = roles.repeat_scores(twin.bridge, tokens.cpu().numpy(), L, prefix, progress=False)
    prev = torch.zeros(T, T)
    for i in range(prefix + L, prefix + 2 * L):
        prev[i, i - 1] = 1.0
    references = {
        0: detect_head(twin.bridge, text, prev, error_measure="mul"),
        1: detect_head(twin.bridge, text, "duplicate_token_head", error_measure="mul"),
        2: detect_head(twin.bridge, text, "induction_head", error_measure="mul"),
    }
    for i, tl in references.items():
        np.testing.assert_allclose(ours[i], tl.double().numpy() * T / L, rtol=1e-4, atol=1e-6, err_msg=roles.REPEAT_COLUMNS[i])


def test_head_dla_sums_to_the_layers_attention_output(twin):
    bridge = twin.bridge
    spec = TaskSpec(task="ioi", style="zoo", n_prompts=6, seed=0, prepend_bos=registry.get(twin.spec.name).prepend_bos)
    prompts = build_prompts(spec, twin.tokenizer)
    cap = roles.ioi_capture(bridge, prompts, progress=False)
    _, cache = bridge.run_with_cache(torch.as_tensor(prompts.tokens))
    r, last = np.arange(len(prompts)), torch.as_tensor(prompts.last_pos)
    lm = bridge.unembed.original_component.weight
    direction = lm[torch.as_tensor(prompts.correct_id)] - lm[torch.as_tensor(prompts.distractor_id)]
    final = cache["ln_final.hook_in"][r, last]
    gain = roles._norm_gain(bridge.ln_final, bridge.cfg.d_model, final)
    for layer in (0, bridge.cfg.n_layers - 1):
        out = cache[f"blocks.{layer}.attn.hook_out"][r, last]
        post = roles._post_attention_norm(bridge, layer)
        if post is not None:
            out = post(out[:, None, :])[:, 0]
        expected = ((out * gain / roles._rms(final)) * direction).sum(-1).mean()
        assert float(cap.dla[layer].sum()) == pytest.approx(float(expected), rel=1e-3, abs=1e-5)


def test_role_table_shape_and_ranges(twin):
    spec = TaskSpec(task="ioi", style="zoo", n_prompts=4, seed=0, prepend_bos=registry.get(twin.spec.name).prepend_bos)
    prompts = build_prompts(spec, twin.tokenizer)
    table = roles.role_table(twin.bridge, prompts, roles.RepeatSpec(n_seqs=2, length=8), registry.get(twin.spec.name).prepend_bos,
                             copy_names=6, progress=False)
    assert len(table) == twin.spec.n_layers * twin.spec.n_heads
    assert list(table.columns) == ["layer", "head", *roles.ROLE_COLUMNS]
    bounded = [c for c in roles.ROLE_COLUMNS if c != roles.DLA_COLUMN]
    assert ((table[bounded] >= 0) & (table[bounded] <= 1)).all().all()
    assert (table[["attn_io", "attn_s1", "attn_s2"]].sum(axis=1) <= 1 + 1e-5).all()
