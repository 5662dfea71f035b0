"""The claim checks can fail: edits of the published table flip exactly the checks they should.

These tests are the programmatic form of "break the input, watch it go red"; the README shows the
same on the real files with `--allow-modified-fixtures`.
"""

import tomllib

import pandas as pd
import pytest

from harness.claims import checks as claims
from harness.data import published
from harness.claims import thresholds

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def table():
    return published.load_heads()[0]


@pytest.fixture(scope="module")
def baseline(table):
    return claims.evaluate(table, "published")


def held(ev):
    return {k for k, c in ev.checks.items() if c.holds}


# What a design gives a claim (harness.claims.registry, Claim.needs); every other need is data beyond a head
# table (noise floors, a source extra), which the published source has none of.
DESIGN_NEEDS = {"pairs", "within", "cross", "ladder", "seed_pair"}
# The reason a need's claims give on the published source (a need not listed here: any non-empty reason).
REASONS = {"floors": "no per-prompt scores", "roles": "no roles data", "faithfulness": "no faithfulness data",
           "controls": "known-answer controls"}


def test_every_claim_id_has_checks(baseline):
    """On the published source every claim whose needs a design meets is checked on each of its
    variants; every claim that needs more (F1's noise floors, M1-M3's role tables, C1-C3's faithfulness
    results, K1-K8's known-answer controls) is unavailable on each variant, with its reason. Read from
    the registry's `needs`: a new claim needs no edit here."""
    from harness.claims.registry import REGISTRY

    needs_data = {c: set(claim.needs) - DESIGN_NEEDS for c, claim in REGISTRY.items() if set(claim.needs) - DESIGN_NEEDS}
    assert needs_data.keys() >= {"F1", "M1", "M2", "M3", "C1", "C2", "C3", "K1"}
    assert {c for c, _ in baseline.checks} == set(claims.CLAIM_IDS) - set(needs_data)
    for claim, lacking in needs_data.items():
        reasons = [r for (c, _), r in baseline.unavailable.items() if c == claim]
        assert reasons and all(r for r in reasons), claim
        expected = [REASONS[need] for need in lacking if need in REASONS]
        if expected:
            assert all(any(e in r for e in expected) for r in reasons), (claim, reasons)
    for claim in set(claims.CLAIM_IDS) - set(needs_data):
        assert {v for c, v in baseline.checks if c == claim} == set(claims.variants(claim))


def test_zoo_design_marks_the_ladder_claims_not_applicable():
    for claim in (*claims.PAIR_CLAIMS, "W2"):
        assert claims.variants(claim, "zoo:mean") == (claims.NOT_APPLICABLE,)
    assert claims.variants("W1", "zoo:mean") == ("qwen2.5-coder-0.5b->qwen2.5-coder-1.5b",)
    assert len(claims.variants("X1", "zoo:zero")) == 3
    empty = pd.DataFrame(columns=["family", "model", "layer", "head", "delta_ioi", "delta_anti", "category"])
    ev = claims.evaluate(pd.concat([empty]), "zoo:mean")
    assert "not applicable" in ev.unavailable[("P1", claims.NOT_APPLICABLE)]


def test_making_a_target_keep_every_base_head_breaks_the_within_claims(table):
    """Copy pythia-160m's base heads into pythia-410m at top strength: 160m -> 410m transfers perfectly."""
    base = claims.transfer.top_k_base(table, "pythia-160m", 20)
    edited = table[~((table["model"] == "pythia-410m") & table.set_index(["layer", "head"]).index.isin(list(zip(base["layer"], base["head"]))))]
    strong = base.assign(model="pythia-410m", delta_ioi=-5.0 - base["abs_delta_ioi"].to_numpy(), category="ioi_only")
    edited = claims.pd.concat([edited, strong], ignore_index=True)
    ev = claims.evaluate(edited, "published")
    flipped = held(claims.evaluate(table, "published")) - held(ev)
    assert ("W1", "pythia-160m->pythia-410m") in flipped
    assert ("P2", "missing_table") in flipped
    assert ("T1", "within") in flipped
    assert ("T3", "all_pairs") in flipped
    assert ("X1", "pythia-160m->opt-125m") not in flipped  # untouched pairs keep their verdicts


def test_one_delta_moves_a_pair_metric(table):
    """Give gpt2-medium's (layer 10, head 7) a huge |delta_ioi|: pythia-410m -> gpt2-medium improves."""
    edited = table.copy()
    mask = (edited["model"] == "gpt2-medium") & (edited["layer"] == 10) & (edited["head"] == 7)
    edited.loc[mask, "delta_ioi"] = -9.0
    before = claims.evaluate(table, "published")
    after = claims.evaluate(edited, "published")
    assert after.checks[("P6", "mfr")].value < before.checks[("P6", "mfr")].value
    rows = after.heads[("pythia-410m", "gpt2-medium")]
    assert rows.loc[(rows["layer"] == 10) & (rows["head"] == 7), "tgt_rank"].item() == 0


def test_quantifiers():
    cfg = thresholds.load()
    assert cfg.quantifier("moderate").holds(0.40)
    assert not cfg.quantifier("moderate").holds(0.50)
    assert not cfg.quantifier("most").holds(0.50)
    assert cfg.quantifier("most").holds(0.55)
    assert cfg.quantifier("moderate").text() == "0.20 <= x < 0.50"
    with pytest.raises(KeyError, match="quantifier"):
        cfg.quantifier("several")


def test_every_threshold_has_a_rationale():
    cfg = thresholds.load()
    sections = [cfg.approx, *cfg.quantifiers.values(), cfg.W1, cfg.W2, cfg.X1, cfg.X2, cfg.X3, cfg.T3]
    a = cfg.acceptance
    acceptance = [a.clean_logit_diff, a.clean_accuracy, a.spearman, a.top_k_overlap, a.top_k_displacement]
    assert all(len(s.rationale) > 20 for s in sections + acceptance)


def _raw_thresholds() -> dict:
    with open(thresholds.THRESHOLDS_FILE, "rb") as fh:
        return tomllib.load(fh)


def test_an_unknown_threshold_key_is_an_error_naming_key_and_file():
    raw = _raw_thresholds()
    raw["quantifiers"]["moderate"]["max"] = 0.5  # only max_exclusive exists
    with pytest.raises(thresholds.ThresholdsError, match=r"thresholds\.toml: unknown key quantifiers\.moderate\.max"):
        thresholds.parse(raw)


def test_a_missing_or_mistyped_threshold_is_an_error():
    raw = _raw_thresholds()
    del raw["W1"]["max_kept_strong"]
    with pytest.raises(thresholds.ThresholdsError, match="missing key W1.max_kept_strong"):
        thresholds.parse(raw)
    raw = _raw_thresholds()
    raw["transfer"]["k"] = "20"
    with pytest.raises(thresholds.ThresholdsError, match="transfer.k = '20' must be int"):
        thresholds.parse(raw)
    raw = _raw_thresholds()
    raw["transfer"]["ties"] = "random"
    with pytest.raises(thresholds.ThresholdsError, match="transfer.ties"):
        thresholds.parse(raw)


def test_missing_models_make_checks_unavailable_with_a_reason(table):
    ev = claims.evaluate(table[table["model"] != "opt-125m"], "published")
    assert ("P5", "mfr") not in ev.checks
    assert "opt-125m" in ev.unavailable[("P5", "mfr")]
    assert "opt-125m" in ev.unavailable[("X2", "missing_table")]
    assert ("P1", "mfr") in ev.checks
