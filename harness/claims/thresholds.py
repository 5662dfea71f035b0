"""claims/thresholds.toml read into a typed, validated `Thresholds` object: the seed's words as numbers.

Every section of the file is a frozen dataclass below; a key the dataclass does not name (a typo, or
`max` where only `max_exclusive` exists) is an error naming the key and the file, as is a missing key
or a value of the wrong type. Nothing else in the harness holds one of these numbers.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from harness.analysis.rank_metric import RANK_METRICS
from harness.analysis.transfer import MISSING_READINGS, TIE_POLICIES
from harness.data.head_table import LABELLED
from harness.paths import REPO_ROOT

THRESHOLDS_FILE = REPO_ROOT / "claims" / "thresholds.toml"


class ThresholdsError(ValueError):
    """thresholds.toml does not match the schema (one line: file, key, what is wrong)."""


@dataclass(frozen=True)
class Transfer:
    """The analyst's table-level choices: how many base heads, how tied target heads rank, what "weak"
    and "missing" mean, which heads are IOI-like (`categories`: LABELLED or a tau) and the rank metric
    X3 pools (raw or normalised). claims/robustness.toml varies them."""

    k: int
    ties: str
    weak_above: float
    categories: str | float
    missing: str
    rank_metric: str

    def kwargs(self) -> dict[str, Any]:
        """As keyword arguments of harness.analysis.transfer.transfer_heads (categories are applied to
        the table first, harness.data.head_table.with_categories; rank_metric is read by X3 only)."""
        return {"k": self.k, "ties": self.ties, "weak_above": self.weak_above, "missing": self.missing}

    def problem(self) -> str | None:
        """What is wrong with a value, as 'transfer.<key> = <value> must be ...', or None."""
        if self.k < 1:
            return f"transfer.k = {self.k} must be >= 1"
        if self.ties not in TIE_POLICIES:
            return f"transfer.ties = {self.ties!r} must be one of {TIE_POLICIES}"
        if not 0.0 <= self.weak_above <= 1.0:
            return f"transfer.weak_above = {self.weak_above!r} must be in [0, 1]"
        tau_ok = self.categories > 0 if isinstance(self.categories, float) else self.categories == LABELLED
        if not tau_ok:
            return f"transfer.categories = {self.categories!r} must be {LABELLED!r} or a positive tau"
        if self.missing not in MISSING_READINGS:
            return f"transfer.missing = {self.missing!r} must be one of {MISSING_READINGS}"
        if self.rank_metric not in RANK_METRICS:
            return f"transfer.rank_metric = {self.rank_metric!r} must be one of {RANK_METRICS}"
        return None


@dataclass(frozen=True)
class Approx:
    tolerance: float
    rationale: str


@dataclass(frozen=True)
class Bound:
    """A condition on one number: any of x >= min, x > min_exclusive, x < max_exclusive."""

    rationale: str
    min: float | None = None
    min_exclusive: float | None = None
    max_exclusive: float | None = None

    def holds(self, value: float) -> bool:
        ok = True
        if self.min is not None:
            ok &= value >= self.min
        if self.min_exclusive is not None:
            ok &= value > self.min_exclusive
        if self.max_exclusive is not None:
            ok &= value < self.max_exclusive
        return bool(ok)

    def text(self) -> str:
        """The condition as it reads, e.g. '0.20 <= x < 0.50'."""
        parts = []
        if self.min is not None:
            parts.append(f"{self.min:.2f} <= x")
        if self.min_exclusive is not None:
            parts.append(f"{self.min_exclusive:.2f} < x")
        cond = " and ".join(parts) if parts else "x"
        if self.max_exclusive is not None:
            cond = f"{cond} < {self.max_exclusive:.2f}" if parts else f"x < {self.max_exclusive:.2f}"
        return cond


@dataclass(frozen=True)
class W1Rule:
    max_kept_strong: float
    rationale: str


@dataclass(frozen=True)
class W2Rule:
    max_step_decrease: float
    min_total_increase: float
    rationale: str


@dataclass(frozen=True)
class X1Rule:
    min_lost_exclusive: float
    rationale: str


@dataclass(frozen=True)
class GroupRule:
    """X2 / X3: cross - within difference and its permutation p-value."""

    min_diff: float
    max_p: float
    rationale: str


@dataclass(frozen=True)
class T3Rule:
    max_lost_robust: float
    rationale: str


@dataclass(frozen=True)
class Uncertainty:
    n_boot: int
    n_perm: int
    level: float
    seed: int


@dataclass(frozen=True)
class ChanceBound:
    min_above_chance: float
    rationale: str


@dataclass(frozen=True)
class NoiseFloor:
    n_boot: int
    rationale: str


@dataclass(frozen=True)
class Faithfulness:
    """How head sets are judged (harness.analysis.faithfulness, harness.runs.faithfulness): the
    sizes of the curve, the random-set null, and the prompts the sets are measured on."""

    k_grid: list[int]
    n_random: int
    n_random_curve: int
    seed: int
    stratify: bool
    n_prompts: int
    n_prompts_large: dict[str, int]
    prompt_seed: int
    rationale: str

    def prompts_for(self, model: str) -> int:
        return self.n_prompts_large.get(model, self.n_prompts)

    def problem(self) -> str | None:
        if not self.k_grid or min(self.k_grid) < 1:
            return f"faithfulness.k_grid = {self.k_grid!r} must be positive sizes"
        if self.n_random < 1 or self.n_random_curve < 0:
            return "faithfulness.n_random must be >= 1 and n_random_curve >= 0"
        if self.n_prompts < 1 or any(n < 1 for n in self.n_prompts_large.values()):
            return "faithfulness.n_prompts must be >= 1"
        return None


@dataclass(frozen=True)
class C1Rule:
    min_f: float
    max_p: float
    rationale: str


@dataclass(frozen=True)
class C2Rule:
    max_p: float
    cross_max_efficiency: float
    cross_rationale: str
    rationale: str


MULTIPLICITY = ("holm", "none")


@dataclass(frozen=True)
class VerdictRules:
    """How evidence becomes one of four outcomes (harness.claims.outcomes): the family-wise level, the
    multiplicity method over a source's p-valued checks, and the sequential random nulls."""

    alpha: float
    multiplicity: str
    multiplicity_rationale: str
    sequential_h: int
    sequential_max_draws: int
    sequential_rationale: str


