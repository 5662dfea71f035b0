"""The four outcomes (harness.claims.outcomes) on synthetic numbers: every rule, every outcome, the
premises, Holm's adjustment and the sequential null. Loads no model."""

from __future__ import annotations

import numpy as np
import pytest

from harness.analysis.uncertainty import sequential_p
from harness.claims import outcomes as oc
from harness.claims.check import Check

pytestmark = pytest.mark.unit


def check(claim="X3", variant="v", holds=True, **evidence) -> Check:
    return Check(claim, "src", variant, "m", "c", holds, evidence.pop("value", 0.0), **evidence)


@pytest.mark.parametrize(
    ("lo", "hi", "threshold", "side", "part"),
    [
        (0.2, 0.4, 0.1, ">=", oc.PASS),
        (0.1, 0.4, 0.1, ">=", oc.PASS),  # at the threshold counts for ">="
        (0.1, 0.4, 0.1, ">", oc.STRADDLE),  # ... and not for ">"
        (-0.02, 0.29, 0.1, ">=", oc.STRADDLE),  # X3[zoo:mean]'s shape
        (-0.2, 0.05, 0.1, ">=", oc.FAIL),
        (0.1, 0.4, 0.5, "<", oc.PASS),
        (0.45, 0.62, 0.5, "<", oc.STRADDLE),
        (0.6, 0.9, 0.5, "<", oc.FAIL),
    ],
)
def test_interval_part(lo, hi, threshold, side, part):
    assert oc.interval_part(lo, hi, threshold, side) == part


def test_interval_part_refuses_an_unknown_side():
    with pytest.raises(ValueError, match="side"):
        oc.interval_part(0, 1, 0.5, "=>")


def test_point_rule_keeps_the_point_verdict_and_says_so():
    for holds, outcome in ((True, oc.REPRODUCED), (False, oc.NOT_REPRODUCED)):
        got, why = oc.decide(check(holds=holds), "interval", None, 0.05)
        assert got == outcome and why.startswith("point rule")


def test_interval_and_test_give_all_three_decided_outcomes():
    strong = check(lo=0.15, hi=0.3, threshold=0.1, side=">=", p_value=0.001, p_floor=1e-4)
    assert oc.decide(strong, "interval+test", 0.004, 0.05)[0] == oc.REPRODUCED
    straddle = check(lo=-0.016, hi=0.289, threshold=0.1, side=">=", p_value=0.056, p_floor=1e-4)
    assert oc.decide(straddle, "interval+test", 0.28, 0.05)[0] == oc.INCONCLUSIVE
    below = check(holds=False, lo=-0.17, hi=-0.03, threshold=0.1, side=">=", p_value=1.0, p_floor=1e-4)
    assert oc.decide(below, "interval+test", 1.0, 0.05)[0] == oc.NOT_REPRODUCED
    # the interval is wholly beyond but the adjusted test does not decide: inconclusive, not reproduced
    unadjusted = check(lo=0.12, hi=0.3, threshold=0.1, side=">=", p_value=0.02, p_floor=1e-4)
    assert oc.decide(unadjusted, "interval+test", 0.08, 0.05)[0] == oc.INCONCLUSIVE


def test_a_null_too_small_to_decide_is_inconclusive_and_says_so():
    # C1[zoo:mean-gemma]: f's interval beyond min_f, one draw of 30 above it
    c = check("C1", lo=0.73, hi=0.88, threshold=0.5, side=">=", p_value=2 / 31, p_floor=1 / 31)
    outcome, why = oc.decide(c, "null", 0.28, 0.05, n_tests=9)
    assert outcome == oc.INCONCLUSIVE and "cannot decide" in why
    # the same statistic against a sequential null that decides
    c = check("C1", lo=0.73, hi=0.88, threshold=0.5, side=">=", p_value=1e-4, p_floor=1e-4)
    assert oc.decide(c, "null", 9e-4, 0.05, n_tests=9)[0] == oc.REPRODUCED


