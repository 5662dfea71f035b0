"""Prompt sets for the two tasks the seed's head tables score: IOI and the anti-repeat control.

A prompt names two people, repeats one of them (the subject, S) and ends where the model should
name the other one (the indirect object, IO): "When Mary and John went to the store, John gave a
book to" -> " Mary". The score of a head uses the logit difference logit(" IO") - logit(" S") at the
last token, so IO and S must each be ONE token; this module keeps only names (and places, objects)
that are one token for the tokenizer at hand, and drops the others with a logged reason. (The
origin instead took the last sub-token of a multi-token name, which scores a fragment such as "ina"
for " Lina" under GPT-2.) A name that opens a prompt (the anti-repeat template "{A} met {B}. {A}
talked to" does) has no leading space, so the name drawn for that slot must be one token without
the space too; under GPT-2 only 4 of the origin's 12 control names are (Alice, Bob, Dave, Frank).

Two styles:

- "wang": in the style of Wang et al. 2022 ("Interpretability in the Wild", the IOI paper): many
  templates, both name orders (ABBA: IO first; BABA: S first), and a large pool of names, places and
  objects. The word lists and templates are this project's own.
- "replication": the origin's prompts (one template, its 15 names for IOI and 12 for the control),
  but drawn with a seed.
- "zoo": the wang templates with the words that are single tokens under ALL FOUR tokenizers of the
  offline zoo (SmolLM2, Qwen2.5-Coder, Gemma 3; `ZOO_NAMES` etc.), so that the models of a pair see the
  very same sentences. A word that is not one token under the tokenizer at hand is an error here, not
  a silent drop: the prompts would differ between the models.

Every clean prompt has a corrupted "ABC" counterpart: the same template, place and object with its
three name slots filled by three fresh, distinct names (neither IO nor S), so that both have the
same tokens at every position except the names.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from harness.errors import InputError

log = logging.getLogger("harness.ioi_dataset")

TASKS = ("ioi", "anti")
STYLES = ("wang", "replication", "zoo")
ORDERS = ("ABBA", "BABA")

# ---------------------------------------------------------------------------------------------
# Word lists (this project's own: common English first names, everyday places and objects).
# Objects all start with a consonant sound, because the templates say "a {OBJECT}".
# ---------------------------------------------------------------------------------------------

NAMES: tuple[str, ...] = (
    "John", "Mary", "James", "Robert", "Michael", "William", "David", "Richard", "Joseph", "Thomas",
    "Charles", "Daniel", "Matthew", "Anthony", "Mark", "Paul", "Steven", "Andrew", "Kevin", "Brian",
    "George", "Edward", "Ryan", "Jacob", "Gary", "Eric", "Jonathan", "Stephen", "Justin", "Scott",
    "Brandon", "Frank", "Benjamin", "Samuel", "Patrick", "Alexander", "Jack", "Tyler", "Aaron", "Henry",
    "Adam", "Peter", "Nathan", "Kyle", "Arthur", "Jeremy", "Sean", "Austin", "Jesse", "Simon",
    "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah", "Karen", "Nancy",
    "Lisa", "Margaret", "Ashley", "Emily", "Michelle", "Carol", "Amanda", "Melissa", "Stephanie", "Rebecca",
    "Laura", "Sharon", "Amy", "Angela", "Helen", "Anna", "Brenda", "Pamela", "Nicole", "Emma",
    "Samantha", "Katherine", "Rachel", "Maria", "Heather", "Julie", "Victoria", "Kelly", "Lauren", "Grace",
    "Alice", "Rose", "Claire", "Sophie", "Hannah", "Olivia", "Ruth", "Lucy", "Jane", "Martha",
)  # fmt: skip

PLACES: tuple[str, ...] = (
    "store", "park", "school", "beach", "hospital", "restaurant", "library", "station", "office",
    "garden", "museum", "market", "church", "airport", "bank", "cinema", "gym", "mall", "zoo", "farm",
    "hotel", "lake",
)  # fmt: skip

OBJECTS: tuple[str, ...] = (
    "book", "ball", "letter", "drink", "bag", "gift", "key", "phone", "ring", "card", "cake", "pen",
    "flower", "bottle", "hat", "ticket", "watch", "box", "coin", "basket", "cup", "toy", "kite",
)  # fmt: skip

# The origin's name lists, verbatim (see fixtures/published/PROVENANCE.md for the origin repository and commit).
ORIGIN_IOI_NAMES: tuple[str, ...] = (
    "John", "Mary", "Tom", "Kate", "Raj", "Liam", "Mia", "Omar", "Lina", "Chen", "Sara", "Ivy", "Alex",
    "Noah", "Zoe",
)  # fmt: skip
ORIGIN_ANTI_NAMES: tuple[str, ...] = (
    "Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory", "Oscar",
)  # fmt: skip

# ---------------------------------------------------------------------------------------------
# Templates. Name slots: {A} and {B} are the first two names, {C} the repeated one. A clean prompt
# fills them as (IO, S, S) in ABBA order and (S, IO, S) in BABA order; its ABC corruption fills
# them with three fresh names. Every template ends with " to", the token before the answer.
# ---------------------------------------------------------------------------------------------

WANG_IOI_TEMPLATES: tuple[str, ...] = (
    "When {A} and {B} went to the {PLACE}, {C} gave a {OBJECT} to",
    "After {A} and {B} arrived at the {PLACE}, {C} handed a {OBJECT} to",
    "While {A} and {B} were at the {PLACE}, {C} passed a {OBJECT} to",
    "Then, {A} and {B} walked into the {PLACE}. {C} gave a {OBJECT} to",
    "When {A} and {B} got to the {PLACE}, {C} threw a {OBJECT} to",
    "Yesterday {A} and {B} visited the {PLACE}, and {C} sold a {OBJECT} to",
    "After {A} and {B} left the {PLACE}, {C} showed a {OBJECT} to",
    "Today {A} and {B} met at the {PLACE}. Later, {C} gave a {OBJECT} to",
    "When {A} and {B} came back from the {PLACE}, {C} brought a {OBJECT} to",
    "Once {A} and {B} reached the {PLACE}, {C} offered a {OBJECT} to",
    "Friends {A} and {B} spent the day at the {PLACE}. {C} lent a {OBJECT} to",
    "On the way to the {PLACE}, {A} and {B} stopped, and {C} tossed a {OBJECT} to",
    "At the {PLACE}, {A} and {B} had a long talk. Then {C} mailed a {OBJECT} to",
    "Since {A} and {B} were working at the {PLACE}, {C} sent a {OBJECT} to",
    "The {PLACE} was busy when {A} and {B} arrived, so {C} gave a {OBJECT} to",
    "When {A} and {B} cleaned the {PLACE}, {C} returned a {OBJECT} to",
    "Before {A} and {B} left for the {PLACE}, {C} handed a {OBJECT} to",
)
ORIGIN_IOI_TEMPLATE = "When {A} and {B} went to the store, {C} gave a gift to"
ANTI_TEMPLATE = "{A} met {B}. {C} talked to"  # the origin's control, used by both styles

# The zoo's words: those of NAMES, PLACES and OBJECTS whose " "+word is one token under the GGUF
# tokenizers of smollm2-135m, qwen2.5-coder-0.5b/1.5b and gemma-3-270m, as `shared_vocabulary` found
# on 2026-11-25 (tests/integration/test_zoo.py checks it stays so): every place and object, and every
# name but four that SmolLM2 splits. Sentence-initial names (the control task) are those that are one
# token without the space under all four tokenizers too.
_ZOO_SPLIT_NAMES = ("Brandon", "Kyle", "Brenda", "Pamela")
ZOO_NAMES: tuple[str, ...] = tuple(n for n in NAMES if n not in _ZOO_SPLIT_NAMES)
ZOO_OPENERS: tuple[str, ...] = (
    "John", "Mary", "James", "Robert", "Michael", "William", "David", "Richard", "Joseph", "Thomas",
    "Charles", "Daniel", "Matthew", "Mark", "Paul", "Andrew", "George", "Edward", "Jacob", "Stephen",
    "Scott", "Frank", "Alexander", "Jack", "Henry", "Adam", "Peter", "Arthur", "Simon", "Elizabeth",
    "Sarah", "Emily", "Anna", "Maria", "Alice", "Rose", "Jane",
)  # fmt: skip
ZOO_PLACES: tuple[str, ...] = PLACES
ZOO_OBJECTS: tuple[str, ...] = OBJECTS

NAME_SLOTS = ("A", "B", "C")
MIN_NAMES = 5  # two for the clean prompt plus three fresh ones for its corruption
MIN_OPENERS = 3  # a prompt opening with a name needs S, its corruption's opener, and IO may be one too

# ---------------------------------------------------------------------------------------------
# The spec
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskSpec:
    """Which prompts to build: the task, the prompt style, how many, the seed and the BOS rule."""

    task: Literal["ioi", "anti"]
    style: Literal["wang", "replication"] = "wang"
    n_prompts: int = 200
    seed: int = 0
    prepend_bos: bool = True

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise InputError(f"TaskSpec.task must be one of {TASKS}, got {self.task!r}")
        if self.style not in STYLES:
            raise InputError(f"TaskSpec.style must be one of {STYLES}, got {self.style!r}")
        if not _is_int(self.n_prompts) or self.n_prompts < 1:
            raise InputError(f"TaskSpec.n_prompts must be an integer >= 1, got {self.n_prompts!r}")
        if not _is_int(self.seed) or self.seed < 0:
            raise InputError(f"TaskSpec.seed must be an integer >= 0, got {self.seed!r}")
        if not isinstance(self.prepend_bos, bool):
            raise InputError(f"TaskSpec.prepend_bos must be a bool, got {self.prepend_bos!r}")

    def key(self) -> dict[str, Any]:
        """The spec as a plain JSON-able dict, for cache keys."""
        return {
            "task": self.task,
            "style": self.style,
            "n_prompts": int(self.n_prompts),
            "seed": int(self.seed),
            "prepend_bos": self.prepend_bos,
        }


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


# ---------------------------------------------------------------------------------------------
# The single-token rule
# ---------------------------------------------------------------------------------------------


def _pieces(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer.encode(text, add_special_tokens=False))


def _multi_token_reason(tokenizer: Any, text: str) -> str | None:
    """None when `text` encodes to exactly one token, else why it does not."""
    ids = _pieces(tokenizer, text)
    if len(ids) == 1:
        return None
    shown = [tokenizer.decode([i]) for i in ids]
    return f"{text!r} encodes to {len(ids)} tokens {shown}"


def _filter_words(words: Sequence[str], tokenizer: Any, kind: str) -> tuple[list[str], dict[str, str]]:
    """Split `words` into those whose " "+word is one token (kept, in order) and the others (dropped,
    word -> reason, each logged)."""
    kept: list[str] = []
    dropped: dict[str, str] = {}
    for word in words:
        reason = _multi_token_reason(tokenizer, " " + word)
        if reason is None:
            kept.append(word)
        else:
            dropped[word] = reason
            log.info("dropped %s %r: %s", kind, word, reason)
    return kept, dropped


def _opens_as_one_token(words: Sequence[str], tokenizer: Any) -> list[str]:
    """Those of `words` that are also one token WITHOUT a leading space, i.e. can open a prompt."""
    return [w for w in words if _multi_token_reason(tokenizer, w) is None]


def vocabulary_survival(tokenizer: Any) -> dict[str, dict[str, Any]]:
    """How many words of each list pass the single-token rule under `tokenizer`.

    One entry per list (names, places, objects, origin_ioi_names, origin_anti_names) with `total`,
    `kept`, `dropped` (word -> reason) and, for name lists, `sentence_initial`: how many kept names
    are one token without their leading space too (only those can open an anti-repeat prompt).
    """
    lists = {
        "names": NAMES,
        "places": PLACES,
        "objects": OBJECTS,
        "origin_ioi_names": ORIGIN_IOI_NAMES,
        "origin_anti_names": ORIGIN_ANTI_NAMES,
    }
    report: dict[str, dict[str, Any]] = {}
    for kind, words in lists.items():
        kept, dropped = _filter_words(words, tokenizer, kind)
        entry: dict[str, Any] = {"total": len(words), "kept": len(kept), "dropped": dropped}
        if kind.endswith("names"):
            entry["sentence_initial"] = len(_opens_as_one_token(kept, tokenizer))
        report[kind] = entry
    return report


# ---------------------------------------------------------------------------------------------
# Templates and their slots
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Vocabulary:
    """The words one prompt set draws from, already filtered for a tokenizer."""

    names: list[str]
    openers: list[str]  # names that may fill a slot at the very start of a prompt
    places: list[str]
    objects: list[str]
    dropped: dict[str, str]


def _templates(spec: TaskSpec) -> tuple[str, ...]:
    if spec.task == "anti":
        return (ANTI_TEMPLATE,)
    return (ORIGIN_IOI_TEMPLATE,) if spec.style == "replication" else WANG_IOI_TEMPLATES


def _orders(spec: TaskSpec) -> tuple[str, ...]:
    """Wang IOI prompts use both orders; the origin's two templates both put S first (BABA)."""
    return ORDERS if spec.task == "ioi" and spec.style in ("wang", "zoo") else ("BABA",)


