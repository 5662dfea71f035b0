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
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Iterable, Sequence

from msgspec import Meta

from harness.claims import thresholds as thresholds_mod
from harness.claims.thresholds import Thresholds, ThresholdsError
from harness.paths import REPO_ROOT
from harness.schema import Prompts, Schema, Seed, Share, Text, convert, read_toml, rule
from harness.errors import UserError

GRID_FILE = REPO_ROOT / "claims" / "robustness.toml"
LEVELS = ("table", "score")
SETTING_SECTION = "transfer"  # a table-level choice varies a key of this thresholds.toml section

Value = str | int | float | bool
Values = Annotated[list[Value], Meta(min_length=1)]


class GridError(UserError, ValueError):
    """robustness.toml does not match the schema (one line: file, key, what is wrong)."""


class TableEntry(Schema):
    """[table.NAME]: a [transfer] setting of thresholds.toml and the values it takes."""

    setting: Text
    values: Values
    rationale: Text


class ScoreEntry(Schema):
    """[score.NAME]: a scoring choice; its default is a RunSpec field's (`run_field`) or `default`."""

    values: Values
    rationale: Text
    run_field: Text | None = None
    default: Value | None = None
    sibling: Text | None = None

    def __post_init__(self) -> None:
        if (self.run_field is None) == (self.default is None):
            raise rule("needs exactly one of run_field, default")


class Labels(Schema):
    """Share of its grid where a check holds -> 'robust' (>= robust_min), 'fragile' (< fragile_below)
    or 'in between'."""

    robust_min: Share
    fragile_below: Share
    rationale: Text

    def __post_init__(self) -> None:
        if self.fragile_below > self.robust_min:
            raise rule(f"fragile_below = {self.fragile_below} must not exceed robust_min = {self.robust_min}")

    def __call__(self, share: float) -> str:
        if share >= self.robust_min:
            return "robust"
        if share < self.fragile_below:
            return "fragile"
        return "in between"


class GridFile(Schema):
    """claims/robustness.toml as written."""

    labels: Labels
    table: dict[str, TableEntry] = {}
    score: dict[str, ScoreEntry] = {}


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


def _run_default(run_field: str, where: str, path: Path) -> Any:
    from harness.runs.recompute import RunSpec  # a plain dataclass: no model is loaded

    if run_field not in {f.name for f in dataclasses.fields(RunSpec)}:
        raise GridError(f"{path}: {where} = {run_field!r} is not a field of RunSpec")
    return getattr(RunSpec(), run_field)


def _table_choice(name: str, entry: TableEntry, path: Path, settings: Thresholds) -> Choice:
    where = f"table.{name}"
    section, _, field = entry.setting.partition(".")
    if section != SETTING_SECTION or not field:
        raise GridError(f"{path}: {where}.setting = {entry.setting!r} must name a [{SETTING_SECTION}] key, e.g. 'transfer.k'")
    values = []
    for i, raw in enumerate(entry.values):
        try:  # converted and checked as the thresholds file's own value would be
            values.append(getattr(settings.with_transfer(**{field: raw}).transfer, field))
        except ThresholdsError as err:
            raise GridError(f"{path}: {where}.values[{i}]: {err}") from None
    _no_duplicates(values, where, path)
    default = getattr(settings.transfer, field)
    if default not in values:
        raise GridError(f"{path}: choice {name!r}: default {default!r} ({settings.path.name} {entry.setting}) is not one of its values {values}")
    return Choice(name, "table", tuple(values), default, entry.rationale, entry.setting)


# The score-level run fields whose values have a range (harness.schema's types for them).
RUN_FIELD_TYPES = {"n_prompts": Prompts, "seed": Seed}


def _no_duplicates(values: Sequence[Any], where: str, path: Path) -> None:
    """A value listed twice would count its universes twice and shift every share (one line)."""
    seen: list[Any] = []
    for value in values:
        if any(value == other and type(value) is type(other) for other in seen):
            raise GridError(f"{path}: {where}.values lists {value!r} twice (each value counts once in the shares)")
        seen.append(value)


def _score_choice(name: str, entry: ScoreEntry, path: Path) -> Choice:
    where = f"score.{name}"
    values = tuple(entry.values)
    kind = RUN_FIELD_TYPES.get(entry.run_field or "")
    for i, value in enumerate(values):  # a value the run spec could not take never reaches a scan
        if kind is not None:
            convert(value, kind, path, GridError, at=f"{where}.values[{i}]")
    _no_duplicates(values, where, path)
    default = _run_default(entry.run_field, f"{where}.run_field", path) if entry.run_field is not None else entry.default
    if default not in values:
        raise GridError(f"{path}: choice {name!r}: default {default!r} is not one of its values {list(values)}")
    return Choice(name, "score", values, default, entry.rationale, None, entry.sibling)


def parse(raw: dict[str, Any], path: Path = GRID_FILE, settings: Thresholds | None = None) -> Grid:
    """Validate the parsed TOML of a robustness file into `Grid`; table-level defaults and values are
    read and checked against `settings` (default: claims/thresholds.toml)."""
    settings = settings if settings is not None else thresholds_mod.load()
    file = convert(raw, GridFile, path, GridError)
    choices: dict[str, Choice] = {}
    for name, entry in file.table.items():
        choices[name] = _table_choice(name, entry, path, settings)
    for name, entry in file.score.items():
        if name in choices:
            raise GridError(f"{path}: choice {name!r} is both table- and score-level")
        choices[name] = _score_choice(name, entry, path)
    return Grid(choices, file.labels, path)


@lru_cache(maxsize=4)
def load(path: Path = GRID_FILE) -> Grid:
    """claims/robustness.toml against claims/thresholds.toml, validated (cached per path)."""
    return parse(read_toml(path, GridError), path)
