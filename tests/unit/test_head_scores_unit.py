"""Head scans on tiny random-initialised models (no pretrained weights): the batched exact scan and
TransformerLens's patching helper give the naive loop's numbers on four architectures, chunking
does not change them, mean-ablation values are per (template, position), the two-row logit
difference equals the full logits' one, attribution patching is the first-order term of the
ablation, and the result/agreement/dispatcher plumbing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from harness.scoring.ablation import ablation_values
from harness.scoring.attribution import scan_attribution
from harness.scoring.batched import plan_forwards, scan_batched, segment_groups, segments
from harness.scoring.geometry import z_name
from harness.scoring.head_scores import score_heads
from harness.scoring.memory import bytes_per_row
from harness.scoring.methods import ABLATION_METHODS
from harness.scoring.naive import scan_naive
from harness.scoring.prompts import as_prompts
from harness.scoring.rank_agreement import agreement
from harness.scoring.readout import final_residual, head_logit_diff, logit_diff
from harness.scoring.result import ScanResult
from harness.scoring.tl_patching import scan_tl_patching
from harness.data.ioi_dataset import PromptSet, TaskSpec

pytestmark = pytest.mark.unit

VOCAB = 100
N_LAYERS, N_HEADS = 3, 4
# Two templates share a length and one is alone at its length, so the batched scan both merges
# lengths into one segment and pads within it.
TEMPLATE_LENGTHS = (6, 9, 9, 12)
ROWS_PER_TEMPLATE = 3
# Large initial weights so that heads matter: deltas of order 0.1-1 make a 1e-5 equality check
# meaningful (the default 0.02 gives deltas near 1e-4).
INIT_SCALE = 0.3


def _config(arch: str):
    from transformers import GPT2Config, GPTNeoXConfig, LlamaConfig, OPTConfig

    size = {"vocab_size": VOCAB, "max_position_embeddings": 64}
    if arch == "LlamaForCausalLM":  # GQA, rotary, RMSNorm: the shape of SmolLM2
        return LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=N_LAYERS,
                           num_attention_heads=N_HEADS, num_key_value_heads=2,
                           initializer_range=INIT_SCALE, **size)  # fmt: skip
    if arch == "GPT2LMHeadModel":
        return GPT2Config(n_embd=64, n_layer=N_LAYERS, n_head=N_HEADS, n_positions=64,
                          vocab_size=VOCAB, initializer_range=INIT_SCALE)  # fmt: skip
    if arch == "GPTNeoXForCausalLM":  # parallel attention and MLP, partial rotary (Pythia)
        return GPTNeoXConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=N_LAYERS,
                             num_attention_heads=N_HEADS, rotary_pct=0.25,
                             initializer_range=INIT_SCALE, **size)  # fmt: skip
    if arch == "OPTForCausalLM":  # a 4-D attention mask is passed to every block
        return OPTConfig(hidden_size=64, ffn_dim=128, num_hidden_layers=N_LAYERS,
                         num_attention_heads=N_HEADS, word_embed_proj_dim=64, init_std=INIT_SCALE,
                         **size)  # fmt: skip
    raise ValueError(arch)


def toy_bridge(arch: str = "LlamaForCausalLM", dtype: torch.dtype = torch.float32):
    """A random-initialised model of `arch` (seeded), wrapped as a frozen TransformerBridge."""
    from transformer_lens.model_bridge.sources._bridge_builder import build_bridge_from_module
    from transformers import AutoModelForCausalLM

    config = _config(arch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(config, attn_implementation="eager")
    model = model.eval().to(dtype)
    bridge = build_bridge_from_module(model, arch, hf_config=model.config, model_name=f"toy-{arch}")
    for module in (bridge, model):
        for parameter in torch.nn.Module.parameters(module):
            parameter.requires_grad_(False)
    return bridge


def toy_prompts(seed: int = 0, lengths: tuple[int, ...] = TEMPLATE_LENGTHS) -> PromptSet:
    """A PromptSet in the harness's format: per template, rows share every token except two "name"
    positions (1 and 3); the corrupted rows change those two; right-padded with token 0."""
    rng = np.random.default_rng(seed)
    clean, corrupt, template = [], [], []
    for tid, length in enumerate(lengths):
        base = rng.integers(10, VOCAB, length)
        for _ in range(ROWS_PER_TEMPLATE):
            row = base.copy()
            row[[1, 3]] = rng.integers(10, VOCAB, 2)
            alt = row.copy()
            alt[[1, 3]] = rng.integers(10, VOCAB, 2)
            clean.append(row)
            corrupt.append(alt)
            template.append(tid)
    n, width = len(clean), max(lengths)
    tokens = np.zeros((n, width), np.int64)
    corrupt_tokens = np.zeros((n, width), np.int64)
    for i, (row, alt) in enumerate(zip(clean, corrupt)):
        tokens[i, : len(row)], corrupt_tokens[i, : len(alt)] = row, alt
    lengths_arr = np.array([len(r) for r in clean])
    return PromptSet(
        spec=TaskSpec("ioi", n_prompts=n, seed=seed),
        clean_text=[""] * n,
        corrupt_text=[""] * n,
        template_id=np.array(template, dtype=np.int64),
        order=["ABBA"] * n,
        tokens=tokens,
        corrupt_tokens=corrupt_tokens,
        attention_mask=(np.arange(width)[None, :] < lengths_arr[:, None]).astype(np.int64),
        last_pos=lengths_arr - 1,
        name_pos=np.tile([1, 3, 3], (n, 1)),
        correct_id=rng.integers(10, VOCAB, n),
        distractor_id=rng.integers(10, VOCAB, n),
        n_templates=len(lengths),
        dropped={},
    )


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run thousands of small ops: one thread avoids OpenMP's per-op synchronisation,
    which is most of the time on a shared 2-core machine."""
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