def test_a_non_significant_null_is_not_reproduced_only_when_refuted():
    c = check("M2", holds=False, p_value=0.4, p_floor=1e-4)
    assert oc.decide(c, "null", 1.0, 0.05)[0] == oc.INCONCLUSIVE
    c = check("M2", holds=False, p_value=0.4, p_floor=1e-4, refuted=True)
    assert oc.decide(c, "null", 1.0, 0.05)[0] == oc.NOT_REPRODUCED


def test_equivalence_needs_the_whole_interval_on_the_no_transfer_side():
    inside = check("C2", lo=-0.1, hi=0.3, threshold=0.5, side="<", p_value=0.5, test_sense="refutes")
    assert oc.decide(inside, "equivalence", 0.6, 0.05)[0] == oc.REPRODUCED
    straddle = check("C2", lo=-0.1, hi=0.7, threshold=0.5, side="<", p_value=0.5, test_sense="refutes")
    assert oc.decide(straddle, "equivalence", 0.6, 0.05)[0] == oc.INCONCLUSIVE
    # the mapped set beats random at the adjusted level: the negative claim is refuted
    beats = check("C2", lo=-0.1, hi=0.3, threshold=0.5, side="<", p_value=0.001, test_sense="refutes")
    assert oc.decide(beats, "equivalence", 0.004, 0.05)[0] == oc.NOT_REPRODUCED
    # absence of evidence is not evidence of absence: no interval, no verdict
    bare = check("C2", p_value=0.5, test_sense="refutes")
    assert oc.decide(bare, "equivalence", 0.6, 0.05)[0] == oc.INCONCLUSIVE


def test_holm_matches_the_step_down_by_hand():
    adjusted = oc.holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.5})
    assert adjusted == pytest.approx({"a": 0.04, "c": 0.09, "b": 0.09, "d": 0.5})


def test_adjust_refuses_an_unknown_method():
    with pytest.raises(ValueError, match="holm"):
        oc.adjust({"a": 0.1}, "bonferroni-ish")


def test_decide_all_premise_and_aggregate():
    c1_ok = check("C1", "base", lo=0.7, hi=0.9, threshold=0.5, side=">=", p_value=1e-4, p_floor=1e-4)
    c1_no = check("C1", "other", holds=False, lo=-0.1, hi=0.1, threshold=0.5, side=">=", p_value=0.6, p_floor=1e-4)
    c2 = lambda base: check("C2", f"{base}->t", lo=-0.1, hi=0.2, threshold=0.5, side="<", p_value=0.5,  # noqa: E731
                            test_sense="refutes", shape="equivalence")
    w1 = [check("W1", str(i), lo=0.1, hi=0.3, threshold=0.6, side="<=") for i in range(2)]
    checks = {("C1", "base"): c1_ok, ("C1", "other"): c1_no, ("C2", "base->t"): c2("base"), ("C2", "other->t"): c2("other"),
              ("W1", "0"): w1[0], ("W1", "1"): w1[1], ("T1", "within"): check("T1", "within")}

    def premise(c, decided):
        base = decided[("C1", c.variant.split("->")[0])]
        return None if base.outcome == oc.REPRODUCED else f"premise fails ({base.outcome})"

    shapes = {"C1": "null", "C2": "null", "W1": "interval", "T1": "all-of"}
    out = oc.decide_all(checks, shapes, {"C2": premise}, {"T1": "W1"}, 0.05, "holm")
    assert out[("C2", "base->t")].outcome == oc.REPRODUCED
    assert out[("C2", "other->t")].outcome == oc.NOT_TESTABLE and "premise fails (not reproduced)" in out[("C2", "other->t")].rule
    assert out[("T1", "within")].outcome == oc.REPRODUCED
    # one W1 straddles: the all-of claim is inconclusive
    checks[("W1", "1")] = check("W1", "1", lo=0.5, hi=0.7, threshold=0.6, side="<=")
    out = oc.decide_all(checks, shapes, {"C2": premise}, {"T1": "W1"}, 0.05, "holm")
    assert out[("T1", "within")].outcome == oc.INCONCLUSIVE
    # Holm over the four p-valued checks: C1[base]'s 1e-4 becomes 4e-4
    assert out[("C1", "base")].p_adjusted == pytest.approx(4e-4)


