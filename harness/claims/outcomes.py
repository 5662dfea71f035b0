"""How a check's evidence becomes one of four outcomes: the rules, declared once per claim shape.

An evaluate function (seed_claims, role_claims, faithfulness) reports what it measured on a `Check`:
the point condition (`holds`), and where the source allows it an interval of the value (`lo`, `hi`)
against a threshold or margin (`threshold`, `side`), and a test's raw p-value (`p_value`, with the
smallest p its null could reach, `p_floor`). `decide` turns that into

- "reproduced": every part of the evidence lies on the claim's side (the whole interval beyond the
  threshold, the test significant at its multiplicity-adjusted level);
- "not reproduced": some part lies wholly on the other side (the whole interval short of the
  threshold; for a negative claim, the test finds the difference the claim says is absent);
- "inconclusive": the interval straddles the threshold, or the test cannot decide (a non-significant
  p is absence of evidence, not evidence of absence; a null too small to reach the adjusted level);
- "not testable": a premise of the claim (another check it presupposes) is not reproduced.

Checks without an interval or a test (the published tables carry no per-prompt data) keep their
point rule: reproduced when `holds`, else not reproduced, and their `rule` says so.

Multiplicity: Holm's step-down over each source's p-valued checks (`adjust`), so the verdict reads the
adjusted p. Pure functions of numbers; no torch, no pandas.
"""

from __future__ import annotations

from typing import Literal, get_args

Outcome = Literal["reproduced", "not reproduced", "inconclusive", "not testable"]
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_TESTABLE = get_args(Outcome)
OUTCOMES: tuple[str, ...] = get_args(Outcome)

# Which side of its threshold a check's value must lie on to reproduce the claim.
Side = Literal[">", ">=", "<", "<="]
SIDES: tuple[str, ...] = get_args(Side)

# What a significant test means for the claim: "supports" (the claim says the statistic beats a null,
# e.g. C1, M2, X2, X3) or "refutes" (a negative claim: "no better than random", C2 across families).
TestSense = Literal["supports", "refutes"]

# Each part of the evidence lands in one of three places relative to the claim.
PASS, FAIL, STRADDLE = "pass", "fail", "straddle"

# One rule per claim shape (the registry names a claim's shape; docs and the verdict table read these).
SHAPES: dict[str, str] = {
    "point": "point estimate against the threshold (no interval: the source has no per-prompt data)",
    "interval": "the whole 95% interval beyond the threshold (straddling: inconclusive)",
    "interval+test": "the whole 95% interval beyond the threshold and the test significant at the Holm-adjusted level",
    "null": "beats the random null at the Holm-adjusted level; not reproduced when even the interval's best end stays inside the null",
    "equivalence": "negative claim: the whole 95% interval on the no-transfer side of the margin; a significant transfer refutes it",
    "all-of": "every check it aggregates reproduced (any not reproduced: not reproduced; else inconclusive)",
}


def _beyond(x: float, threshold: float, side: str) -> bool:
    return {">": x > threshold, ">=": x >= threshold - 1e-12, "<": x < threshold, "<=": x <= threshold + 1e-12}[side]


def interval_part(lo: float, hi: float, threshold: float, side: str) -> str:
    """PASS when the whole interval [lo, hi] lies on the claim's side of `threshold`, FAIL when the
    whole interval lies on the other side, STRADDLE otherwise."""
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    near, far = (lo, hi) if side in (">", ">=") else (hi, lo)
    if _beyond(near, threshold, side):
        return PASS
    if not _beyond(far, threshold, side):
        return FAIL
    return STRADDLE


def test_part(p_adjusted: float, alpha: float, sense: str = "supports", refuted: bool = False) -> str:
    """A test's part: significant at `alpha` (after adjustment) supports or refutes the claim by its
    `sense`; not significant decides nothing (STRADDLE) unless the evaluate function showed the claim
    refuted on other grounds (`refuted`: e.g. even the best end of the statistic's interval lies
    inside the null)."""
    significant = p_adjusted < alpha
    if sense == "refutes":  # an equivalence claim is decided by its interval; the test can only refute it
        return FAIL if significant else PASS
    if significant:
        return PASS
    return FAIL if refuted else STRADDLE


def combine(parts: list[str]) -> str:
    """The outcome of a conjunction of evidence parts."""
    if any(p == FAIL for p in parts):
        return NOT_REPRODUCED
    if parts and all(p == PASS for p in parts):
        return REPRODUCED
    return INCONCLUSIVE


def holm(p_values: dict[str, float]) -> dict[str, float]:
    """Holm's step-down adjusted p-values (monotone, capped at 1), by key."""
    order = sorted(p_values, key=lambda k: (p_values[k], k))
    m, running, out = len(order), 0.0, {}
    for i, key in enumerate(order):
        running = max(running, min(1.0, (m - i) * p_values[key]))
        out[key] = running
    return out


def adjust(p_values: dict[str, float], method: str) -> dict[str, float]:
    if method == "holm":
        return holm(p_values)
    if method == "none":
        return dict(p_values)
    raise ValueError(f"multiplicity method must be 'holm' or 'none', got {method!r}")