def _max_diff(a: ScanResult, b: ScanResult) -> float:
    assert list(zip(a.table["layer"], a.table["head"])) == list(zip(b.table["layer"], b.table["head"]))
    return float(np.abs(a.table["delta"].to_numpy() - b.table["delta"].to_numpy()).max())


# --- exactness --------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["LlamaForCausalLM", "GPT2LMHeadModel", "GPTNeoXForCausalLM", "OPTForCausalLM"])
@pytest.mark.parametrize("method", ABLATION_METHODS)
def test_batched_equals_naive(arch, method, prompts):
    bridge = toy_bridge(arch)
    naive = scan_naive(bridge, prompts, method, progress=False)
    batched = scan_batched(bridge, prompts, method, progress=False)
    assert len(batched.table) == N_LAYERS * N_HEADS
    assert naive.table["delta"].abs().max() > 0.05  # heads matter, so the comparison below has teeth
    assert _max_diff(naive, batched) < 1e-5
    assert batched.clean_logit_diff == pytest.approx(naive.clean_logit_diff, abs=1e-5)
    assert batched.clean_accuracy == naive.clean_accuracy


@pytest.mark.parametrize("method", ABLATION_METHODS)
def test_tl_patching_helper_equals_naive(llama, prompts, method):
    naive = scan_naive(llama, prompts, method, progress=False)
    helper = scan_tl_patching(llama, prompts, method, progress=False)
    assert helper.algorithm == "tl_patching"
    assert _max_diff(naive, helper) < 1e-5


def test_layer_subset_matches_full_scan(llama, prompts):
    full = scan_batched(llama, prompts, "mean", progress=False)
    part = scan_batched(llama, prompts, "mean", layers=[2, 1], progress=False)
    assert list(part.table["layer"].unique()) == [1, 2]
    expected = full.table[full.table["layer"] >= 1].reset_index(drop=True)
    assert np.abs(expected.delta.to_numpy() - part.table["delta"].to_numpy()).max() < 1e-6