def test_sequential_null_reaches_below_a_thousandth_when_the_statistic_beats_every_draw():
    rng_draw = lambda start, n: np.random.default_rng(start).normal(size=n)  # noqa: E731
    p, used, draws = sequential_p(rng_draw, lambda v: v >= 10.0, h=10, max_draws=9999)
    assert p == pytest.approx(1 / 10000) and p < 0.001 and used == 9999 == len(draws)


def test_sequential_null_stops_early_where_the_decision_is_far_and_batches_do_not_matter():
    def draw(start, n):
        return np.array([np.random.default_rng(1000 + i).normal() for i in range(start, start + n)])

    p, used, _ = sequential_p(draw, lambda v: v >= 0.0, h=10, max_draws=9999, batch=7)
    p2, used2, _ = sequential_p(draw, lambda v: v >= 0.0, h=10, max_draws=9999, batch=256)
    assert (p, used) == (p2, used2)
    assert used < 40 and p == pytest.approx(10 / used) and p > 0.2


# --- the rules on real checks (committed tables, no model): an outcome moves when its input moves ---


def _zoo_mean(cfg):
    from harness.claims import checks, sources

    src = sources.load("zoo:mean")
    return checks.evaluate(src.table, src.name, cfg, floors=src.floors, design=src.design, extras=src.extras).checks


def test_a_real_premise_decides_testability():
    """C2 across families presupposes C1 of its base. SmolLM2's C1 (1 of 960 random sets reaches its f:
    p = 0.0021, Holm 0.027) holds at alpha 0.05, and C2[smollm2 -> gemma] is then decided by its
    equivalence interval; at alpha 0.01 its C1 is inconclusive and the same C2 is not testable."""
    from harness.claims import thresholds
    from harness.schema import replace

    cfg = thresholds.load()
    pair = ("C2", "smollm2-135m->gemma-3-270m")
    before = _zoo_mean(cfg)
    assert before[("C1", "smollm2-135m")].outcome == oc.REPRODUCED
    assert before[pair].outcome == oc.REPRODUCED and before[pair].hi < cfg.C2.cross_max_efficiency
    strict = replace(cfg, verdicts=replace(cfg.verdicts, alpha=0.01))
    after = _zoo_mean(strict)
    assert after[("C1", "smollm2-135m")].outcome == oc.INCONCLUSIVE
    assert after[pair].outcome == oc.NOT_TESTABLE and "premise C1" in after[pair].rule


def test_a_real_interval_moves_the_outcome_with_its_threshold():
    """X3 on zoo:mean straddles its 0.10 threshold (inconclusive); held against 0.5 the whole interval
    lies below it (not reproduced)."""
    from harness.claims import thresholds
    from harness.schema import replace

    cfg = thresholds.load()
    key = ("X3", "mean_frac_rank")
    assert _zoo_mean(cfg)[key].outcome == oc.INCONCLUSIVE
    high = replace(cfg, X3=replace(cfg.X3, min_diff=0.5))
    assert _zoo_mean(high)[key].outcome == oc.NOT_REPRODUCED