@dataclass(frozen=True)
class C3Rule:
    max_efficiency: float
    rationale: str


@dataclass(frozen=True)
class Screen:
    """The IG screen (algorithm attribution_ig) against the exact scan of the same model and prompts:
    what it must reach to stand in for the exact scan (benchmarks/ig_agreement.py reads these)."""

    min_spearman: float
    min_top_k: int
    top_k: int
    min_speedup: float
    rationale: str


@dataclass(frozen=True)
class Acceptance:
    k: int
    clean_logit_diff: Bound
    clean_accuracy: Bound
    spearman: Bound
    top_k_overlap: ChanceBound
    top_k_displacement: Bound


STANDARDIZE = ("rank", "zscore")


@dataclass(frozen=True)
class Correspondence:
    """How heads are matched by role (harness.analysis.correspondence): the signature columns, their
    standardization within a model, the cost weights and the number of random-matching draws."""

    signature: tuple[str, ...]
    signature_rationale: str
    standardize: str
    standardize_rationale: str
    w_role: float
    w_depth: float
    weights_rationale: str
    n_random: int
    random_rationale: str


@dataclass(frozen=True)
class MaxP:
    max_p: float
    rationale: str


@dataclass(frozen=True)
class MinDiff:
    min_diff: float
    rationale: str