def test_chunking_does_not_change_the_table(llama, prompts):
    """A budget that fits everything at once and one that forces one head and a few rows per
    forward give the same table; the two budgets really do chunk differently."""
    roomy = scan_batched(llama, prompts, "mean", memory_budget_mb=1024, progress=False)
    tight_budget = 2 * bytes_per_row(llama, max(TEMPLATE_LENGTHS)) / 2**20  # two rows
    tight = scan_batched(llama, prompts, "mean", memory_budget_mb=tight_budget, progress=False)
    segs = segments(llama, as_prompts(prompts, torch.device("cpu")), 0)
    for seg in segs:
        heads, rows = plan_forwards(llama, seg, N_HEADS, tight_budget)
        assert heads == 1 and rows < len(seg.rows)
        assert plan_forwards(llama, seg, N_HEADS, 1024) == (N_HEADS, len(seg.rows))
    assert _max_diff(roomy, tight) < 1e-6


def test_segments_cover_every_row_once(prompts):
    p = as_prompts(prompts, torch.device("cpu"))
    groups = segment_groups(p)
    rows = torch.cat(groups).sort().values
    assert torch.equal(rows, torch.arange(len(p)))
    assert len(groups) >= 1


# --- logit difference and ablation values ---------------------------------------------------------


def test_two_row_logit_diff_equals_full_logits(llama, prompts):
    fast = logit_diff(llama, prompts)
    full = logit_diff(llama, prompts, full_logits=True)
    assert fast.shape == (len(prompts),)
    assert torch.allclose(fast, full, atol=1e-5)
    # and it is read at each row's own last position, not at the padded end
    logits = llama(torch.as_tensor(prompts.tokens))
    rows = np.arange(len(prompts))
    at_end = logits[rows, -1, prompts.correct_id] - logits[rows, -1, prompts.distractor_id]
    padded = prompts.last_pos < prompts.tokens.shape[1] - 1
    assert not torch.allclose(full[padded], at_end[padded], atol=1e-3)


def test_an_output_head_that_is_not_norm_then_unembed_is_refused(prompts):
    """A model whose logits are not lm_head(final norm(resid)) (here: scaled after the unembedding,
    like a logit scale or soft-cap) cannot use the two-row shortcut; the batched scan says so."""
    bridge = toy_bridge()
    handle = bridge.unembed.original_component.register_forward_hook(lambda module, args, out: 2 * out)
    try:
        with pytest.raises(RuntimeError, match="output head"):
            scan_batched(bridge, prompts, "zero", layers=[2], progress=False)
    finally:
        handle.remove()
    assert len(scan_batched(bridge, prompts, "zero", layers=[2], progress=False).table) == N_HEADS


def test_mean_values_are_per_template_and_position(llama, prompts):
    values = ablation_values(llama, prompts, "mean")
    _, cache = llama.run_with_cache(
        torch.as_tensor(prompts.corrupt_tokens), names_filter=lambda n: n.endswith("hook_z")
    )
    for layer in range(N_LAYERS):
        z = cache[z_name(layer)]
        per_row = values.rows(layer, slice(None))
        assert per_row.shape == z.shape
        for tid in np.unique(prompts.template_id):
            rows = np.nonzero(prompts.template_id == tid)[0]
            expected = z[rows].mean(0)
            assert torch.allclose(per_row[rows], expected.expand(len(rows), *expected.shape), atol=1e-6)
        # different templates get different values: a global mean would fail here
        first, other = per_row[0], per_row[np.nonzero(prompts.template_id != prompts.template_id[0])[0][0]]
        assert (first - other).abs().max() > 1e-3


