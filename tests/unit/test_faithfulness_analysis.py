"""Faithfulness arithmetic (harness.analysis.faithfulness) and causal transfer
(harness.analysis.causal_transfer) on hand-made frames: f, the null's percentile and p-value, CPR
and CMD areas, seeded random sets (stratified too), rankings, the plan, the index correspondence
and transfer efficiency."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.analysis import causal_transfer as ct
from harness.analysis import faithfulness as fa
from harness.data.head_sets import heads_text, parse_heads

pytestmark = pytest.mark.unit


def test_f_is_the_share_of_the_full_effect():
    assert fa.faithfulness(3.0, m_full=4.0, m_empty=0.0) == 0.75
    assert fa.faithfulness(-1.0, m_full=3.0, m_empty=-1.0) == 0.0
    np.testing.assert_allclose(fa.faithfulness(np.array([1.0, 5.0]), 5.0, 1.0), [0.0, 1.0])
    assert np.isnan(fa.faithfulness(1.0, 2.0, 2.0))


def test_null_position():
    percentile, p = fa.null_position(0.5, [0.1, 0.2, 0.6, 0.3])
    assert percentile == 75.0 and p == pytest.approx(2 / 5)
    percentile, p = fa.null_position(0.9, np.zeros(19))
    assert percentile == 100.0 and p == pytest.approx(1 / 20)


def test_areas_on_known_curves():
    # f = 1 everywhere after 0: area = 1 - (first step's missing triangle)
    assert fa.area([1], [1.0], 10) == pytest.approx(0.05 + 0.9)
    # f = x (the diagonal): area 1/2 whatever the grid
    assert fa.area([2, 5], [0.2, 0.5], 10) == pytest.approx(0.5)
    assert fa.cpr([2, 5], [0.2, 0.5], 10) == pytest.approx(0.5)
    assert fa.cmd([2, 5], [0.2, 0.5], 10) == pytest.approx(0.5)
    # a perfect circuit at every size: CMD near 0 (only the first segment from f(0) = 0)
    assert fa.cmd([1, 5], [1.0, 1.0], 10) == pytest.approx(0.05)


def test_random_sets_are_seeded_and_stratified():
    a = fa.random_sets(4, 3, 5, 10, seed=7)
    assert a == fa.random_sets(4, 3, 5, 10, seed=7)
    assert a != fa.random_sets(4, 3, 5, 10, seed=8)
    assert all(len(set(s)) == 5 and all(0 <= l < 4 and 0 <= h < 3 for l, h in s) for s in a)
    strata = [0, 2, 0, 1]
    for s in fa.random_sets(4, 3, 3, 20, seed=0, strata=strata):
        assert fa.layer_histogram(s, 4) == strata


def test_rankings_and_ties():
    table = pd.DataFrame({"layer": [1, 0, 0, 2], "head": [0, 1, 0, 0], "delta_ioi": [0.5, -0.5, -0.2, 0.1]})
    assert fa.ranked_heads(table, "abs") == [(0, 1), (1, 0), (0, 0), (2, 0)]  # tie: (layer, head) order
    assert fa.ranked_heads(table, "signed") == [(0, 1), (0, 0), (2, 0), (1, 0)]
    with pytest.raises(ValueError):
        fa.ranked_heads(table, "bogus")


def test_heads_text_round_trip():
    assert heads_text([(2, 1), (0, 3), (2, 1)]) == "0.3 2.1"
    assert parse_heads("0.3 2.1") == [(0, 3), (2, 1)] and parse_heads("") == []


def _table(n_layers: int, n_heads: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    layer, head = np.divmod(np.arange(n_layers * n_heads), n_heads)
    return pd.DataFrame({"layer": layer, "head": head, "delta_ioi": rng.normal(size=n_layers * n_heads)})


def test_plan_has_every_set_once():
    plan = fa.plan_sets(_table(4, 3), 4, 3, k_grid=[1, 2, 5, 20], k_claim=5, n_random=6, n_random_curve=2,
                        seed=0, mapped=[("b|index|1", [(0, 0), (1, 1)])])
    counts = plan.groupby("kind").size().to_dict()
    # k = 20 >= 12 heads is "all" (the full model): not a top set
    assert counts == {"full": 1, "empty": 1, "top": 6, "necessity": 6, "random": 6 + 2 + 2, "mapped": 1}
    assert plan.loc[plan["kind"] == "full", "k"].item() == 12
    assert len(parse_heads(plan.loc[plan["kind"] == "full", "heads"].item())) == 12
    tops = plan[(plan["kind"] == "top") & (plan["ranking"] == "abs")]
    assert [len(parse_heads(h)) for h in tops["heads"]] == [1, 2, 5]


def _results(f_top: float, f_random: np.ndarray, n_heads: int = 12, k: int = 5) -> pd.DataFrame:
    """Results of one model whose m equals f (m_full = 1, m_empty = 0)."""
    rows = [
        {"kind": "full", "ranking": "", "k": n_heads, "draw": 0, "label": "", "m": 1.0},
        {"kind": "empty", "ranking": "", "k": 0, "draw": 0, "label": "", "m": 0.0},
    ]
    for ranking in fa.RANKINGS:
        rows.append({"kind": "top", "ranking": ranking, "k": k, "draw": 0, "label": "", "m": f_top})
        rows.append({"kind": "necessity", "ranking": ranking, "k": k, "draw": 0, "label": "", "m": 0.3})
    rows += [{"kind": "random", "ranking": "", "k": k, "draw": i, "label": "", "m": v} for i, v in enumerate(f_random)]
    return pd.DataFrame(rows).assign(model="toy", method="mean", heads="")


def test_curve_frame_reads_the_null():
    curve = fa.curve_frame(_results(0.8, np.linspace(0.0, 0.5, 20)))
    row = curve[curve["ranking"] == "abs"].iloc[0]
    assert row["f"] == pytest.approx(0.8) and row["necessity"] == pytest.approx(0.7)
    assert row["null_mean"] == pytest.approx(0.25) and row["null_p95"] == pytest.approx(np.percentile(np.linspace(0, 0.5, 20), 95))
    assert row["percentile"] == 100.0 and row["p_value"] == pytest.approx(1 / 21)


def test_index_correspondence_drops_absent_heads():
    top = pd.DataFrame({"layer": [0, 5, 1, 1], "head": [3, 0, 1, 1]})
    corr = ct.index_correspondence(top, (4, 2))
    heads, dropped = ct.mapped_heads(corr, (4, 2))
    assert heads == [(1, 1)] and dropped == 2  # (0, 3): head 3 absent; (5, 0): layer 5 absent; duplicate counted once
    assert ct.parse_label(ct.mapped_label("a", "index", 2)) == ("a", "index", 2)


def test_transfer_efficiency_and_frame():
    assert fa.transfer_efficiency(0.5, 0.9, 0.1) == pytest.approx(0.5)
    assert fa.transfer_efficiency(0.1, 0.9, 0.1) == 0.0
    assert np.isnan(fa.transfer_efficiency(0.3, 0.2, 0.2))
    assert np.isnan(fa.transfer_efficiency(-0.2, -0.3, -0.1))  # own top set worse than random: no scale
    results = _results(0.9, np.full(10, 0.1)).assign(model="smollm2-135m")
    mapped = pd.DataFrame([{"kind": "mapped", "ranking": "", "k": 4, "draw": 0, "label": ct.mapped_label("qwen2.5-coder-0.5b", "index", 1),
                            "m": 0.5, "model": "smollm2-135m", "method": "mean", "heads": ""}])
    frame = ct.transfer_frame(pd.concat([results, mapped]), [("qwen2.5-coder-0.5b", "smollm2-135m")], k=5)
    row = frame.iloc[0]
    assert row["efficiency"] == pytest.approx(0.5) and row["n_dropped"] == 1 and row["kind"] == "cross"
    assert row["p_value"] == pytest.approx(1 / 11)


def test_faithfulness_settings_are_typed():
    import copy
    import tomllib

    from harness.claims import thresholds

    raw = tomllib.loads(thresholds.THRESHOLDS_FILE.read_text())
    cfg = thresholds.parse(raw)
    assert cfg.faithfulness.n_random >= 20  # a p-value below 0.05 must be attainable: 1 / (N + 1)
    assert cfg.faithfulness.prompts_for("qwen2.5-coder-1.5b") <= cfg.faithfulness.n_prompts
    for key, bad in (("k_grid", [0, 5]), ("k_grid", "5"), ("stratify", 1), ("n_random", 0)):
        broken = copy.deepcopy(raw)
        broken["faithfulness"][key] = bad
        with pytest.raises(thresholds.ThresholdsError, match="faithfulness"):
            thresholds.parse(broken)


def test_f_interval_over_prompts():
    rng = np.random.default_rng(0)
    full, empty = rng.normal(3.0, 1.0, 64), rng.normal(0.0, 1.0, 64)
    half = (full + empty) / 2 + rng.normal(0, 0.1, 64)
    lo, hi = fa.f_interval(half, full, empty, n_boot=500, level=0.95, seed=0)
    assert lo < 0.5 < hi and hi - lo < 0.2
    exact = fa.f_interval(full, full, empty, n_boot=100, level=0.95, seed=0)
    assert exact == pytest.approx((1.0, 1.0))
