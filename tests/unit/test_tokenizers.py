"""Tokenizers built from the fixtures: the files are the documented ones, the ids are the models'."""

from __future__ import annotations

import hashlib
import re

import pytest

from harness.models import registry
from harness.models.weights import weights_available
from harness.models.tokenizers import TOKENIZER_DIR, TOKENIZER_NAMES, load_tokenizer, tokenizer_for_model, tokenizer_of

pytestmark = pytest.mark.unit


def _gguf_or_skip():
    """The SmolLM2 tokenizer, or a skip naming why it is unavailable."""
    present, why = weights_available(registry.get("smollm2-135m"))
    if not present:
        pytest.skip(f"SmolLM2 GGUF unavailable: {why}")
    return tokenizer_of(registry.get("smollm2-135m"))


def test_fixture_files_match_the_hashes_in_provenance():
    rows = re.findall(r"^\| ([\w./-]+) \| ([0-9a-f]{64}) \|", (TOKENIZER_DIR / "PROVENANCE.md").read_text(), re.M)
    assert {path for path, _ in rows} == {"gpt2/encoder.json", "gpt2/vocab.bpe", "gpt-neox-20b/tokenizer.json"}
    for path, digest in rows:
        assert hashlib.sha256((TOKENIZER_DIR / path).read_bytes()).hexdigest() == digest, path


def test_gpt2_gives_openai_ids():
    tok = load_tokenizer("gpt2")
    assert len(tok) == 50257
    assert tok.encode("Hello world", add_special_tokens=False) == [15496, 995]
    assert tok.encode(" John and Mary", add_special_tokens=False) == [1757, 290, 5335]
    assert tok.encode("<|endoftext|>", add_special_tokens=False) == [50256]
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (50256, 50256, 50256)


def test_gpt2_adds_no_special_token_by_default():
    tok = load_tokenizer("gpt2")
    assert tok.encode("Hello world") == [15496, 995]


def test_neox_gives_pythia_ids():
    tok = load_tokenizer("gpt-neox-20b")
    assert tok.encode("Hello world", add_special_tokens=False) == [12092, 1533]
    assert tok.encode(" John and Mary", add_special_tokens=False) == [2516, 285, 6393]
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (0, 0, 0)


def test_gguf_tokenizer_is_smollm2s():
    tok = _gguf_or_skip()
    assert len(tok) == 49152
    assert (tok.bos_token, tok.eos_token) == ("<|im_start|>", "<|im_end|>")
    assert (tok.bos_token_id, tok.eos_token_id) == (1, 2)
    assert tok.pad_token_id is not None


@pytest.mark.parametrize("name", ["gpt2", "gpt-neox-20b"])
def test_decode_inverts_encode(name):
    tok = load_tokenizer(name)
    text = "When Mary and John went to the store, John gave a drink to"
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text


def test_load_tokenizer_is_cached():
    assert load_tokenizer("gpt2") is load_tokenizer("gpt2")


def test_unknown_tokenizer_lists_the_valid_names():
    with pytest.raises(ValueError) as err:
        load_tokenizer("llama")
    for name in TOKENIZER_NAMES:
        assert name in str(err.value)


@pytest.mark.parametrize(
    "model, tokenizer", [("pythia-160m", "gpt-neox-20b"), ("gpt2-medium", "gpt2"), ("gpt-neo-125M", "gpt2")]
)
def test_tokenizer_for_model_follows_the_registry(model, tokenizer):
    assert registry.get(model).tokenizer == tokenizer
    assert tokenizer_for_model(registry.get(model)) is load_tokenizer(tokenizer)


def test_tokenizer_for_model_refuses_opt_whose_ids_differ_from_gpt2s():
    with pytest.raises(ValueError, match="opt-125m bos id 50256.*config says 2"):
        tokenizer_for_model(registry.get("opt-125m"))


def test_tokenizer_for_unknown_model_is_a_key_error():
    with pytest.raises(KeyError, match="registry knows"):
        tokenizer_for_model(registry.get("gpt5"))