def test_the_role_claims_presuppose_the_matcher_passed_the_known_answer_controls():
    """M1-M3 read role+depth matchings: their premise is K2 and K4 of controls:mean (the matcher recovers
    heads that moved, and beats the null, where the truth is known). On the committed controls it fails
    at K2 of SmolLM2's depth-shifted twin (role+depth loses 2 of 20), so every M check of the zoo is not
    testable and names it; with every K2 / K4 reproduced the M checks are decided by their own rules; with
    no control evaluated the premise has no value."""
    import dataclasses

    from harness.claims import checks, instrument, sources, thresholds

    cfg = thresholds.load()
    src = sources.load("zoo:mean")
    ev = checks.instrument_evaluation()
    given = {key: c for key, c in ev.checks.items() if key[0] in instrument.PREMISE_CLAIMS}
    assert {claim for claim, _ in given} == {"K2", "K4"}
    failing = [key for key, c in given.items() if c.verdict != oc.REPRODUCED]
    assert failing == [("K2", "smollm2-135m~insert")]
    real = _zoo_mean(cfg)
    m_keys = [key for key in real if key[0] in ("M1", "M2", "M3")]
    assert m_keys and all(real[key].outcome == oc.NOT_TESTABLE and "premise K2[controls:mean-smollm2-135m~insert]" in real[key].rule
                          for key in m_keys)

    def evaluate(premise_checks):
        return checks.evaluate(src.table, src.name, cfg, floors=src.floors, design=src.design,
                               extras={**src.extras, instrument.EXTRA: premise_checks}).checks

    passed = evaluate({key: dataclasses.replace(c, outcome=oc.REPRODUCED) for key, c in given.items()})
    assert all(passed[key].outcome != oc.NOT_TESTABLE for key in m_keys)
    none = evaluate({})
    assert all(none[key].outcome == oc.NOT_TESTABLE and "has no value" in none[key].rule for key in m_keys)


def test_a_size_aware_transfer_check_presupposes_the_bases_size_aware_c1():
    """C2[a->b@10%] reads the base's top 10% of heads: its premise is C1[a@10%], not C1[a] (K = 20)."""
    from dataclasses import replace

    from harness.claims import registry

    premise = registry.PREMISES["C2"]
    check = Check("C2", "s", "a->b@10%", "", "", True, 0.5)
    c1 = Check("C1", "s", "a", "", "", True, 0.9, outcome=oc.REPRODUCED)
    c1_share = Check("C1", "s", "a@10%", "", "", False, 0.2, outcome=oc.NOT_REPRODUCED)
    assert "has no value" in premise(check, {("C1", "a"): c1})
    assert "premise C1[s-a@10%] is not reproduced (f = 0.200)" in premise(check, {("C1", "a"): c1, ("C1", "a@10%"): c1_share})
    assert premise(check, {("C1", "a@10%"): replace(c1_share, outcome=oc.REPRODUCED)}) is None
    assert premise(Check("C2", "s", "a->b", "", "", True, 0.5), {("C1", "a"): c1, ("C1", "a@10%"): c1_share}) is None


def test_zoo_pairs_frac_lost_is_decided_by_its_interval_over_prompts():
    """X1[smollm2 -> gemma] on zoo:mean: frac_lost 0.85 with its prompt interval [0.75, 0.85] (issue 27; W1, X1,
    T3 and F1 left the point rule). Held above 0.5 it is reproduced; against 0.8 the interval straddles
    (inconclusive, where the point rule said reproduced); against 0.9 it lies wholly below (not reproduced).
    Under other transfer settings (a robustness universe) the interval does not apply and the point rule decides."""
    from harness.claims import thresholds
    from harness.schema import replace

    cfg = thresholds.load()
    key = ("X1", "smollm2-135m->gemma-3-270m")
    check = _zoo_mean(cfg)[key]
    assert check.outcome == oc.REPRODUCED and check.lo is not None and check.lo < check.value <= check.hi
    straddle = (check.lo + check.value) / 2
    assert _zoo_mean(replace(cfg, X1=replace(cfg.X1, min_lost_exclusive=straddle)))[key].outcome == oc.INCONCLUSIVE
    assert _zoo_mean(replace(cfg, X1=replace(cfg.X1, min_lost_exclusive=min(check.hi + 0.01, 0.99))))[key].outcome == oc.NOT_REPRODUCED
    other = _zoo_mean(replace(cfg, transfer=replace(cfg.transfer, k=10)))[key]
    assert other.lo is None and "point rule" in other.rule


