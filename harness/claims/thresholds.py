"""claims/thresholds.toml read into a typed, validated `Thresholds` object: the seed's words as numbers.

Every section of the file is a frozen `harness.schema.Schema` below, its ranges declared on the
fields' types (`Share`, `PValue`, `Count`, ...); a key a section does not name (a typo, or `max`
where only `max_exclusive` exists), a missing key or section, a value of the wrong type or out of
its range is an error of one line naming the file and the key. Nothing else in the harness holds
one of these numbers. A new section is one class here (a field of `Thresholds`) plus its TOML table.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from msgspec import Meta

from harness.analysis.rank_metric import RANK_METRICS
from harness.analysis.transfer import MISSING_READINGS, TIE_POLICIES
from harness.data.head_table import LABELLED
from harness.paths import REPO_ROOT
from harness.sizes import MAX_PROMPTS
from harness.schema import Count, Draws, Level, PValue, Schema, Seed, Share, SignedShare, convert, read_toml, replace, rule
from harness.scoring.role_columns import SIGNATURE_CANDIDATES
from harness.errors import UserError

__all__ = ["THRESHOLDS_FILE", "Thresholds", "ThresholdsError", "load", "parse", "read_toml"]

THRESHOLDS_FILE = REPO_ROOT / "claims" / "thresholds.toml"

Tau = Annotated[float, Meta(gt=0.0, description="a positive tau")]
Finite = float  # any finite number (non-finite numbers are refused in every file)


class ThresholdsError(UserError, ValueError):
    """thresholds.toml does not match the schema (one line: file, key, what is wrong)."""


class Transfer(Schema):
    """The analyst's table-level choices: how many base heads, how tied target heads rank, what "weak"
    and "missing" mean, which heads are IOI-like (`categories`: LABELLED or a tau) and the rank metric
    X3 pools (raw or normalised). claims/robustness.toml varies them."""

    k: Count
    ties: Literal[TIE_POLICIES]
    weak_above: Share
    categories: Literal[LABELLED] | Tau
    missing: Literal[MISSING_READINGS]
    rank_metric: Literal[RANK_METRICS]

    def kwargs(self) -> dict[str, Any]:
        """As keyword arguments of harness.analysis.transfer.transfer_heads (categories are applied to
        the table first, harness.data.head_table.with_categories; rank_metric is read by X3 only)."""
        return {"k": self.k, "ties": self.ties, "weak_above": self.weak_above, "missing": self.missing}


class Approx(Schema):
    tolerance: Share
    rationale: str


class Bound(Schema):
    """A condition on one number: any of x >= min, x > min_exclusive, x < max_exclusive."""

    rationale: str
    min: Finite | None = None
    min_exclusive: Finite | None = None
    max_exclusive: Finite | None = None

    def __post_init__(self) -> None:
        lower = max((v for v in (self.min, self.min_exclusive) if v is not None), default=None)
        if lower is not None and self.max_exclusive is not None and lower >= self.max_exclusive:
            name = "min" if lower == self.min else "min_exclusive"
            raise rule(f"{name} = {lower!r} must be below max_exclusive = {self.max_exclusive!r} (no value would pass)")

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


class W1Rule(Schema):
    max_kept_strong: Share
    rationale: str


class W2Rule(Schema):
    max_step_decrease: Share
    min_total_increase: SignedShare
    rationale: str


class X1Rule(Schema):
    min_lost_exclusive: Share
    rationale: str


class GroupRule(Schema):
    """X2 / X3: cross - within difference and its permutation p-value."""

    min_diff: SignedShare
    max_p: PValue
    rationale: str


class T3Rule(Schema):
    max_lost_robust: Share
    rationale: str


class Uncertainty(Schema):
    n_boot: Draws
    n_perm: Draws
    level: Level
    seed: Seed
    n_boot_pairs: Draws  # a zoo pair's frac_lost interval over prompts (W1, X1, T3, F1)
    pairs_rationale: str


class ChanceBound(Schema):
    min_above_chance: Annotated[float, Meta(ge=-1.0, le=1.0)]  # kappa-like: 0 = chance, 1 = the same set
    rationale: str


class NoiseFloor(Schema):
    n_boot: Draws
    rationale: str


FaithPrompts = Annotated[int, Meta(ge=1, le=MAX_PROMPTS)]  # prompts a head set is measured on


class Faithfulness(Schema):
    """How head sets are judged (harness.analysis.faithfulness, harness.runs.faithfulness): the
    sizes of the curve, the random-set null, and the prompts the sets are measured on."""

    k_grid: Annotated[list[Count], Meta(min_length=1)]
    n_random: Draws
    n_random_curve: Annotated[int, Meta(ge=0)]
    seed: Seed
    stratify: bool
    n_prompts: FaithPrompts
    n_prompts_large: dict[str, FaithPrompts]
    prompt_seed: Seed
    rationale: str

    def prompts_for(self, model: str) -> int:
        return self.n_prompts_large.get(model, self.n_prompts)


class C1Rule(Schema):
    min_f: Annotated[float, Meta(le=1.0)]  # a faithfulness f: 1 = the whole effect (may be negative)
    max_p: PValue
    rationale: str
    k_share: Annotated[float, Meta(gt=0.0, le=1.0)]  # size-aware C1: the top share of a model's heads
    share_rationale: str

    def k_of(self, n_heads_total: int) -> int:
        """The size-aware K of a model with `n_heads_total` heads: round(k_share x heads), at least 1."""
        return max(1, int(round(self.k_share * n_heads_total)))


class C2Rule(Schema):
    max_p: PValue
    cross_max_efficiency: SignedShare
    cross_rationale: str
    rationale: str
    share_rationale: str  # the size-aware variants ([C1] k_share of the base's heads)


MULTIPLICITY = ("holm", "none")


class VerdictRules(Schema):
    """How evidence becomes one of four outcomes (harness.claims.outcomes): the family-wise level, the
    multiplicity method over a source's p-valued checks, and the sequential random nulls."""

    alpha: PValue
    multiplicity: Literal[MULTIPLICITY]
    multiplicity_rationale: str
    sequential_h: Count
    sequential_max_draws: Annotated[int, Meta(ge=1, le=10**7)]
    faithfulness_max_draws: Annotated[int, Meta(ge=1, le=10**5)]
    faithfulness_rationale: str
    sequential_rationale: str


