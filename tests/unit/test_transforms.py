"""The weights transforms of the known-answer controls (harness.models.transforms) on seeded tiny twins of
SmolLM2's architecture (Llama, grouped-query attention) and Gemma 3's (grouped-query attention, sliding and
full layers, extra norms): permute-heads and insert-identity leave the logits as they were, every head's
output (hook_z) sits where the true map says, and knocked-out heads write nothing."""

from __future__ import annotations

import pytest
import torch

from harness.models import transforms
from harness.models.loaders import derive_module, kv_heads
from harness.scoring.geometry import z_name

pytestmark = pytest.mark.unit

INIT_SCALE = 0.3  # large weights, so heads matter and an equality at 1e-5 means something
TOKENS = torch.tensor([[5, 17, 42, 8, 99, 23, 61, 7, 30, 12], [3, 71, 14, 56, 9, 88, 40, 2, 19, 65]])


def _config(arch: str):
    from transformers import AutoConfig

    if arch == "llama":  # SmolLM2's shape: 3 query heads per KV head
        return AutoConfig.for_model(model_type="llama", hidden_size=48, intermediate_size=96, num_hidden_layers=4,
                                    num_attention_heads=6, num_key_value_heads=2, vocab_size=100,
                                    max_position_embeddings=64, initializer_range=INIT_SCALE, tie_word_embeddings=True)
    # Gemma 3's: q/k norms, four norms a block, sliding and full layers (window smaller than the prompt)
    return AutoConfig.for_model(model_type="gemma3_text", hidden_size=48, intermediate_size=96, num_hidden_layers=4,
                                num_attention_heads=4, num_key_value_heads=2, head_dim=12, query_pre_attn_scalar=12,
                                sliding_window=4, layer_types=["sliding_attention", "full_attention"] * 2,
                                vocab_size=100, max_position_embeddings=64, initializer_range=INIT_SCALE,
                                tie_word_embeddings=True)


ARCHS = {"llama": "LlamaForCausalLM", "gemma3": "Gemma3ForCausalLM"}


def _model(arch: str):
    from transformers import AutoModelForCausalLM

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(_config(arch), attn_implementation="eager")
        for name, parameter in model.named_parameters():  # Gemma's norms start at zero scale offsets
            if "norm" in name:
                parameter.data.normal_(0.0, 0.3)
    return model.eval()


def _bridge(model, arch: str):
    from transformer_lens.model_bridge.sources._bridge_builder import build_bridge_from_module

    bridge = build_bridge_from_module(model, ARCHS[arch], hf_config=model.config, model_name=f"tiny-{arch}")
    bridge.eval()
    return bridge


def _run(model, arch: str):
    """(logits, {layer: hook_z (batch, pos, heads, d_head)}) of `model` on TOKENS, through the bridge."""
    bridge = _bridge(model, arch)
    with torch.no_grad():
        logits, cache = bridge.run_with_cache(TOKENS, names_filter=lambda name: name.endswith("attn.hook_z"))
    n_layers = model.config.num_hidden_layers
    return logits, {layer: cache[z_name(layer)] for layer in range(n_layers)}


def _geometry(model) -> transforms.Geometry:
    config = model.config
    return int(config.num_hidden_layers), int(config.num_attention_heads), kv_heads(config)


def _derive(arch: str, name: str, params: dict):
    base = _model(arch)
    checked = transforms.check_params(name, params, _geometry(base))
    truth = transforms.true_map(name, checked, _geometry(base))
    derived = derive_module(_model(arch), name, checked)
    return base, derived, truth


@pytest.mark.parametrize("arch", ARCHS)
def test_permute_heads_keeps_the_logits_and_moves_every_head_where_the_map_says(arch):
    base, derived, truth = _derive(arch, "permute-heads", {"seed": 0})
    base_logits, base_z = _run(base, arch)
    logits, z = _run(derived, arch)
    assert torch.allclose(logits, base_logits, atol=1e-5, rtol=1e-5)
    assert (truth["layer"] == truth["tgt_layer"]).all() and (truth["head"] != truth["tgt_head"]).all()  # every head moved
    for row in truth.itertuples():
        assert torch.allclose(z[row.tgt_layer][:, :, row.tgt_head], base_z[row.layer][:, :, row.head], atol=1e-5)
    # and a head's output is not where it was (the check above can fail)
    layer, head = int(truth["layer"].iloc[0]), int(truth["head"].iloc[0])
    assert not torch.allclose(z[layer][:, :, head], base_z[layer][:, :, head], atol=1e-3)


