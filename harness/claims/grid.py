"""claims/robustness.toml read into a typed, validated `Grid`: the analyst's choices a verdict could
hang on, their values and rationales, and the robust / fragile labels.

A table-level choice names the [transfer] setting of claims/thresholds.toml it varies ("transfer.k");
its default is that setting's value and each of its values is converted and validated by
`Thresholds.with_transfer`, exactly as a value of the thresholds file. A score-level choice takes its
default from the `RunSpec` field it names (`run_field`) or from `default`. An unknown, missing or
mistyped key, a value the setting refuses, or a default outside the values stops the run with one line
naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from harness.claims import thresholds as thresholds_mod
from harness.claims.thresholds import Thresholds, ThresholdsError
from harness.paths import REPO_ROOT

GRID_FILE = REPO_ROOT / "claims" / "robustness.toml"
LEVELS = ("table", "score")
SETTING_SECTION = "transfer"  # a table-level choice varies a key of this thresholds.toml section

# Keys each kind of entry takes: required, optional.
_LABEL_KEYS = ({"robust_min", "fragile_below", "rationale"}, set())
_TABLE_KEYS = ({"setting", "values", "rationale"}, set())
_SCORE_KEYS = ({"values", "rationale"}, {"run_field", "default", "sibling"})


class GridError(ValueError):
    """robustness.toml does not match the schema (one line: file, key, what is wrong)."""


@dataclass(frozen=True)
class Choice:
    """One choice an analyst makes, its reasonable values and its default."""

    name: str
    level: str  # table | score
    values: tuple
    default: Any
    rationale: str
    setting: str | None = None  # table-level: the thresholds.toml key it varies ("transfer.k")
    sibling: str | None = None  # score-level: name pattern of a source scored with another value

    @property
    def field(self) -> str:
        """The Transfer field a table-level choice sets ("k" for "transfer.k")."""
        return self.setting.partition(".")[2]

    def label(self, value: Any) -> str:
        """'k=10', 'weak=0.333': how a value of this choice is named in reports."""
        shown = f"{value:.3g}" if isinstance(value, float) else str(value)
        return f"{self.name}={shown}"


@dataclass(frozen=True)
class Labels:
    """Share of its grid where a check holds -> 'robust' (>= robust_min), 'fragile' (< fragile_below)
    or 'in between'."""

    robust_min: float
    fragile_below: float
    rationale: str = ""

    def __call__(self, share: float) -> str:
        if share >= self.robust_min:
            return "robust"
        if share < self.fragile_below:
            return "fragile"
        return "in between"


@dataclass(frozen=True)
class Grid:
    """Every choice of the file (table-level first) and the labels."""

    choices: dict[str, Choice]
    labels: Labels
    path: Path = GRID_FILE

    def table(self, only: Iterable[str] | None = None) -> dict[str, Choice]:
        """The table-level choices (all, or those named in `only`; GridError naming an unknown one)."""
        table = {n: c for n, c in self.choices.items() if c.level == "table"}
        if only is None:
            return table
        unknown = [n for n in only if n not in table]
        if unknown:
            raise GridError(f"unknown choice {', '.join(unknown)}; table-level choices are {', '.join(table)}")
        return {n: table[n] for n in only}

    def score(self) -> dict[str, Choice]:
        return {n: c for n, c in self.choices.items() if c.level == "score"}


def _keys(entry: Any, where: str, path: Path, allowed: tuple[set[str], set[str]]) -> dict[str, Any]:
    required, optional = allowed
    if not isinstance(entry, dict):
        raise GridError(f"{path}: [{where}] must be a table, got {entry!r}")
    unknown = sorted(set(entry) - required - optional)
    if unknown:
        raise GridError(f"{path}: unknown key {where}.{unknown[0]} (allowed there: {', '.join(sorted(required | optional))})")
    absent = sorted(required - set(entry))
    if absent:
        raise GridError(f"{path}: missing key {where}.{absent[0]}")
    return entry


def _text(value: Any, where: str, path: Path) -> str:
    if not isinstance(value, str) or not value.strip():
        raise GridError(f"{path}: {where} must be a non-empty string, got {value!r}")
    return value


def _values(value: Any, where: str, path: Path) -> list:
    if not isinstance(value, list) or not value:
        raise GridError(f"{path}: {where} must be a non-empty list, got {value!r}")
    for i, item in enumerate(value):
        if isinstance(item, float) and not math.isfinite(item):
            raise GridError(f"{path}: {where}[{i}] = {item!r} must be a finite number")
    return value


def _run_default(run_field: str, where: str, path: Path) -> Any:
    from harness.runs.recompute import RunSpec  # a plain dataclass: no model is loaded

    if run_field not in {f.name for f in dataclasses.fields(RunSpec)}:
        raise GridError(f"{path}: {where} = {run_field!r} is not a field of RunSpec")
    return getattr(RunSpec(), run_field)


def _table_choice(name: str, entry: Any, path: Path, settings: Thresholds) -> Choice:
    where = f"table.{name}"
    entry = _keys(entry, where, path, _TABLE_KEYS)
    setting = _text(entry["setting"], f"{where}.setting", path)
    section, _, field = setting.partition(".")
    if section != SETTING_SECTION or not field:
        raise GridError(f"{path}: {where}.setting = {setting!r} must name a [{SETTING_SECTION}] key, e.g. 'transfer.k'")
    values = []
    for i, raw in enumerate(_values(entry["values"], f"{where}.values", path)):
        try:  # converted and checked as the thresholds file's own value would be
            values.append(getattr(settings.with_transfer(**{field: raw}).transfer, field))
        except ThresholdsError as err:
            raise GridError(f"{path}: {where}.values[{i}]: {err}") from None
    default = getattr(settings.transfer, field)
    if default not in values:
        raise GridError(f"{path}: choice {name!r}: default {default!r} ({settings.path.name} {setting}) is not one of its values {values}")
    return Choice(name, "table", tuple(values), default, _text(entry["rationale"], f"{where}.rationale", path), setting)


def _score_choice(name: str, entry: Any, path: Path) -> Choice:
    where = f"score.{name}"
    entry = _keys(entry, where, path, _SCORE_KEYS)
    if ("run_field" in entry) == ("default" in entry):
        raise GridError(f"{path}: {where} needs exactly one of run_field, default")
    values = tuple(_values(entry["values"], f"{where}.values", path))
    if "run_field" in entry:
        default = _run_default(_text(entry["run_field"], f"{where}.run_field", path), f"{where}.run_field", path)
    else:
        default = entry["default"]
    if default not in values:
        raise GridError(f"{path}: choice {name!r}: default {default!r} is not one of its values {list(values)}")
    sibling = _text(entry["sibling"], f"{where}.sibling", path) if "sibling" in entry else None
    return Choice(name, "score", values, default, _text(entry["rationale"], f"{where}.rationale", path), None, sibling)


def parse(raw: dict[str, Any], path: Path = GRID_FILE, settings: Thresholds | None = None) -> Grid:
    """Validate the parsed TOML of a robustness file into `Grid`; table-level defaults and values are
    read and checked against `settings` (default: claims/thresholds.toml)."""
    settings = settings if settings is not None else thresholds_mod.load()
    unknown = sorted(set(raw) - {"labels", *LEVELS})
    if unknown:
        raise GridError(f"{path}: unknown key {unknown[0]} (allowed there: labels, {', '.join(LEVELS)})")
    if "labels" not in raw:
        raise GridError(f"{path}: missing key labels")
    entry = _keys(raw["labels"], "labels", path, _LABEL_KEYS)
    bounds = {}
    for key in ("robust_min", "fragile_below"):
        value = entry[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise GridError(f"{path}: labels.{key} = {value!r} must be a number in [0, 1]")
        bounds[key] = float(value)
    if bounds["fragile_below"] > bounds["robust_min"]:
        raise GridError(f"{path}: labels.fragile_below = {bounds['fragile_below']} must not exceed labels.robust_min = {bounds['robust_min']}")
    labels = Labels(bounds["robust_min"], bounds["fragile_below"], _text(entry["rationale"], "labels.rationale", path))
    choices: dict[str, Choice] = {}
    for name, sub in raw.get("table", {}).items():
        choices[name] = _table_choice(name, sub, path, settings)
    for name, sub in raw.get("score", {}).items():
        if name in choices:
            raise GridError(f"{path}: choice {name!r} is both table- and score-level")
        choices[name] = _score_choice(name, sub, path)
    return Grid(choices, labels, path)


@lru_cache(maxsize=4)
def load(path: Path = GRID_FILE) -> Grid:
    """claims/robustness.toml against claims/thresholds.toml, validated (cached per path)."""
    return parse(thresholds_mod.read_toml(path, GridError), path)
