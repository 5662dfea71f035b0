"""IOI and anti-repeat prompt sets: single-token words, determinism, token alignment, ABC corruption."""

from __future__ import annotations

import json
import logging
import re

import numpy as np
import pytest

from harness.data.designs import builtin
from harness.data import ioi_dataset as ds
from harness.models import registry
from harness.data.ioi_dataset import PromptSet, TaskSpec, build_prompts, vocabulary_survival
from harness.models.weights import weights_available
from harness.models.tokenizers import load_tokenizer

pytestmark = pytest.mark.unit

N = 60  # enough rows to cover all 17 templates and both orders, small enough to stay fast
SPECS = [TaskSpec(task, style, n_prompts=N) for task in ("ioi", "anti") for style in ("wang", "replication")]


@pytest.fixture(scope="module", params=["gpt2", "gpt-neox-20b"])
def tokenizer(request):
    return load_tokenizer(request.param)


@pytest.fixture(scope="module")
def gpt2():
    return load_tokenizer("gpt2")


def _name_at(tok, token_id: int) -> str:
    return tok.decode([int(token_id)]).strip()


def _check_invariants(ps: PromptSet, tok) -> None:
    """Everything a scorer relies on: shapes, padding, alignment, answers, corruption."""
    n, width = ps.tokens.shape
    assert n == ps.spec.n_prompts == len(ps.clean_text) == len(ps.corrupt_text) == len(ps.order)
    for arr in (ps.corrupt_tokens, ps.attention_mask):
        assert arr.shape == (n, width)
    for arr in (ps.tokens, ps.corrupt_tokens, ps.last_pos, ps.correct_id, ps.distractor_id, ps.template_id):
        assert arr.dtype == np.int64
    lengths = ps.attention_mask.sum(axis=1)
    assert (ps.attention_mask == (np.arange(width) < lengths[:, None])).all(), "mask is not a prefix"
    assert (ps.tokens[ps.attention_mask == 0] == tok.pad_token_id).all()
    assert (ps.corrupt_tokens[ps.attention_mask == 0] == tok.pad_token_id).all()
    assert (ps.last_pos == lengths - 1).all()
    for tid in np.unique(ps.template_id):
        rows = ps.template_id == tid
        assert len(set(lengths[rows])) == 1, f"template {tid} rows differ in length"
        assert len({tuple(p) for p in ps.name_pos[rows]}) == 1, f"template {tid} name slots move"
    for i in range(n):
        row, last, pos = ps.tokens[i], ps.last_pos[i], ps.name_pos[i]
        assert tok.decode([int(row[last])]) == " to"
        assert tok.decode([int(ps.correct_id[i])]).startswith(" ")
        assert tok.decode([int(ps.distractor_id[i])]).startswith(" ")
        io, s = _name_at(tok, ps.correct_id[i]), _name_at(tok, ps.distractor_id[i])
        clean_names = [_name_at(tok, row[p]) for p in pos]
        expected = [io, s, s] if ps.order[i] == "ABBA" else [s, io, s]
        assert clean_names == expected, ps.clean_text[i]
        corrupt_names = [_name_at(tok, ps.corrupt_tokens[i, p]) for p in pos]
        assert len(set(corrupt_names)) == 3 and not {io, s} & set(corrupt_names), ps.corrupt_text[i]
        differs = np.flatnonzero(row != ps.corrupt_tokens[i])
        assert set(differs) <= set(pos), "clean and corrupt differ outside the name slots"
        assert ps.clean_text[i].endswith(" to") and ps.clean_text[i].count(io) == 1


# --- TaskSpec ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(task="greater-than"), "task"),
        (dict(task="ioi", style="bespoke"), "style"),
        (dict(task="ioi", n_prompts=0), "n_prompts"),
        (dict(task="ioi", n_prompts=True), "n_prompts"),
        (dict(task="ioi", seed=-1), "seed"),
        (dict(task="ioi", prepend_bos="yes"), "prepend_bos"),
    ],
)
def test_taskspec_rejects_bad_values_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f"TaskSpec.{field}"):
        TaskSpec(**kwargs)


def test_taskspec_key_is_plain_json_and_tells_specs_apart():
    key = TaskSpec("anti", "replication", n_prompts=np.int64(7), seed=3).key()
    assert json.loads(json.dumps(key)) == key
    assert key == {"task": "anti", "style": "replication", "n_prompts": 7, "seed": 3, "prepend_bos": True}
    assert TaskSpec("ioi").key() != TaskSpec("ioi", seed=1).key()


# --- word lists and templates -------------------------------------------------------------------