def test_permute_heads_keeps_kv_groups_together():
    geometry = (3, 9, 3)  # SmolLM2's layer: 9 query heads, 3 KV heads
    for src in transforms.head_sources(geometry, seed=4):
        groups = src.reshape(3, 3) // 3
        assert (groups == groups[:, :1]).all()  # a derived group takes one base group whole
        assert sorted(src) == list(range(9)) and not (src == range(9)).any()
    one_group = transforms.head_sources((2, 4, 1), seed=0)  # Gemma 3 270m: one KV head
    assert all(sorted(src) == [0, 1, 2, 3] for src in one_group)


@pytest.mark.parametrize("arch", ARCHS)
def test_insert_identity_keeps_the_logits_and_shifts_layers_as_the_map_says(arch):
    base, derived, truth = _derive(arch, "insert-identity", {"at": [3, 0, 2]})
    assert derived.config.num_hidden_layers == 7
    if arch == "gemma3":  # each base layer keeps its attention type; inert blocks take their neighbour's
        assert derived.config.layer_types == ["sliding_attention", "sliding_attention", "full_attention",
                                              "sliding_attention", "sliding_attention", "full_attention", "full_attention"]
    base_logits, base_z = _run(base, arch)
    logits, z = _run(derived, arch)
    assert torch.allclose(logits, base_logits, atol=1e-5, rtol=1e-5)
    assert sorted(set(truth["tgt_layer"])) == [1, 2, 4, 6]
    for row in truth.itertuples():
        assert torch.allclose(z[row.tgt_layer][:, :, row.tgt_head], base_z[row.layer][:, :, row.head], atol=1e-5)
    for inert in (0, 3, 5):
        assert float(z[inert].abs().max()) == 0.0  # inert blocks: zero values, zero output


@pytest.mark.parametrize("arch", ARCHS)
def test_knockout_zeroes_the_listed_heads_outputs_and_nothing_else(arch):
    base, derived, truth = _derive(arch, "knockout", {"heads": ["1.2", "3.0"]})
    base_state = base.state_dict()
    state = {key: value.detach().clone() for key, value in derived.state_dict().items()}  # before the bridge wraps it
    changed = [key for key, value in state.items() if not torch.equal(value, base_state[key])]
    assert changed == ["model.layers.1.self_attn.o_proj.weight", "model.layers.3.self_attn.o_proj.weight"]
    gone = {(1, 2), (3, 0)}
    assert set(map(tuple, truth[truth["tgt_layer"].isna()][["layer", "head"]].to_numpy().tolist())) == gone
    _, z = _run(derived, arch)
    n_heads = derived.config.num_attention_heads
    for layer in range(derived.config.num_hidden_layers):
        o_proj = state[f"model.layers.{layer}.self_attn.o_proj.weight"]
        size = o_proj.shape[1] // n_heads
        for head in range(n_heads):
            written = z[layer][:, :, head] @ o_proj[:, head * size:(head + 1) * size].T  # hook_z through O
            assert (float(written.abs().max()) == 0.0) == ((layer, head) in gone)


def test_parameters_are_checked_in_one_line():
    geometry = (4, 6, 2)
    cases = [
        ("permute-heads", {}, "missing seed"),
        ("permute-heads", {"seed": "0"}, "seed must be int"),
        ("permute-heads", {"seed": 0, "at": [1]}, "unknown at"),
        ("insert-identity", {"at": [5]}, "at must list base layer indices in 0..4"),
        ("insert-identity", {"at": []}, "at must list"),
        ("knockout", {"heads": ["4.0"]}, "outside 4 layers x 6 heads"),
        ("knockout", {"heads": ["1-2"]}, "'L.H' strings"),
        ("knockout", {"heads": ["1.2", "1.2"]}, "distinct"),
        ("rotate", {}, "unknown transform 'rotate'"),
    ]
    for name, params, message in cases:
        with pytest.raises(ValueError, match=message) as err:
            transforms.check_params(name, params, geometry)
        assert "\n" not in str(err.value)
    checked = transforms.check_params("knockout", {"heads": ["3.1", "0.5"]}, geometry)
    assert checked == (("heads", ((0, 5), (3, 1))),)
    assert transforms.label("knockout", checked) == "knockout(heads=0.5/3.1)"
    assert transforms.label("insert-identity", transforms.check_params("insert-identity", {"at": [4, 0]}, geometry)) == \
        "insert-identity(at=0/4)"