class C3Rule(Schema):
    max_efficiency: Annotated[float, Meta(le=1.0)]
    rationale: str
    share_rationale: str  # the size-aware variants ([C1] k_share of the base's heads)


class Screen(Schema):
    """The IG screen (algorithm attribution_ig) against the exact scan of the same model and prompts:
    what it must reach to stand in for the exact scan (benchmarks/ig_agreement.py reads these)."""

    min_spearman: Annotated[float, Meta(ge=-1.0, le=1.0)]
    min_top_k: Count
    top_k: Count
    min_speedup: Annotated[float, Meta(gt=0.0)]
    rationale: str

    def __post_init__(self) -> None:
        if self.min_top_k > self.top_k:
            raise rule(f"min_top_k = {self.min_top_k} must not exceed top_k = {self.top_k}")


class Acceptance(Schema):
    k: Count
    clean_logit_diff: Bound
    clean_accuracy: Bound
    spearman: Bound
    top_k_overlap: ChanceBound
    top_k_displacement: Bound


STANDARDIZE = ("rank", "zscore")
Weight = Annotated[float, Meta(ge=0.0)]


class Correspondence(Schema):
    """How heads are matched by role (harness.analysis.correspondence): the signature columns, their
    standardization within a model, the cost weights and the number of random-matching draws."""

    signature: Annotated[tuple[Literal[SIGNATURE_CANDIDATES], ...], Meta(min_length=1)]
    signature_rationale: str
    standardize: Literal[STANDARDIZE]
    standardize_rationale: str
    w_role: Weight
    w_depth: Weight
    weights_rationale: str
    n_random: Draws
    random_rationale: str

    def __post_init__(self) -> None:
        if self.w_role + self.w_depth == 0:
            raise rule(f"weights w_role = {self.w_role}, w_depth = {self.w_depth} must not both be 0")


class MaxP(Schema):
    max_p: PValue
    rationale: str


class MinDiff(Schema):
    min_diff: SignedShare
    rationale: str


class Thresholds(Schema):
    """Every section of claims/thresholds.toml (all required); `path` is the file it was read from."""

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
    correspondence: Correspondence  # issue 17: heads matched by role
    M1: X1Rule
    M2: MaxP
    M3: MinDiff
    path: Path = THRESHOLDS_FILE  # not a key of the file: set by `parse`

    def quantifier(self, word: str) -> Bound:
        try:
            return self.quantifiers[word]
        except KeyError:
            raise KeyError(f"quantifier {word!r} has no entry in {self.path.name}") from None

    def with_transfer(self, **changes: Any) -> Thresholds:
        """A copy with some [transfer] settings replaced (a CLI flag that overrides the file, a universe
        of the robustness sweep), each converted and validated as the file's values are."""
        from msgspec import structs

        raw = {**structs.asdict(self.transfer), **changes}
        transfer = convert(raw, Transfer, self.path.name, ThresholdsError, at="transfer")
        return replace(self, transfer=transfer)


def parse(raw: dict[str, Any], path: Path = THRESHOLDS_FILE) -> Thresholds:
    """Validate the parsed TOML of a thresholds file into `Thresholds`."""
    if "path" in raw:
        raise ThresholdsError(f"{path}: unknown key path")
    return replace(convert(raw, Thresholds, path, ThresholdsError), path=path)


@lru_cache(maxsize=4)
def load(path: Path = THRESHOLDS_FILE) -> Thresholds:
    return parse(read_toml(path, ThresholdsError), path)