def test_word_lists_are_sized_and_duplicate_free():
    assert len(ds.NAMES) >= 95 and len(ds.PLACES) >= 20 and len(ds.OBJECTS) >= 20
    for words in (ds.NAMES, ds.PLACES, ds.OBJECTS, ds.ORIGIN_IOI_NAMES, ds.ORIGIN_ANTI_NAMES):
        assert len(set(words)) == len(words)
    assert len(ds.ORIGIN_IOI_NAMES) == 15 and len(ds.ORIGIN_ANTI_NAMES) == 12


def test_objects_take_the_article_a():
    assert not [o for o in ds.OBJECTS if o[0] in "aeiou"]


def test_there_are_at_least_15_distinct_wang_templates_each_with_all_slots():
    templates = ds.WANG_IOI_TEMPLATES
    assert len(templates) >= 15 and len(set(templates)) == len(templates)
    for t in templates:
        assert sorted(ds._fields(t)) == ["A", "B", "C", "OBJECT", "PLACE"], t
        assert t.endswith(" to"), t


# --- the single-token rule ----------------------------------------------------------------------


def test_multi_token_name_is_dropped_and_reported_never_truncated(gpt2, caplog):
    lina_ids = gpt2.encode(" Lina", add_special_tokens=False)
    assert len(lina_ids) == 2  # the origin scored only its last piece, "ina"
    with caplog.at_level(logging.INFO, logger="harness.ioi_dataset"):
        ps = build_prompts(TaskSpec("ioi", "replication", n_prompts=300), gpt2)
    assert "2 tokens" in ps.dropped["Lina"]
    assert any("Lina" in r.getMessage() for r in caplog.records)
    assert not any("Lina" in t for t in ps.clean_text + ps.corrupt_text)
    assert lina_ids[-1] not in set(ps.correct_id) | set(ps.distractor_id)
    used = {_name_at(gpt2, i) for i in ps.correct_id} | {_name_at(gpt2, i) for i in ps.distractor_id}
    assert used == set(ds.ORIGIN_IOI_NAMES) - {"Lina"}


def test_vocabulary_survival_counts_add_up(gpt2):
    report = vocabulary_survival(gpt2)
    assert set(report) == {"names", "places", "objects", "origin_ioi_names", "origin_anti_names"}
    for kind, entry in report.items():
        assert entry["kept"] + len(entry["dropped"]) == entry["total"], kind
    assert report["origin_anti_names"]["dropped"].keys() == {"Mallory"}
    assert report["objects"]["dropped"].keys() == {"kite"}


class _OnlySomeNames:
    """A stand-in tokenizer under which only `keep` are single tokens (to starve the name pool)."""

    def __init__(self, inner, keep: set[str]):
        self.inner, self.keep = inner, keep
        self.bos_token_id, self.pad_token_id = inner.bos_token_id, inner.pad_token_id

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        ids = self.inner.encode(text, add_special_tokens=False)
        starved = text.strip() in ds.ORIGIN_IOI_NAMES and text.strip() not in self.keep
        return ids * 2 if starved else ids

    def decode(self, ids: list[int]) -> str:
        return self.inner.decode(ids)


def test_too_few_single_token_names_is_a_clear_error(gpt2):
    starved = _OnlySomeNames(gpt2, keep={"John", "Mary", "Tom", "Kate"})
    with pytest.raises(ValueError, match="only 4 of 15 names.*need at least 5"):
        build_prompts(TaskSpec("ioi", "replication"), starved)


# --- survival per family tokenizer ----------------------------------------------------------------

SEED_MODELS = sorted({m for pair in builtin("seed").pairs for m in pair})


@pytest.mark.parametrize("tok_name", sorted({registry.get(m).tokenizer for m in SEED_MODELS}))
def test_name_survival_for_the_seed_families(tok_name, record_property):
    """How many names stay single tokens under each tokenizer the seed's models use.

    Minimum 90 of 100: the list holds very common English first names, which a 50k-token English
    BPE keeps whole almost always (GPT-2 keeps 100, NeoX 97); fewer means a broken tokenizer or a
    list drifting to rare names, and a thinner pool makes name-specific effects likelier. The
    origin's lists only need MIN_NAMES (5) survivors for a prompt and its ABC corruption.
    """
    report = vocabulary_survival(load_tokenizer(tok_name))
    models = [m for m in SEED_MODELS if registry.get(m).tokenizer == tok_name]
    summary = {kind: f"{e['kept']}/{e['total']}" for kind, e in report.items()}
    record_property(f"survival[{tok_name}]", summary)
    print(f"{tok_name} ({', '.join(models)}): {summary}")
    assert report["names"]["kept"] >= 90
    assert report["places"]["kept"] >= 18 and report["objects"]["kept"] >= 18
    assert report["origin_ioi_names"]["kept"] >= ds.MIN_NAMES
    assert report["origin_anti_names"]["kept"] >= ds.MIN_NAMES
    assert report["origin_anti_names"]["sentence_initial"] >= ds.MIN_OPENERS