def _fields(template: str) -> list[str]:
    return [f for _, f, _, _ in string.Formatter().parse(template) if f]


def _initial_slot(template: str) -> str | None:
    """The name slot the template opens with (its name then has no leading space), if any."""
    first = _fields(template)[0]
    return first if first in NAME_SLOTS and template.startswith("{" + first + "}") else None


def _filler_words(words: Sequence[str], tokenizer: Any, kind: str, needed: bool) -> tuple[list[str], dict[str, str]]:
    """The single-token `words` of one kind the templates use (none when they do not use it)."""
    if not needed:
        return [], {}
    kept, dropped = _filter_words(words, tokenizer, kind)
    if not kept:
        raise InputError(f"no {kind} of {list(words)} is a single token under this tokenizer")
    return kept, dropped


def shared_vocabulary(tokenizers: Sequence[Any]) -> dict[str, tuple[str, ...]]:
    """The words of NAMES, PLACES and OBJECTS that are one token (after a space) under every one of
    `tokenizers`, in list order: how the ZOO_* lists were made."""
    out = {}
    for kind, words in (("names", NAMES), ("places", PLACES), ("objects", OBJECTS)):
        kept = [w for w in words if all(_multi_token_reason(t, " " + w) is None for t in tokenizers)]
        out[kind] = tuple(kept)
    return out


