"""The one schema library for every settings file the harness reads (msgspec): a base `Schema` (frozen,
unknown keys refused), the constrained types the files share, and `convert`, which validates parsed
TOML into a schema and turns any refusal into one line naming the file and the key.

A range is declared on the field's type (`Share`, `PValue`, `Count`, ...), so the check and its wording
live in one place; a rule that spans fields is a `__post_init__` raising `rule(...)`. msgspec was chosen
over pydantic v2 for its import cost (the gate reads these files before any model): measured on this
machine, importing the library, defining a nested model and validating one dict took ~20 ms with
msgspec 0.23 and ~80-115 ms with pydantic 2.14 (python -X importtime and a perf_counter around both).
"""

from __future__ import annotations

import math
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from harness.paths import SAFE_NAME
from harness.sizes import MAX_DRAWS, MAX_HEADS, MAX_LAYERS, MAX_PROMPTS

__all__ = ["Schema", "convert", "read_toml", "rule", "Share", "SignedShare", "PValue", "Level", "Count", "Seed",
           "Text", "Name", "NAME_PATTERN", "Prompts", "Draws", "Layers", "Heads", "replace"]

replace = msgspec.structs.replace


class Schema(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A section of a settings file: every key declared, none unknown, values immutable once read."""


# Shared constrained types: a value outside its range changes verdicts without meaning anything.
Share = Annotated[float, Meta(ge=0.0, le=1.0)]  # a share of heads / prompts / universes
SignedShare = Annotated[float, Meta(ge=-1.0, le=1.0)]  # a difference of two shares
PValue = Annotated[float, Meta(gt=0.0, lt=1.0)]  # a significance bound
Level = Annotated[float, Meta(gt=0.0, lt=1.0)]  # an interval's coverage
Count = Annotated[int, Meta(ge=1)]  # draws, resamples, heads: at least one
# Sizes: a count that allocates is bounded above (harness.sizes) so an absurd one is refused where it is
# read, not by the allocator; a boolean is no count (msgspec refuses `true` for an int).
Prompts = Annotated[int, Meta(ge=2, le=MAX_PROMPTS)]  # a prompt count (a split half needs two)
Draws = Annotated[int, Meta(ge=1, le=MAX_DRAWS)]  # bootstrap draws, permutations, random sets
Layers = Annotated[int, Meta(ge=1, le=MAX_LAYERS)]
Heads = Annotated[int, Meta(ge=1, le=MAX_HEADS)]
Seed = Annotated[int, Meta(ge=0, lt=2**32)]
Text = Annotated[str, Meta(pattern=r"\S", description="a non-empty text")]
# A model name: it becomes a file name and a check id, so letters, digits and . _ - only (no path
# separator, no leading dot or dash).
# The one rule is harness.paths.SAFE_NAME (issue 31): 1 to 64 characters.
NAME_PATTERN = f"^{SAFE_NAME.pattern}$"
Name = Annotated[str, Meta(pattern=NAME_PATTERN, description="a safe name: 1 to 64 letters, digits, '.', '_', '~' or '-', starting with a letter or digit")]

_RULE = "\x00rule:"  # marks a __post_init__ refusal inside msgspec's message


def rule(text: str) -> ValueError:
    """A refusal from a `__post_init__` (a rule across fields): raise rule('min = 0.6 must be ...')."""
    return ValueError(f"{_RULE}{text}")


def read_toml(path: Path, error: type[ValueError]) -> dict[str, Any]:
    """A settings file parsed; `error` (one line naming the file) when it is unreadable or not TOML."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not valid TOML ({exc})") from None


def convert(raw: Any, model: Any, path: Path | str, error: type[ValueError], at: str = "") -> Any:
    """`raw` (parsed TOML) validated into `model`; `error` with one line "<path>: <key> ..." otherwise.
    `at` is where `raw` sits in its file ("transfer" when a section is validated alone)."""
    bad = _non_finite(raw, at)
    if bad:
        raise error(f"{path}: {bad[0]} = {bad[1]!r} must be a finite number")
    try:
        return msgspec.convert(raw, model)
    except msgspec.ValidationError as exc:
        raise error(f"{path}: {_explain(str(exc), raw, model, at)}") from None


def _non_finite(value: Any, where: str) -> tuple[str, float] | None:
    if isinstance(value, float) and not math.isfinite(value):
        return where, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, sub in items:
        found = _non_finite(sub, f"{where}[{key}]" if isinstance(key, int) else _join(where, key))
        if found:
            return found
    return None


def _join(where: str, key: Any) -> str:
    """`where.key`, the key quoted as TOML quotes it where it is not bare ("qwen2.5-coder-1.5b")."""
    key = str(key) if re.fullmatch(r"[A-Za-z0-9_-]+", str(key)) else '"' + str(key).replace('"', '\\"') + '"'
    return f"{where}.{key}" if where else key


_MISSING = object()


