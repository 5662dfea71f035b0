"""Multiply-add counts of the head scans (harness.scan_flops): tiny geometries counted by hand, the
config reader on plain objects and on real TransformerBridge configs, SmolLM2's ordering
lower bound <= ours <= naive, and the bench's FLOP lines."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from harness.data.designs import builtin
from harness.scoring.scan_flops import (
    Geometry,
    ScanFlops,
    geometry_from_cfg,
    geometry_from_hf_config,
    ig_flops,
    matmul_shapes,
    scan_flops,
)

pytestmark = pytest.mark.unit

# 2 layers, 2 query heads sharing 1 key/value head, d_head 2, d_model 4, plain (2-matrix) MLP of 8,
# vocabulary 10.
TINY = Geometry(n_layers=2, n_heads=2, d_head=2, d_model=4, d_mlp=8, d_vocab=10, n_kv_heads=1)

# SmolLM2-135M (harness.registry's hf_config): Llama, GQA 9/3, gated MLP, tied 49152-token vocabulary.
SMOLLM2 = Geometry(n_layers=30, n_heads=9, d_head=64, d_model=576, d_mlp=1536, d_vocab=49152, n_kv_heads=3, gated=True)
# last_pos + 1 of the bench's prompt set: TaskSpec("ioi", "wang", n_prompts=32, seed=0), SmolLM2 tokenizer.
BENCH_LENGTHS = [15, 19, 16, 15, 17, 15, 20, 15, 14, 14, 15, 14, 16, 16, 16, 15,
                 15, 20, 16, 16, 17, 16, 15, 17, 17, 16, 14, 19, 17, 15, 14, 17]  # fmt: skip


def test_tiny_plain_geometry_by_hand():
    # Per token: Q 4*2*2 = 16, K and V 2*4*1*2 = 16, O 2*2*4 = 16, MLP 2*4*8 = 64; dense 112.
    # Attention at T = 3 (causal: 1 + 2 + 3 = 6 query-key pairs), scores + weighted sum: 2*2*2*6 = 48.
    block = 3 * 112 + 48  # 384
    # naive, per head: 2 blocks + full unembedding at 3 positions (3*4*10 = 120); 4 heads.
    naive = 4 * (2 * block + 120)  # 3552
    # ours: layer 0 runs 2 blocks, layer 1 one; then the two unembedding columns 2*4 = 8; 2 heads each.
    ours = 2 * (2 * block + 8) + 2 * (block + 8)  # 2336
    # lower bound, layer 0: MLP 0 at 3 positions (192); no middle layers; layer 1 for the last
    # position: K, V at 3 positions (48), Q (16), one query over 3 keys (2*2*2*3 = 24), O (16),
    # MLP (64); then 8. Layer 1 (the last): its MLP at the last position (64) and 8.
    lower = 2 * (192 + 48 + 16 + 24 + 16 + 64 + 8) + 2 * (64 + 8)  # 880
    assert (naive, ours, lower) == (3552, 2336, 880)
    result = scan_flops(TINY, [3])
    assert result == ScanFlops(naive=3552, ours=2336, lower_bound=880)
    assert result.naive_over_ours == pytest.approx(3552 / 2336)
    assert result.naive_over_lower_bound == pytest.approx(3552 / 880)
    assert result.as_dict()["naive_over_lower_bound"] == pytest.approx(3552 / 880)


def test_tiny_gated_geometry_with_middle_layer_by_hand():
    # 3 layers, 1 head, no grouping (n_kv_heads None = n_heads), d_head 2, d_model 2, gated MLP of 3.
    g = Geometry(n_layers=3, n_heads=1, d_head=2, d_model=2, d_mlp=3, d_vocab=5, gated=True)
    # Per token: Q 2*1*2 = 4, K+V 2*2*1*2 = 8, O 4, MLP 3*2*3 = 18; dense 34. T = 2: attention
    # 2*1*2*(1 + 2) = 12; a block 2*34 + 12 = 80. Full unembedding 2*2*5 = 20; two columns 4.
    naive = 3 * (3 * 80 + 20)  # one head per layer: 780
    ours = (3 * 80 + 4) + (2 * 80 + 4) + (80 + 4)  # 492
    last = 2 * 8 + 4 + 2 * 1 * 2 * 2 + 4 + 18  # last layer for the last position: 50
    lower = (2 * 18 + 80 + last + 4) + (2 * 18 + last + 4) + (18 + 4)  # 170 + 90 + 22 = 282
    assert scan_flops(g, [2]) == ScanFlops(naive, ours, lower) == ScanFlops(780, 492, 282)
    # Only the last layer scanned: the naive loop still runs everything per head.
    assert scan_flops(g, [2], layers=[2]) == ScanFlops(260, 84, 22)
    # Sums over prompts: two prompts of length 2 cost twice one.
    assert scan_flops(g, [2, 2]) == ScanFlops(2 * 780, 2 * 492, 2 * 282)


def test_padded_widths_change_only_the_padded_counts():
    # The naive loop run at width 4 (a right-padded batch) for a prompt of 3 tokens:
    # a block 4*112 + 2*2*(4*5) = 528, unembedding 4*4*10 = 160.
    padded = scan_flops(TINY, [3], naive_widths=[4])
    assert padded == ScanFlops(naive=4 * (2 * 528 + 160), ours=2336, lower_bound=880)
    both = scan_flops(TINY, [3], naive_widths=[4], scan_widths=[4])
    assert both.ours == 2 * (2 * 528 + 8) + 2 * (528 + 8) and both.lower_bound == 880


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lengths": []},
        {"lengths": [0]},
        {"lengths": [3], "naive_widths": [2]},
        {"lengths": [3, 3], "scan_widths": [3]},
        {"lengths": [3], "layers": [2]},
        {"lengths": [3], "layers": []},
    ],
)
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        scan_flops(TINY, **kwargs)


def test_geometry_from_cfg_names_and_fallbacks():
    bridge_like = SimpleNamespace(
        n_layers=30, n_heads=9, d_head=64, d_model=576, d_mlp=1536, d_vocab=49152, d_vocab_out=-1,
        n_key_value_heads=3, gated_mlp=True, attn_only=False, act_fn="silu",
    )  # fmt: skip
    assert geometry_from_cfg(bridge_like) == SMOLLM2
    # A mapping with the same names; missing n_key_value_heads, d_mlp and gated_mlp fall back.
    plain = {"n_layers": 2, "n_heads": 2, "d_head": 2, "d_model": 4, "d_vocab": 10}
    g = geometry_from_cfg(plain)
    assert (g.kv_heads, g.d_mlp, g.gated) == (2, 16, False)
    assert geometry_from_cfg({**plain, "n_key_value_heads": None, "d_mlp": -1}).kv_heads == 2
    # n_heads from d_model // d_head (TransformerLens's -1), d_head from d_model // n_heads.
    assert geometry_from_cfg({**plain, "n_heads": -1}).n_heads == 2
    assert geometry_from_cfg({**plain, "d_head": None}).d_head == 2
    # d_vocab_out wins over d_vocab when set.
    assert geometry_from_cfg({**plain, "d_vocab_out": 12}).d_vocab == 12
    # Gated without a gated_mlp flag: from act_fn or the architecture name.
    assert geometry_from_cfg({**plain, "act_fn": "swiglu"}).gated
    assert geometry_from_cfg({**plain, "original_architecture": "LlamaForCausalLM"}).gated
    assert not geometry_from_cfg({**plain, "original_architecture": "GPT2LMHeadModel"}).gated
    # An explicit flag wins over the name; overrides win over everything.
    assert not geometry_from_cfg({**plain, "gated_mlp": False, "original_architecture": "LlamaForCausalLM"}).gated
    assert geometry_from_cfg(plain, gated=True, d_vocab=7) == Geometry(2, 2, 2, 4, 16, 7, gated=True)
    # Nothing to fall back on: a clear error, which an override fixes.
    no_vocab = {**plain, "d_vocab": -1}
    with pytest.raises(ValueError, match="d_vocab"):
        geometry_from_cfg(no_vocab)
    assert geometry_from_cfg(no_vocab, d_vocab=10) == g


@pytest.mark.parametrize(
    ("arch", "expected"),
    [
        ("LlamaForCausalLM", Geometry(2, 4, 16, 64, 128, 100, n_kv_heads=2, gated=True)),
        ("GPT2LMHeadModel", Geometry(2, 4, 16, 64, 256, 100, n_kv_heads=None, gated=False)),
    ],
)
def test_geometry_from_a_real_bridge_cfg(arch, expected):
    """The attribute names and values TransformerBridge configs actually carry."""
    torch = pytest.importorskip("torch")
    from transformer_lens.model_bridge.sources._bridge_builder import build_bridge_from_module
    from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig

    if arch == "LlamaForCausalLM":
        config = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                             num_key_value_heads=2, vocab_size=100, max_position_embeddings=32)  # fmt: skip
    else:
        config = GPT2Config(n_embd=64, n_layer=2, n_head=4, n_positions=32, vocab_size=100)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(config, attn_implementation="eager").eval()
    bridge = build_bridge_from_module(model, arch, hf_config=model.config, model_name=f"toy-{arch}")
    assert geometry_from_cfg(bridge.cfg) == expected


def test_smollm2_lower_bound_below_ours_below_naive():
    from harness.models import registry

    hf = registry.get("smollm2-135m").hf_config
    assert (SMOLLM2.n_layers, SMOLLM2.n_heads, SMOLLM2.kv_heads) == (
        hf["num_hidden_layers"], hf["num_attention_heads"], hf["num_key_value_heads"],
    )  # fmt: skip
    assert (SMOLLM2.d_model, SMOLLM2.d_mlp, SMOLLM2.d_vocab) == (
        hf["hidden_size"], hf["intermediate_size"], hf["vocab_size"],
    )  # fmt: skip
    assert SMOLLM2.d_head * SMOLLM2.n_heads == SMOLLM2.d_model

    unpadded = scan_flops(SMOLLM2, BENCH_LENGTHS)
    # As the bench runs them: the naive loop at the batch's width (20), the batched scan with its
    # length segments (the lengths 19 and 20 form one segment of width 20, the others their own).
    scan_widths = [20 if n >= 19 else n for n in BENCH_LENGTHS]
    as_run = scan_flops(SMOLLM2, BENCH_LENGTHS, naive_widths=[20] * 32, scan_widths=scan_widths)
    for result in (unpadded, as_run):
        assert result.lower_bound <= result.ours <= result.naive
        # The 5x goal is out of reach in FLOPs: even the lower bound is far below 5x less work.
        assert 2 < result.naive_over_lower_bound < 5
    print(
        f"\nSmolLM2-135M, 32 bench prompts, 270 heads (multiply-adds):"
        f"\n  unpadded: naive {unpadded.naive:.4e}, ours {unpadded.ours:.4e}, lower bound {unpadded.lower_bound:.4e};"
        f" naive/ours {unpadded.naive_over_ours:.3f}x, naive/lower bound {unpadded.naive_over_lower_bound:.3f}x"
        f"\n  as run:   naive {as_run.naive:.4e}, ours {as_run.ours:.4e}, lower bound {as_run.lower_bound:.4e};"
        f" naive/ours {as_run.naive_over_ours:.3f}x, naive/lower bound {as_run.naive_over_lower_bound:.3f}x"
    )


def _prompt_set(lengths: list[int]):
    from harness.data.ioi_dataset import PromptSet, TaskSpec

    n, width = len(lengths), max(lengths)
    lengths_arr = np.array(lengths)
    tokens = np.ones((n, width), np.int64)
    return PromptSet(
        spec=TaskSpec("ioi", n_prompts=n, seed=0),
        clean_text=[""] * n,
        corrupt_text=[""] * n,
        template_id=np.zeros(n, np.int64),
        order=["ABBA"] * n,
        tokens=tokens,
        corrupt_tokens=tokens.copy(),
        attention_mask=(np.arange(width)[None, :] < lengths_arr[:, None]).astype(np.int64),
        last_pos=lengths_arr - 1,
        name_pos=np.tile([1, 3, 3], (n, 1)),
        correct_id=np.ones(n, np.int64),
        distractor_id=np.ones(n, np.int64),
        n_templates=1,
        dropped={},
    )


def test_bench_flops_use_the_scans_widths():
    from harness.report.bench import flops_lines
    from harness.runs import bench

    # 8 rows of 8 tokens make one segment (64 tokens); 2 rows of 10 are too few alone and join the
    # 6 rows of 11 in a segment of width 11. The naive loop runs all 16 rows at width 11.
    lengths = [8] * 8 + [10] * 2 + [11] * 6
    cfg = SimpleNamespace(n_layers=2, n_heads=2, d_head=2, d_model=4, d_mlp=8, d_vocab=10, n_key_value_heads=1)
    flops = bench.bench_flops(cfg, _prompt_set(lengths), layers=None)
    assert flops["unpadded"] == scan_flops(TINY, lengths)
    assert flops["as_run"] == scan_flops(TINY, lengths, naive_widths=[11] * 16, scan_widths=[8] * 8 + [11] * 8)
    assert flops["as_run"].lower_bound == flops["unpadded"].lower_bound
    assert bench.bench_flops(cfg, _prompt_set(lengths), layers=[1])["unpadded"] == scan_flops(TINY, lengths, layers=[1])

    lines = flops_lines(flops, measured=1.5)
    text = "\n".join(lines)
    assert f"FLOPs {flops['as_run'].naive_over_ours:5.2f}x" in text and "measured   1.5x" in text
    assert f"FLOPs {flops['as_run'].naive_over_lower_bound:5.2f}x" in text
    assert lines[-1].startswith("an exact scan cannot beat the naive loop by more than")


@pytest.mark.parametrize(
    ("arch", "expected"),
    [
        # Gemma 3: head_dim 32 is not hidden_size / heads (16), one key-value head, GeGLU (gated).
        ("Gemma3ForCausalLM", Geometry(2, 4, 32, 64, 96, 100, n_kv_heads=1, gated=True)),
        # Qwen2: grouped key-value heads, gated MLP.
        ("Qwen2ForCausalLM", Geometry(2, 4, 16, 64, 96, 100, n_kv_heads=2, gated=True)),
    ],
)
def test_geometry_of_the_zoos_architectures_from_a_real_bridge_cfg(arch, expected):
    torch = pytest.importorskip("torch")
    from transformer_lens.model_bridge.sources._bridge_builder import build_bridge_from_module
    from transformers import AutoModelForCausalLM, Gemma3TextConfig, Qwen2Config

    common = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, vocab_size=100,
                  max_position_embeddings=32)  # fmt: skip
    if arch == "Gemma3ForCausalLM":
        config = Gemma3TextConfig(**common, num_key_value_heads=1, head_dim=32, query_pre_attn_scalar=32, sliding_window=16)
    else:
        config = Qwen2Config(**common, num_key_value_heads=2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(config, attn_implementation="eager").eval()
    bridge = build_bridge_from_module(model, arch, hf_config=model.config, model_name=f"toy-{arch}")
    assert geometry_from_cfg(bridge.cfg) == expected
    assert geometry_from_hf_config(config.to_dict(), arch) == expected


def test_zoo_geometries_from_the_registry():
    """Every zoo model's geometry from its registry config, by hand from the models' configs."""
    from harness.models import registry

    expected = {
        "smollm2-135m": SMOLLM2,
        "qwen2.5-coder-0.5b": Geometry(24, 14, 64, 896, 4864, 151936, n_kv_heads=2, gated=True),
        "qwen2.5-coder-1.5b": Geometry(28, 12, 128, 1536, 8960, 151936, n_kv_heads=2, gated=True),
        "gemma-3-270m": Geometry(18, 4, 256, 640, 2048, 262144, n_kv_heads=1, gated=True),
    }
    assert set(expected) == set(builtin("zoo").models)
    for name, geometry in expected.items():
        spec = registry.get(name)
        assert geometry_from_hf_config(spec.hf_config, spec.architecture) == geometry, name
        assert (geometry.n_layers, geometry.n_heads) == (spec.n_layers, spec.n_heads)
    gemma = expected["gemma-3-270m"]
    # Per token: q 640x1024, k and v 640x256 each, o 1024x640, MLP 3 x 640x2048.
    assert (gemma.q_proj, gemma.kv_proj, gemma.o_proj, gemma.mlp) == (655360, 327680, 655360, 3932160)
    # GPT-style plain MLP from the architecture name.
    assert not geometry_from_hf_config({**registry.get("smollm2-135m").hf_config}, "GPT2LMHeadModel").gated


def test_matmul_shapes():
    gemma = Geometry(18, 4, 256, 640, 2048, 262144, n_kv_heads=1, gated=True)
    assert matmul_shapes(gemma, 2048) == {
        "q_proj": (2048, 640, 1024), "kv_proj": (2048, 640, 512), "o_proj": (2048, 1024, 640),
        "mlp_up": (2048, 640, 2048), "mlp_down": (2048, 2048, 640),
    }  # fmt: skip
    attn_only = Geometry(2, 2, 2, 4, 0, 10, attn_only=True)
    assert set(matmul_shapes(attn_only, 8)) == {"q_proj", "kv_proj", "o_proj"}


def test_ig_flops_by_hand_on_the_tiny_geometry():
    # T = 3: dense 3 * 112 = 336, attention 48; forward 384, backward (no weight gradients)
    # 336 + 2 * 48 = 432; readout 2 * 4 = 8 per pass.
    forward, backward, readout = 384, 432, 8
    clean = 2 * forward + readout
    assert ig_flops(TINY, [3], steps=1, path="all") == clean + 1 * (2 * (forward + backward) + 2 * readout)
    assert ig_flops(TINY, [3], steps=4, path="all") == clean + 4 * (2 * (forward + backward) + 2 * readout)
    # "layer": layer 0 runs 2 blocks, layer 1 one, per alpha; one readout per layer and alpha
    assert ig_flops(TINY, [3], steps=2, path="layer") == clean + 2 * (3 * (forward + backward) + 2 * 2 * readout)
    assert ig_flops(TINY, [3, 3], steps=2, path="layer", layers=[1]) == 2 * (clean + 2 * (forward + backward + 2 * readout))
    with pytest.raises(ValueError, match="path"):
        ig_flops(TINY, [3], steps=1, path="diagonal")


def test_ig_all_is_cheaper_than_the_exact_scan_on_smollm2_at_small_m():
    exact = scan_flops(SMOLLM2, BENCH_LENGTHS).ours
    width = max(BENCH_LENGTHS)
    for steps in (1, 4, 8):
        assert ig_flops(SMOLLM2, [width] * len(BENCH_LENGTHS), steps=steps, path="all") < exact
    assert ig_flops(SMOLLM2, BENCH_LENGTHS, steps=1, path="layer") > ig_flops(SMOLLM2, BENCH_LENGTHS, steps=1, path="all")