def test_a_real_size_aware_transfer_check_moves_with_its_input():
    """C3[zoo:mean-smollm2 -> gemma@10%]: SmolLM2's top 27 heads (10% of 270) mapped by role+depth into Gemma close
    0.66 [0.57, 0.76] of the gap to Gemma's own top 27: the circuit transfers by role (not reproduced against 0.5).
    Its premise is C1[smollm2@10%] (reproduced); with that premise broken (min_f above its f) it is not testable."""
    from harness.claims import thresholds
    from harness.schema import replace

    cfg = thresholds.load()
    key = ("C3", "smollm2-135m->gemma-3-270m@10%")
    check = _zoo_mean(cfg)[key]
    assert check.outcome == oc.NOT_REPRODUCED and check.lo > cfg.C3.max_efficiency
    assert "27 = 10% of smollm2-135m's 270 heads" in check.measured
    above = _zoo_mean(replace(cfg, C3=replace(cfg.C3, max_efficiency=min(check.hi + 0.01, 1.0))))[key]
    assert above.outcome == oc.REPRODUCED
    broken = _zoo_mean(replace(cfg, C1=replace(cfg.C1, min_f=1.0)))
    assert broken[("C1", "smollm2-135m@10%")].outcome != oc.REPRODUCED
    assert broken[key].outcome == oc.NOT_TESTABLE and "premise C1[zoo:mean-smollm2-135m@10%]" in broken[key].rule


def test_a_pair_on_other_prompts_has_no_interval_and_says_so():
    """The controls' prompt twins (the same model scanned on prompt seed 1) share no prompts with their base: a
    joint resample of prompt indices would pair unrelated prompts, so the source gives them no interval and a
    note, and their W1 keeps the point rule; the other controls share the base's prompts and get one."""
    from harness.claims import checks, sources

    src = sources.load("controls:mean")
    intervals = src.extras["pair_intervals"]["intervals"]
    assert ("gemma-3-270m", "gemma-3-270m~permute") in intervals
    assert ("gemma-3-270m", "gemma-3-270m~prompts") not in intervals
    assert any("gemma-3-270m->gemma-3-270m~prompts: its tables were made on different prompts" in n for n in src.notes)
    w1 = checks.evaluate_source(src).checks[("W1", "gemma-3-270m->gemma-3-270m~prompts")]
    assert w1.lo is None and "point rule" in w1.rule


def test_c3_without_a_defined_efficiency_is_not_testable_not_skipped():
    """C3 places the mapped set between the target's random sets and its own top-k: when the own top-k is no better
    than the random mean there is nothing to place it in. The check exists with no value, and its premise says so
    (after C1 of the base, which comes first)."""
    from harness.claims import faithfulness as cf
    from harness.claims import registry

    premise = registry.PREMISES["C3"]
    c1 = Check("C1", "s", "a", "", "", True, 0.9, outcome=oc.REPRODUCED)
    undefined = Check("C3", "s", "a->b", f"{cf.UNDEFINED} in b: its own top-20 set (f -0.1) is no better than ...; base", "", False,
                      float("nan"))
    assert "b's own top-k set beats its random sets' mean is not met" in premise(undefined, {("C1", "a"): c1})
    assert "premise C1[s-a] is not reproduced" in premise(undefined, {("C1", "a"): Check("C1", "s", "a", "", "", False, 0.1,
                                                                                          outcome=oc.NOT_REPRODUCED)})
    assert premise(Check("C3", "s", "a->b", "role+depth efficiency 0.30 ...", "", True, 0.3), {("C1", "a"): c1}) is None