def aggregate(outcomes: list[str]) -> str:
    """The 'all-of' rule: T1 / T2 read every W1 / X1 check."""
    if not outcomes:
        return INCONCLUSIVE
    if any(o == NOT_REPRODUCED for o in outcomes):
        return NOT_REPRODUCED
    if all(o == REPRODUCED for o in outcomes):
        return REPRODUCED
    return INCONCLUSIVE


def decide(check, shape: str, p_adjusted: float | None, alpha: float, n_tests: int = 1) -> tuple[str, str]:
    """(outcome, rule in words) of one check under its claim's `shape` (SHAPES). `check` is a
    harness.claims.check.Check; `p_adjusted` its Holm-adjusted p (None without a test)."""
    if shape not in SHAPES:
        raise ValueError(f"unknown claim shape {shape!r} (one of {', '.join(SHAPES)})")
    point = REPRODUCED if check.holds else NOT_REPRODUCED
    has_interval = None not in (check.lo, check.hi, check.threshold, check.side)
    has_test = check.p_value is not None and p_adjusted is not None
    if shape == "point" or (not has_interval and not has_test and shape != "equivalence"):
        why = "point rule" if shape == "point" else "point rule: this source gives the value no interval"
        return point, why
    parts, words = [], []
    if has_interval:
        part = interval_part(check.lo, check.hi, check.threshold, check.side)
        parts.append(part)
        words.append(f"interval [{check.lo:.3g}, {check.hi:.3g}] {_where(part)} {check.side} {check.threshold:.3g}")
    elif shape == "equivalence":
        return INCONCLUSIVE, "a negative claim needs an interval on the no-transfer side of its margin; this source gives none"
    if has_test:
        floor_adj = None if check.p_floor is None else min(1.0, check.p_floor * n_tests)
        part = test_part(p_adjusted, alpha, check.test_sense, check.refuted)
        parts.append(part)
        text = f"p = {check.p_value:.3g}, Holm {p_adjusted:.3g} vs {alpha:g}"
        if part == STRADDLE and floor_adj is not None and floor_adj >= alpha and check.test_sense == "supports":
            text += f" (the null cannot decide: its smallest p {check.p_floor:.3g} x {n_tests} tests >= {alpha:g})"
        elif check.refuted and check.test_sense == "supports" and part == FAIL:
            text += " (the interval's best end stays inside the null)"
        words.append(text)
    if shape == "interval+test" and not check.holds and all(p == PASS for p in parts):
        parts.append(FAIL)  # the point condition itself fails (cannot happen with an interval around it)
    return combine(parts), "; ".join(words)


def _where(part: str) -> str:
    return {PASS: "wholly", FAIL: "wholly not", STRADDLE: "straddles"}[part]


def decide_all(checks: dict, shapes: dict[str, str], premises: dict, aggregates: dict[str, str], alpha: float,
               method: str, premise_checks: dict | None = None) -> dict:
    """Every check of one source decided: premises first (a check whose premise is not reproduced is
    not testable), then the multiplicity adjustment over the remaining p-valued checks, then each
    check's shape rule, then the all-of claims (`aggregates`: claim -> the claim it aggregates).

    `checks`: (claim, variant) -> Check; `shapes`: claim -> shape; `premises`: claim -> function
    (check, checks) -> None or the reason its premise fails; `premise_checks`, decided checks of another
    source that premises may name too (the known-answer controls' K2 / K4 for M1-M3). Returns the checks replaced with outcome,
    rule and adjusted p set (order kept)."""
    import dataclasses

    out = dict(checks)
    # The family is every p-valued check of the source, premises or not (conservative: a check found
    # not testable below still counts, so the adjustment never depends on another check's outcome).
    tested = {key: c.p_value for key, c in checks.items() if c.p_value is not None}
    adjusted = adjust({f"{k[0]}[{k[1]}]": p for k, p in tested.items()}, method)
    for key, check in checks.items():
        shape = check.shape or shapes.get(check.claim, "point")
        if shape == "all-of":
            continue
        p_adj = adjusted.get(f"{key[0]}[{key[1]}]")
        outcome, rule = decide(check, shape, p_adj, alpha, n_tests=max(1, len(tested)))
        out[key] = dataclasses.replace(check, outcome=outcome, rule=rule, p_adjusted=p_adj)
    decided = dict(out)
    readable = {**(premise_checks or {}), **decided}
    for key, check in decided.items():  # premises read the decided outcomes of the checks they name
        premise = premises.get(check.claim)
        reason = premise(check, readable) if premise else None
        if reason:
            out[key] = dataclasses.replace(check, outcome=NOT_TESTABLE, rule=reason)
    for key, check in checks.items():
        of = aggregates.get(check.claim)
        if of is None:
            continue
        members = [c.verdict for k, c in out.items() if k[0] == of]
        outcome = aggregate(members)
        counts = ", ".join(f"{members.count(o)} {o}" for o in OUTCOMES if members.count(o))
        out[key] = dataclasses.replace(check, outcome=outcome, rule=f"all of {of}: {counts or 'none'}")
    return out