def _explain(message: str, raw: Any, model: Any, at: str) -> str:
    """msgspec's "<what> - at `$.a.b[...]`" as "<key> = <value> must be <the field's range>"."""
    what, _, location = message.partition(" - at `$")
    where, value, hint = _locate(raw, model, location.rstrip("`"), at)
    if what.startswith(_RULE):
        return f"[{where}] {what.removeprefix(_RULE)}" if where else what.removeprefix(_RULE)
    field = re.match(r"Object (contains unknown|missing required) field `(.+)`", what)
    if field and field.group(1) == "missing required":
        return f"missing key {_join(where, field.group(2))}"
    if field:
        allowed = ", ".join(f.name for f in msgspec.structs.fields(_struct(hint))) if _struct(hint) else "none"
        return f"unknown key {_join(where, field.group(2))} (allowed there: {allowed})"
    if what.startswith(("Expected `object`, got", "Expected `array`, got")) and _struct(hint):
        return f"[{where}] must be a table, got {value!r}"
    type_error = ", got `" in what or what.startswith("Invalid enum")
    return f"{where} = {value!r} must be {describe(hint, with_type=type_error)}"


def _struct(hint: Any) -> type | None:
    hint = _strip(hint)
    if isinstance(hint, type) and issubclass(hint, msgspec.Struct):
        return hint
    structs = [a for a in typing.get_args(hint) if isinstance(a, type) and issubclass(a, msgspec.Struct)]
    return structs[0] if len(structs) == 1 else None


def _strip(hint: Any) -> Any:
    return typing.get_args(hint)[0] if typing.get_origin(hint) is Annotated else hint


def _locate(raw: Any, model: Any, location: str, at: str) -> tuple[str, Any, Any]:
    """The dotted key, raw value and declared type at msgspec's location ".a.b[...].c[1]"."""
    where, value, hint = at, raw, model
    for name, index in re.findall(r"\.([^.\[]+)|\[([^\]]*)\]", location):
        struct = _struct(hint)
        if name:
            hints = typing.get_type_hints(struct, include_extras=True) if struct else {}
            hint = hints.get(name, Any)
            value = value.get(name, _MISSING) if isinstance(value, dict) else _MISSING
            where = _join(where, name)
        elif index == "...":  # a table's value: find the key whose value fails
            item = typing.get_args(_member(hint, dict))[-1]
            key = next((k for k, v in value.items() if not _valid(v, item)), "?") if isinstance(value, dict) else "?"
            value, hint, where = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING, item, _join(where, key)
        else:
            item = typing.get_args(_member(hint, list))
            hint = item[0] if item else Any
            value = value[int(index)] if isinstance(value, list) and int(index) < len(value) else _MISSING
            where = f"{where}[{index}]"
    return where, value, hint


def _member(hint: Any, container: type) -> Any:
    """The dict (or list / tuple) type of `hint`, out of an Annotated or a union."""
    kinds = (dict,) if container is dict else (list, tuple)
    for candidate in (hint, *typing.get_args(hint)):
        candidate = _strip(candidate)
        if typing.get_origin(candidate) in kinds:
            return candidate
    return hint


def _valid(value: Any, hint: Any) -> bool:
    try:
        msgspec.convert(value, hint)
    except msgspec.ValidationError:
        return False
    return True


def _number(x: float) -> str:
    return f"{x:g}" if abs(x) < 1e6 else ("2**32" if x == 2**32 else str(x))


def describe(hint: Any, with_type: bool = True) -> str:
    """How a declared type reads in an error: 'in [0, 1]', 'int >= 1', "one of ('a', 'b')", ...;
    `with_type` names the type too (the value had another type, not a value out of range)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        return describe(members[0], with_type) if len(members) == 1 else " or ".join(describe(a) for a in members)
    if typing.get_origin(hint) in (dict, list, tuple):
        inner = typing.get_args(hint)[-1] if typing.get_origin(hint) is dict else typing.get_args(hint)[0]
        if inner is Any:
            return "a table" if typing.get_origin(hint) is dict else "a list"
        return f"{'a table' if typing.get_origin(hint) is dict else 'a list'} of {describe(inner)}"
    if typing.get_origin(hint) is Literal:
        values = typing.get_args(hint)
        return repr(values[0]) if len(values) == 1 else f"one of {values}"
    if typing.get_origin(hint) is not Annotated:
        return getattr(hint, "__name__", str(hint))
    base, *metas = typing.get_args(hint)
    meta = next((m for m in metas if isinstance(m, Meta)), None)
    if meta is None:
        return describe(base)
    if meta.description:
        return meta.description
    if meta.min_length is not None and typing.get_origin(base) in (dict, list, tuple):
        return f"{'a non-empty' if meta.min_length == 1 else f'at least {meta.min_length} entries in'} {describe(base).removeprefix('a ')}"
    lo = (meta.ge, "[") if meta.ge is not None else (meta.gt, "(") if meta.gt is not None else None
    hi = (meta.le, "]") if meta.le is not None else (meta.lt, ")") if meta.lt is not None else None
    if lo and hi:
        bound = f"in {lo[1]}{_number(lo[0])}, {_number(hi[0])}{hi[1]}"
    elif lo:
        bound = f"{'>=' if lo[1] == '[' else '>'} {_number(lo[0])}"
    elif hi:
        bound = f"{'<=' if hi[1] == ']' else '<'} {_number(hi[0])}"
    else:
        bound = ""
    name = getattr(base, "__name__", str(base))
    return f"{name} {bound}".strip() if with_type or not bound else bound