@dataclass(frozen=True)
class Thresholds:
    transfer: Transfer
    approx: Approx
    quantifiers: dict[str, Bound]
    W1: W1Rule
    W2: W2Rule
    X1: X1Rule
    X2: GroupRule
    X3: GroupRule
    T3: T3Rule
    uncertainty: Uncertainty
    noise_floor: NoiseFloor
    faithfulness: Faithfulness
    C1: C1Rule
    C2: C2Rule
    C3: C3Rule
    acceptance: Acceptance
    screen: Screen
    verdicts: VerdictRules
    # issue 17 (heads matched by role); optional so that older thresholds files still load
    correspondence: Correspondence | None = None
    M1: X1Rule | None = None
    M2: MaxP | None = None
    M3: MinDiff | None = None
    path: Path = field(default=THRESHOLDS_FILE, compare=False)

    def quantifier(self, word: str) -> Bound:
        try:
            return self.quantifiers[word]
        except KeyError:
            raise KeyError(f"quantifier {word!r} has no entry in {self.path.name}") from None

    def with_transfer(self, **changes: Any) -> Thresholds:
        """A copy with some [transfer] settings replaced (a CLI flag that overrides the file, a universe
        of the robustness sweep), each converted and validated as the file's values are."""
        hints = typing.get_type_hints(Transfer)
        converted = {}
        for name, value in changes.items():
            if name not in hints:
                raise ThresholdsError(f"{self.path.name}: unknown key transfer.{name} (allowed there: {', '.join(hints)})")
            converted[name] = _convert(hints[name], value, f"transfer.{name}", self.path)
        transfer = dataclasses.replace(self.transfer, **converted)
        problem = transfer.problem()
        if problem:
            raise ThresholdsError(f"{self.path.name}: {problem} (set to {changes})")
        return dataclasses.replace(self, transfer=transfer)


def _unit(x: float) -> bool:
    return 0.0 <= x <= 1.0


# Ranges beyond the type: a value outside one changes verdicts without meaning anything (a negative
# tolerance, a p-value bound of 2, zero bootstrap draws). Non-finite numbers are refused everywhere.
_RANGES: dict[tuple[str, str], tuple[Any, str]] = {
    ("Approx", "tolerance"): (_unit, "in [0, 1]"),
    ("W1Rule", "max_kept_strong"): (_unit, "in [0, 1]"),
    ("W2Rule", "max_step_decrease"): (_unit, "in [0, 1]"),
    ("W2Rule", "min_total_increase"): (lambda x: -1.0 <= x <= 1.0, "in [-1, 1]"),
    ("X1Rule", "min_lost_exclusive"): (_unit, "in [0, 1]"),
    ("GroupRule", "min_diff"): (lambda x: -1.0 <= x <= 1.0, "in [-1, 1]"),
    ("GroupRule", "max_p"): (lambda x: 0.0 < x <= 1.0, "in (0, 1]"),
    ("T3Rule", "max_lost_robust"): (_unit, "in [0, 1]"),
    ("Uncertainty", "n_boot"): (lambda x: x >= 1, ">= 1"),
    ("Uncertainty", "n_perm"): (lambda x: x >= 1, ">= 1"),
    ("Uncertainty", "level"): (lambda x: 0.0 < x < 1.0, "in (0, 1)"),
    ("Uncertainty", "seed"): (lambda x: 0 <= x < 2**32, "in [0, 2**32)"),
    ("NoiseFloor", "n_boot"): (lambda x: x >= 1, ">= 1"),
    ("Acceptance", "k"): (lambda x: x >= 1, ">= 1"),
    ("C2Rule", "cross_max_efficiency"): (lambda x: -1.0 <= x <= 1.0, "in [-1, 1]"),
    ("VerdictRules", "alpha"): (lambda x: 0.0 < x < 1.0, "in (0, 1)"),
    ("VerdictRules", "multiplicity"): (lambda x: x in MULTIPLICITY, f"one of {MULTIPLICITY}"),
    ("VerdictRules", "sequential_h"): (lambda x: x >= 1, ">= 1"),
    ("VerdictRules", "sequential_max_draws"): (lambda x: 1 <= x <= 10**7, "in [1, 10**7]"),
}


def _bound_problem(bound: Bound) -> str | None:
    """A Bound no value can satisfy (its lower end at or above its upper end)."""
    lower = max((v for v in (bound.min, bound.min_exclusive) if v is not None), default=None)
    if lower is not None and bound.max_exclusive is not None and lower >= bound.max_exclusive:
        name = "min" if lower == bound.min else "min_exclusive"
        return f"{name} = {lower!r} must be below max_exclusive = {bound.max_exclusive!r} (no value would pass)"
    return None