def _zoo_vocabulary(spec: TaskSpec, tokenizer: Any) -> _Vocabulary:
    """The zoo's fixed words, refusing a tokenizer under which any of them is not one token."""
    bad = {w: r for kind, words in (("name", ZOO_NAMES), ("place", ZOO_PLACES), ("object", ZOO_OBJECTS))
           for w in words if (r := _multi_token_reason(tokenizer, " " + w)) is not None}
    if bad:
        raise InputError(
            f"zoo prompts must be the same text for every model, but under this tokenizer {len(bad)} zoo "
            f"words are not one token: {bad}"
        )
    split_openers = [w for w in ZOO_OPENERS if _multi_token_reason(tokenizer, w) is not None]
    if spec.task == "anti" and split_openers:
        raise InputError(f"zoo sentence-initial names must be one token under every zoo tokenizer; not here: {split_openers}")
    return _Vocabulary(list(ZOO_NAMES), list(ZOO_OPENERS), list(ZOO_PLACES), list(ZOO_OBJECTS), {})


def _vocabulary(spec: TaskSpec, tokenizer: Any) -> _Vocabulary:
    """The single-token words `spec` may use under `tokenizer`, or a ValueError when too few."""
    if spec.style == "zoo":
        return _zoo_vocabulary(spec, tokenizer)
    if spec.style == "replication":
        source = ORIGIN_IOI_NAMES if spec.task == "ioi" else ORIGIN_ANTI_NAMES
    else:
        source = NAMES
    names, dropped = _filter_words(source, tokenizer, "name")
    if len(names) < MIN_NAMES:
        raise InputError(
            f"only {len(names)} of {len(source)} names are single tokens under this tokenizer "
            f"({names}); {spec.task}/{spec.style} prompts need at least {MIN_NAMES}. Dropped: {dropped}"
        )
    openers = _opens_as_one_token(names, tokenizer)
    templates = _templates(spec)
    if any(_initial_slot(t) for t in templates) and len(openers) < MIN_OPENERS:
        raise InputError(
            f"{spec.task}/{spec.style} prompts open with a name, which must then be one token without "
            f"a leading space too; only {openers} are, and at least {MIN_OPENERS} are needed"
        )
    fields = {f for t in templates for f in _fields(t)}
    places, dropped_places = _filler_words(PLACES, tokenizer, "place", "PLACE" in fields)
    objects, dropped_objects = _filler_words(OBJECTS, tokenizer, "object", "OBJECT" in fields)
    return _Vocabulary(names, openers, places, objects, {**dropped, **dropped_places, **dropped_objects})