def test_zero_values_are_zero(llama, prompts):
    values = ablation_values(llama, prompts, "zero")
    block = values.rows(1, slice(None))
    assert block.shape == (len(prompts), prompts.tokens.shape[1], N_HEADS, 64 // N_HEADS)
    assert not block.any()


def test_left_padding_is_refused(llama, prompts):
    left = toy_prompts()
    left.attention_mask = left.attention_mask[:, ::-1].copy()
    with pytest.raises(ValueError, match="right-padded"):
        scan_batched(llama, left, "zero", progress=False)


# --- attribution patching -------------------------------------------------------------------


def test_attribution_is_the_first_order_term():
    """delta_hat is the derivative of the ablation effect at 0: moving head h a small step eps
    toward its replacement changes the mean LD by eps * delta_hat (float64, central difference)."""
    bridge = toy_bridge(dtype=torch.float64)
    prompts = toy_prompts()
    attribution = scan_attribution(bridge, prompts, "mean", progress=False)
    values = ablation_values(bridge, prompts, "mean")
    eps = 1e-2  # the bridge computes softmax in float32: a smaller step drowns in its rounding

    def shifted(layer: int, head: int, step: float) -> float:
        replacement = values.rows(layer, slice(None))

        def hook(z, hook):
            z[:, :, head] = z[:, :, head] + step * (replacement[:, :, head] - z[:, :, head])
            return z

        with torch.no_grad():
            return float(logit_diff(bridge, prompts, fwd_hooks=[(z_name(layer), hook)]).mean())

    table = attribution.table.set_index(["layer", "head"])
    for layer, head in [(0, 0), (1, 2), (2, 3)]:
        slope = (shifted(layer, head, eps) - shifted(layer, head, -eps)) / (2 * eps)
        assert table.loc[(layer, head), "delta"] == pytest.approx(slope, rel=1e-3)
        assert abs(slope) > 1e-3


def test_attribution_with_a_tiny_budget_matches(llama, prompts):
    whole = scan_attribution(llama, prompts, "zero", progress=False)
    chunked = scan_attribution(llama, prompts, "zero", memory_budget_mb=1e-6, progress=False)
    assert _max_diff(whole, chunked) < 1e-5
    assert whole.clean_logit_diff == pytest.approx(chunked.clean_logit_diff, abs=1e-6)



def _graddrop_by_definition(bridge, prompts, method: str) -> np.ndarray:
    """AtP*'s GradDrop as its definition reads: for each layer l, one forward and backward with
    layer l's attention and MLP outputs detached (their gradient dropped); per prompt, the mean over l
    of |estimate_l| with divisor L - 1; the mean over prompts; signed by the plain estimate."""
    values = ablation_values(bridge, prompts, method)
    p = as_prompts(prompts, torch.device("cpu"))
    rows = torch.arange(len(p))

    def estimates(dropped: int | None) -> torch.Tensor:  # (n_prompts, n_layers, n_heads)
        zs = {}

        def track(layer):
            def hook(z, hook):
                if not z.requires_grad:  # layer 0 of a frozen model
                    z = z.detach().requires_grad_(True)
                zs[layer] = z
                return z

            return hook

        hooks = [(z_name(layer), track(layer)) for layer in range(N_LAYERS)]
        if dropped is not None:
            hooks += [(f"blocks.{dropped}.hook_{part}_out", lambda x, hook: x.detach()) for part in ("attn", "mlp")]
        with torch.enable_grad():
            resid = final_residual(bridge, p.tokens, hooks)
            ld = head_logit_diff(bridge, resid[rows, p.last_pos], p.correct, p.distractor)
            grads = torch.autograd.grad(ld.sum(), [zs[layer] for layer in range(N_LAYERS)], allow_unused=True)
        return torch.stack(
            [
                ((values.rows(layer, slice(None)) - zs[layer].detach()) * (g if g is not None else 0)).double().sum(dim=(1, 3))
                for layer, g in enumerate(grads)
            ],
            dim=1,
        )

    plain = estimates(None).mean(0)
    magnitude = sum(estimates(layer).abs() for layer in range(N_LAYERS)).mean(0) / (N_LAYERS - 1)
    return (torch.sign(plain) * magnitude).numpy().reshape(-1)


@pytest.mark.parametrize("arch", ["LlamaForCausalLM", "GPTNeoXForCausalLM"])
def test_graddrop_equals_its_definition(arch, prompts):
    """The one-forward GradDrop (partial backwards from each block's input) gives the numbers of L
    separate forwards with a layer's outputs detached, on a serial and a parallel-block architecture."""
    bridge = toy_bridge(arch, dtype=torch.float64)
    fast = scan_attribution(bridge, prompts, "mean", graddrop=True, progress=False)
    expected = _graddrop_by_definition(bridge, prompts, "mean")
    plain = scan_attribution(bridge, prompts, "mean", progress=False)
    assert fast.algorithm == "attribution_graddrop"
    assert np.allclose(fast.table["delta"].to_numpy(), expected, rtol=1e-6, atol=1e-9)
    assert np.array_equal(np.sign(fast.table["delta"]), np.sign(plain.table["delta"]))
    # GradDrop is not the plain estimate in disguise: some head's size changes
    assert np.abs(np.abs(fast.table["delta"]) - np.abs(plain.table["delta"])).max() > 1e-3

# --- results, agreement, dispatcher -----------------------------------------------------------


def test_scan_result_fields(llama, prompts):
    result = score_heads(llama, prompts, method="zero", algorithm="batched", progress=False)
    assert list(result.table.columns) == ["layer", "head", "delta", "delta_norm"]
    assert sorted(zip(result.table["layer"], result.table["head"])) == [
        (l, h) for l in range(N_LAYERS) for h in range(N_HEADS)
    ]
    assert np.allclose(result.table["delta_norm"], result.table["delta"] / result.clean_logit_diff)
    clean = logit_diff(llama, prompts)
    assert result.clean_logit_diff == pytest.approx(float(clean.mean()), abs=1e-6)
    assert result.clean_accuracy == pytest.approx(float((clean > 0).float().mean()))
    assert (result.method, result.algorithm, result.device, result.dtype) == ("zero", "batched", "cpu", "float32")
    assert result.n_prompts == len(prompts) and result.seconds > 0


def test_score_heads_takes_a_loaded_model_and_checks_names(llama, prompts):
    class Loaded:
        bridge = llama

    result = score_heads(Loaded(), prompts, method="mean", algorithm="attribution", progress=False)
    assert result.algorithm == "attribution"
    with pytest.raises(ValueError, match="algorithm"):
        score_heads(llama, prompts, algorithm="fast")
    with pytest.raises(ValueError, match="method"):
        score_heads(llama, prompts, method="resample")
    with pytest.raises(ValueError, match="layers"):
        scan_batched(llama, prompts, layers=[N_LAYERS])


def _result(deltas: list[float]) -> ScanResult:
    n = len(deltas)
    table = pd.DataFrame({"layer": np.arange(n) // 5, "head": np.arange(n) % 5, "delta": deltas})
    table["delta_norm"] = table["delta"]
    return ScanResult(table, 1.0, 1.0, "mean", "batched", "cpu", "float32", 0.0, 1)


def test_agreement():
    rng = np.random.default_rng(0)
    exact = rng.normal(size=40)
    same = agreement(_result(list(exact)), _result(list(2 * exact)))
    assert same == {"spearman": pytest.approx(1.0), "top_k": 20, "top_k_overlap": 20, "n_heads": 40}
    flipped = agreement(_result(list(exact)), _result(list(-exact)))
    assert flipped["spearman"] == pytest.approx(-1.0) and flipped["top_k_overlap"] == 20  # |delta| ranks
    shuffled = agreement(_result(list(exact)), _result(list(rng.permutation(exact))))
    assert abs(shuffled["spearman"]) < 0.5 and shuffled["top_k_overlap"] < 20
    assert agreement(_result(list(exact[:10])), _result(list(exact[:10])))["top_k"] == 10


def test_every_registered_algorithm_has_a_scan():
    from harness.scoring.head_scores import SCANS
    from harness.scoring.methods import SCAN_ALGORITHMS

    assert set(SCANS) == set(SCAN_ALGORITHMS)