def _convert(hint: Any, value: Any, where: str, path: Path) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where, path)
    if origin is dict:
        if not isinstance(value, dict):
            raise ThresholdsError(f"{path.name}: [{where}] must be a table")
        _, item = typing.get_args(hint)
        return {name: _convert(item, sub, f"{where}.{name}", path) for name, sub in value.items()}
    if origin is list:
        if not isinstance(value, list):
            raise ThresholdsError(f"{path.name}: {where} = {value!r} must be a list")
        (item,) = typing.get_args(hint)
        return [_convert(item, v, f"{where}[{i}]", path) for i, v in enumerate(value)]
    if origin is tuple:  # tuple[str, ...]: a TOML array
        if not isinstance(value, list):
            raise ThresholdsError(f"{path.name}: {where} = {value!r} must be an array")
        item = typing.get_args(hint)[0]
        return tuple(_convert(item, sub, f"{where}[{i}]", path) for i, sub in enumerate(value))
    allowed = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    if len(allowed) == 1 and dataclasses.is_dataclass(allowed[0]):  # an optional section
        return _build(allowed[0], value, where, path)
    for kind in allowed:  # `str | float`: a string stays one, a number becomes a float
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ThresholdsError(f"{path}: {where} = {value!r} must be a finite number")
            return float(value)
        if kind in (int, str) and isinstance(value, kind) and not isinstance(value, bool):
            return value
        if kind is bool and isinstance(value, bool):
            return value
    raise ThresholdsError(f"{path.name}: {where} = {value!r} must be {' or '.join(k.__name__ for k in allowed)}")


def _build(cls: type, raw: Any, where: str, path: Path) -> Any:
    if not isinstance(raw, dict):
        raise ThresholdsError(f"{path.name}: [{where}] must be a table, got {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "path"}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        prefix = f"{where}." if where else ""
        raise ThresholdsError(f"{path}: unknown key {prefix}{unknown[0]} (allowed there: {', '.join(fields)})")
    values = {}
    for name, f in fields.items():
        key = f"{where}.{name}" if where else name
        if name not in raw:
            if f.default is dataclasses.MISSING:
                raise ThresholdsError(f"{path}: missing key {key}")
            continue
        values[name] = _convert(hints[name], raw[name], key, path)
        allowed = _RANGES.get((cls.__name__, name))
        if allowed is not None and not allowed[0](values[name]):
            raise ThresholdsError(f"{path}: {key} = {values[name]!r} must be {allowed[1]}")
    built = cls(**values)
    problem = _bound_problem(built) if isinstance(built, Bound) else None
    if problem:
        raise ThresholdsError(f"{path}: [{where}] {problem}")
    return built


def parse(raw: dict[str, Any], path: Path = THRESHOLDS_FILE) -> Thresholds:
    """Validate the parsed TOML of a thresholds file into `Thresholds`."""
    thresholds = _build(Thresholds, raw, "", path)
    thresholds = dataclasses.replace(thresholds, path=path)
    problem = thresholds.transfer.problem() or thresholds.faithfulness.problem() or _correspondence_problem(thresholds.correspondence)
    if problem:
        raise ThresholdsError(f"{path}: {problem}")
    return thresholds


def _correspondence_problem(c: Correspondence | None) -> str | None:
    """What is wrong with the [correspondence] values, or None."""
    if c is None:
        return None
    from harness.scoring.role_columns import SIGNATURE_CANDIDATES

    unknown = [col for col in c.signature if col not in SIGNATURE_CANDIDATES]
    if unknown or not c.signature:
        return f"correspondence.signature = {c.signature!r} must be a non-empty list of {SIGNATURE_CANDIDATES}"
    if c.standardize not in STANDARDIZE:
        return f"correspondence.standardize = {c.standardize!r} must be one of {STANDARDIZE}"
    if c.w_role < 0 or c.w_depth < 0 or c.w_role + c.w_depth == 0:
        return f"correspondence weights w_role = {c.w_role}, w_depth = {c.w_depth} must be >= 0 and not both 0"
    if c.n_random < 1:
        return f"correspondence.n_random = {c.n_random} must be >= 1"
    return None


@lru_cache(maxsize=4)
def load(path: Path = THRESHOLDS_FILE) -> Thresholds:
    return parse(read_toml(path, ThresholdsError), path)


def read_toml(path: Path, error: type[ValueError]) -> dict[str, Any]:
    """A settings file parsed; `error` (one line naming the file) when it is unreadable or not TOML."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not valid TOML ({exc})") from None
