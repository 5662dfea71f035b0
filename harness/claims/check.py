"""What a claim evaluation produces and reads: `Check` (one evaluated variant of one claim on one
source) and `Context` (everything a claim's evaluate function gets). Pure data, no statistics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from harness.claims.thresholds import Thresholds
from harness.data.designs import Design

NOT_APPLICABLE = "not_applicable"


def check_key(claim: str, source: str, variant: str) -> str:
    """The id shared by the test, the verdict file and the report: CLAIM[source-variant]."""
    return f"{claim}[{source}-{variant}]"


def pair_label(pair: tuple[str, str]) -> str:
    return f"{pair[0]}->{pair[1]}"


@dataclass(frozen=True)
class Check:
    """One evaluated variant of one claim on one source."""

    claim: str
    source: str
    variant: str
    measured: str  # readable measured value(s)
    condition: str  # readable threshold
    holds: bool  # the point condition (the value on the claim's side of its threshold)
    value: float | None = None  # the headline number, for snapshots and plots
    # Evidence beyond the point value, where the source has it (harness.claims.outcomes decides):
    lo: float | None = None  # the value's 95% interval
    hi: float | None = None
    threshold: float | None = None  # the threshold or margin the interval is held against...
    side: str | None = None  # ...and the side the claim needs (">", ">=", "<", "<=")
    p_value: float | None = None  # a test's raw p
    p_floor: float | None = None  # the smallest p its null could reach (1 / (N + 1) for N draws)
    test_sense: str = "supports"  # a significant test "supports" or "refutes" the claim
    refuted: bool = False  # the evaluate function showed the claim fails whatever the test says
    shape: str | None = None  # this variant's rule when it is not its claim's (C2 across families: equivalence)
    # Set by harness.claims.checks.evaluate through harness.claims.outcomes:
    p_adjusted: float | None = None
    outcome: str | None = None  # reproduced | not reproduced | inconclusive | not testable
    rule: str = ""  # why that outcome, in words

    @property
    def verdict(self) -> str:
        """The outcome, or the point verdict for a check no rule has decided yet."""
        return self.outcome or ("reproduced" if self.holds else "not reproduced")

    @property
    def key(self) -> str:
        return check_key(self.claim, self.source, self.variant)


@dataclass
class Context:
    """What a claim's evaluate function reads: the source, its design, the head table (with
    categories), per-pair transfer rows, the thresholds, and what the source adds beyond the table."""

    source: str
    design: Design
    table: pd.DataFrame
    heads: dict[tuple[str, str], pd.DataFrame]  # per-head transfer rows per pair (index look-up)
    heads_by_ties: dict[str, dict[tuple[str, str], pd.DataFrame]]  # the same under ties "min" / "max"
    cfg: Thresholds
    floors: dict[str, Any] | None = None  # model -> noise_floor.Floor (sources with per-prompt scores)
    extras: dict[str, Any] = field(default_factory=dict)  # e.g. extras["roles"] = {model: DataFrame}
    checks: dict[tuple[str, str], Check] = field(default_factory=dict)  # evaluated so far (T1..T3 read W1, X1)
    memo: dict | None = None
    unavailable: dict[tuple[str, str], str] = field(default_factory=dict)  # (claim, variant) -> why it has no value