# ---------------------------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------------------------


def _roles(order: str) -> tuple[str, str, str]:
    """Who fills name slots A, B, C of a clean prompt: IO first (ABBA) or S first (BABA)."""
    return ("IO", "S", "S") if order == "ABBA" else ("S", "IO", "S")


@dataclass(frozen=True)
class _Row:
    """One sampled prompt pair before tokenisation."""

    template_id: int
    order: str
    io: str
    s: str
    corrupt: tuple[str, str, str]  # fillers of slots A, B, C in the ABC prompt
    place: str
    obj: str

    @property
    def clean(self) -> tuple[str, str, str]:
        """Fillers of slots A, B, C in the clean prompt."""
        who = {"IO": self.io, "S": self.s}
        a, b, c = (who[role] for role in _roles(self.order))
        return a, b, c


def _pick(rng: np.random.Generator, pool: Sequence[str], exclude: Sequence[str]) -> str:
    candidates = [w for w in pool if w not in exclude]
    return candidates[int(rng.integers(len(candidates)))]


def _balanced(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """n draws from range(k), as evenly spread as possible, in random order."""
    return rng.permutation(np.arange(n) % k)


def _sample_rows(spec: TaskSpec, vocab: _Vocabulary) -> list[_Row]:
    """Draw every prompt's template, order and words from a generator seeded by `spec.seed`."""
    rng = np.random.default_rng(spec.seed)
    templates, orders = _templates(spec), _orders(spec)
    template_ids = _balanced(rng, spec.n_prompts, len(templates))
    order_ids = _balanced(rng, spec.n_prompts, len(orders))
    rows = []
    for tid, oid in zip(template_ids, order_ids, strict=True):
        order = orders[oid]
        initial = _initial_slot(templates[tid])
        opener_role = _roles(order)[NAME_SLOTS.index(initial)] if initial else None
        s = _pick(rng, vocab.openers if opener_role == "S" else vocab.names, ())
        io = _pick(rng, vocab.openers if opener_role == "IO" else vocab.names, (s,))
        corrupt: list[str] = []
        for slot in NAME_SLOTS:
            pool = vocab.openers if slot == initial else vocab.names
            corrupt.append(_pick(rng, pool, (io, s, *corrupt)))
        place = _pick(rng, vocab.places, ()) if vocab.places else ""  # "": the template has no slot
        obj = _pick(rng, vocab.objects, ()) if vocab.objects else ""
        rows.append(_Row(int(tid), order, io, s, (corrupt[0], corrupt[1], corrupt[2]), place, obj))
    return rows


def _render(template: str, names: tuple[str, str, str], place: str, obj: str) -> tuple[str, list[int]]:
    """The filled template and the character offset where each name slot's text begins."""
    values = dict(zip(NAME_SLOTS, names, strict=True), PLACE=place, OBJECT=obj)
    text, starts = "", {}
    for literal, field, _, _ in string.Formatter().parse(template):
        text += literal
        if field:
            starts[field] = len(text)
            text += values[field]
    return text, [starts[slot] for slot in NAME_SLOTS]


# ---------------------------------------------------------------------------------------------
# Tokenisation
# ---------------------------------------------------------------------------------------------


@dataclass
class PromptSet:
    """A tokenised prompt set: clean prompts, their ABC corruptions and the answer tokens.

    `tokens` and `corrupt_tokens` are (N, T) int64, right-padded with the pad id; `attention_mask`
    marks real tokens; `last_pos` is the index of each row's last real token (" to", where the answer
    is predicted); `name_pos` (N, 3) the positions of name slots A, B, C. `correct_id` / `distractor_id`
    are the single-token ids of " IO" / " S". `dropped` maps each word left out of the lists this set
    draws from to the reason (not a single token).
    """

    spec: TaskSpec
    clean_text: list[str]
    corrupt_text: list[str]
    template_id: np.ndarray
    order: list[str]
    tokens: np.ndarray
    corrupt_tokens: np.ndarray
    attention_mask: np.ndarray
    last_pos: np.ndarray
    name_pos: np.ndarray
    correct_id: np.ndarray
    distractor_id: np.ndarray
    n_templates: int
    dropped: dict[str, str]

    def __len__(self) -> int:
        return len(self.clean_text)


def _bos(spec: TaskSpec, tokenizer: Any) -> list[int]:
    """[bos id] when the spec asks for BOS and the tokenizer has one (TransformerLens's default)."""
    return [tokenizer.bos_token_id] if spec.prepend_bos and tokenizer.bos_token_id is not None else []


def _encode_row(
    tokenizer: Any, bos: list[int], text: str, starts: list[int], names: tuple[str, str, str]
) -> tuple[list[int], list[int]]:
    """The ids of one prompt and the positions of its name slots, checked: each slot must hold exactly
    the name's single token, or the prompt is not position-aligned with its template."""
    ids = bos + _pieces(tokenizer, text)
    positions = []
    for start, name in zip(starts, names, strict=True):
        surface = name if start == 0 else " " + name
        head = text[: start - 1] if start > 0 else ""
        pos = len(bos) + len(_pieces(tokenizer, head))
        (expected,) = _pieces(tokenizer, surface)
        if pos >= len(ids) or ids[pos] != expected:
            raise RuntimeError(f"name slot {surface!r} is not one aligned token in {text!r}: {ids}")
        positions.append(pos)
    return ids, positions


def _pad(rows: list[list[int]], width: int, pad_id: int) -> np.ndarray:
    out = np.full((len(rows), width), pad_id, dtype=np.int64)
    for i, ids in enumerate(rows):
        out[i, : len(ids)] = ids
    return out


def _check_alignment(template_id: np.ndarray, lengths: np.ndarray, name_pos: np.ndarray) -> None:
    """Every row of one template must have the same length and name positions."""
    for tid in np.unique(template_id):
        rows = template_id == tid
        if len(set(lengths[rows])) != 1 or len({tuple(p) for p in name_pos[rows]}) != 1:
            raise RuntimeError(f"template {tid} tokenises to rows of different lengths or name positions")


def build_prompts(spec: TaskSpec, tokenizer: Any) -> PromptSet:
    """The prompt set `spec` describes, tokenised by `tokenizer`; deterministic given both."""
    vocab = _vocabulary(spec, tokenizer)
    templates = _templates(spec)
    rows = _sample_rows(spec, vocab)
    bos = _bos(spec, tokenizer)
    clean_text, corrupt_text, clean_ids, corrupt_ids, name_pos = [], [], [], [], []
    for row in rows:
        template = templates[row.template_id]
        text, starts = _render(template, row.clean, row.place, row.obj)
        ctext, cstarts = _render(template, row.corrupt, row.place, row.obj)
        ids, pos = _encode_row(tokenizer, bos, text, starts, row.clean)
        cids, cpos = _encode_row(tokenizer, bos, ctext, cstarts, row.corrupt)
        if len(ids) != len(cids) or pos != cpos:
            raise RuntimeError(f"clean and corrupt prompts are not aligned: {text!r} vs {ctext!r}")
        clean_text.append(text)
        corrupt_text.append(ctext)
        clean_ids.append(ids)
        corrupt_ids.append(cids)
        name_pos.append(pos)
    lengths = np.array([len(ids) for ids in clean_ids], dtype=np.int64)
    width = int(lengths.max())
    template_id = np.array([r.template_id for r in rows], dtype=np.int64)
    name_pos_arr = np.array(name_pos, dtype=np.int64)
    _check_alignment(template_id, lengths, name_pos_arr)
    return PromptSet(
        spec=spec,
        clean_text=clean_text,
        corrupt_text=corrupt_text,
        template_id=template_id,
        order=[r.order for r in rows],
        tokens=_pad(clean_ids, width, tokenizer.pad_token_id),
        corrupt_tokens=_pad(corrupt_ids, width, tokenizer.pad_token_id),
        attention_mask=(np.arange(width)[None, :] < lengths[:, None]).astype(np.int64),
        last_pos=lengths - 1,
        name_pos=name_pos_arr,
        correct_id=np.array([_pieces(tokenizer, " " + r.io)[0] for r in rows], dtype=np.int64),
        distractor_id=np.array([_pieces(tokenizer, " " + r.s)[0] for r in rows], dtype=np.int64),
        n_templates=len(templates),
        dropped=vocab.dropped,
    )