# --- determinism --------------------------------------------------------------------------------


def test_same_spec_gives_identical_prompts(tokenizer):
    a = build_prompts(TaskSpec("ioi", n_prompts=N, seed=5), tokenizer)
    b = build_prompts(TaskSpec("ioi", n_prompts=N, seed=5), tokenizer)
    assert a.clean_text == b.clean_text and a.corrupt_text == b.corrupt_text
    for field in ("tokens", "corrupt_tokens", "template_id", "correct_id", "distractor_id", "name_pos"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field


def test_different_seed_gives_different_prompts(tokenizer):
    a = build_prompts(TaskSpec("ioi", n_prompts=N, seed=0), tokenizer)
    b = build_prompts(TaskSpec("ioi", n_prompts=N, seed=1), tokenizer)
    assert a.clean_text != b.clean_text


# --- invariants -----------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.task}-{s.style}")
def test_prompt_set_invariants(spec, tokenizer):
    _check_invariants(build_prompts(spec, tokenizer), tokenizer)


def test_invariants_hold_for_the_smollm2_tokenizer():
    present, why = weights_available(registry.get("smollm2-135m"))
    if not present:
        pytest.skip(f"SmolLM2 GGUF unavailable: {why}")
    from harness.models.tokenizers import tokenizer_of

    tok = tokenizer_of(registry.get("smollm2-135m"))
    for spec in SPECS:
        _check_invariants(build_prompts(spec, tok), tok)


def test_bos_is_prepended_only_when_asked(gpt2):
    with_bos = build_prompts(TaskSpec("ioi", n_prompts=N), gpt2)
    without = build_prompts(TaskSpec("ioi", n_prompts=N, prepend_bos=False), gpt2)
    assert (with_bos.tokens[:, 0] == gpt2.bos_token_id).all()
    assert with_bos.clean_text == without.clean_text
    assert np.array_equal(with_bos.last_pos, without.last_pos + 1)
    assert np.array_equal(with_bos.tokens[:, 1:], without.tokens[:, : with_bos.tokens.shape[1] - 1])


def test_wang_ioi_uses_every_template_and_both_orders(gpt2):
    ps = build_prompts(TaskSpec("ioi", "wang", n_prompts=N), gpt2)
    assert ps.n_templates == len(ds.WANG_IOI_TEMPLATES) >= 15
    assert set(ps.template_id) == set(range(ps.n_templates))
    assert set(ps.order) == {"ABBA", "BABA"}
    assert abs(ps.order.count("ABBA") - ps.order.count("BABA")) <= 1


@pytest.mark.parametrize(
    "task, pattern",
    [
        ("ioi", r"When (\w+) and (\w+) went to the store, \1 gave a gift to"),
        ("anti", r"(\w+) met (\w+)\. \1 talked to"),
    ],
)
def test_replication_prompts_are_the_origins(task, pattern, gpt2):
    ps = build_prompts(TaskSpec(task, "replication", n_prompts=N), gpt2)
    origin = ds.ORIGIN_IOI_NAMES if task == "ioi" else ds.ORIGIN_ANTI_NAMES
    assert ps.n_templates == 1 and set(ps.order) == {"BABA"}
    for text, correct, distractor in zip(ps.clean_text, ps.correct_id, ps.distractor_id, strict=True):
        match = re.fullmatch(pattern, text)
        assert match, text
        assert match.group(1) == _name_at(gpt2, distractor) and match.group(2) == _name_at(gpt2, correct)
        assert {match.group(1), match.group(2)} <= set(origin)


def test_anti_prompts_open_with_a_one_token_name(tokenizer):
    """A prompt's first name has no leading space; it must still be one token for rows to align."""
    ps = build_prompts(TaskSpec("anti", "replication", n_prompts=N), tokenizer)
    openers = {ps.clean_text[i].split()[0] for i in range(N)} | {ps.corrupt_text[i].split()[0] for i in range(N)}
    for name in openers:
        assert len(tokenizer.encode(name, add_special_tokens=False)) == 1, name
    assert len(openers) >= ds.MIN_OPENERS
