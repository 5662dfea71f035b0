"""The known-answer controls' scoring (harness.analysis.controls) on control tables MADE from a committed
base table through a true map (unit tests of the arithmetic only: the controls' own tables are scanned
from their derived weights, docs/controls.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.analysis import controls
from harness.claims import thresholds
from harness.data import designs
from harness.data.head_table import DEFAULT_TAU, categorize, with_derived_columns
from harness.models import registry, transforms
from harness.runs.zoo import zoo_head_table

pytestmark = pytest.mark.unit

BASE = "gemma-3-270m"


@pytest.fixture(scope="module")
def base_table() -> pd.DataFrame:
    designs.load(designs.DESIGNS_DIR / "controls.toml")  # registers the controls
    table, _ = zoo_head_table("mean")
    return table[table["model"] == BASE].reset_index(drop=True)


def _truth(control: str) -> pd.DataFrame:
    derive, spec = registry.get(control).derive, registry.get(BASE)
    return transforms.true_map(derive.transform, derive.params, (spec.n_layers, spec.n_heads, 1))


def _made_control(base: pd.DataFrame, control: str, truth: pd.DataFrame) -> pd.DataFrame:
    """The table a control whose function is the base's would have: each base delta at its true image,
    0.0 at every other head (inert or gone)."""
    spec = registry.get(control)
    grid = pd.DataFrame([(l, h) for l in range(spec.n_layers) for h in range(spec.n_heads)], columns=["layer", "head"])
    moved = truth.dropna().merge(base[["layer", "head", "delta_ioi"]], on=["layer", "head"])
    moved = moved.assign(layer=moved["tgt_layer"].astype(int), head=moved["tgt_head"].astype(int))[["layer", "head", "delta_ioi"]]
    rows = grid.merge(moved, on=["layer", "head"], how="left").fillna({"delta_ioi": 0.0})
    out = with_derived_columns(rows.assign(family=spec.family, model=control, delta_anti=0.0))
    out["category"] = categorize(out["delta_ioi"], out["delta_anti"], DEFAULT_TAU, "signed")
    return out


@pytest.mark.parametrize("control", ["gemma-3-270m~permute", "gemma-3-270m~insert"])
def test_the_true_map_keeps_what_index_matching_reports_lost(base_table, control):
    truth = _truth(control)
    table = pd.concat([base_table, _made_control(base_table, control, truth)], ignore_index=True)
    rows = controls.control_rows(table, {}, BASE, control, truth, thresholds.load()).set_index("correspondence")
    assert list(rows.index) == ["index", "depth", "true"]  # no role tables: role+depth is left out
    assert rows.loc["true", "frac_lost"] == 0.0 and rows.loc["true", "accuracy"] == 1.0
    assert rows.loc["index", "accuracy"] == 0.0  # every head moved
    assert rows.loc["index", "frac_lost"] > rows.loc["true", "frac_lost"]
    agreement = controls.delta_agreement(table, BASE, control, truth)
    assert agreement["spearman"] == pytest.approx(1.0) and agreement["max_abs_diff"] == 0.0 and agreement["n"] == 72
    assert agreement["inert_max_abs"] == 0.0


def test_a_wrong_map_shows_in_the_agreement_and_the_accuracy(base_table):
    control = "gemma-3-270m~permute"
    truth = _truth(control)
    table = pd.concat([base_table, _made_control(base_table, control, truth)], ignore_index=True)
    wrong = truth.assign(tgt_head=truth["head"].astype("Int64"))  # the identity: not where the heads went
    assert controls.delta_agreement(table, BASE, control, wrong)["spearman"] < 0.99
    index = controls.control_rows(table, {}, BASE, control, truth, thresholds.load()).set_index("correspondence")
    assert controls.mapping_accuracy(wrong.iloc[:5][["layer", "head", "tgt_layer", "tgt_head"]], truth) == 0.0
    assert index.loc["index", "accuracy"] == 0.0


def test_knocked_out_heads_are_lost_under_the_true_map(base_table):
    control = "gemma-3-270m~knockout"
    truth = _truth(control)
    made = _made_control(base_table, control, truth)
    table = pd.concat([base_table, made], ignore_index=True)
    rows = controls.control_rows(table, {}, BASE, control, truth, thresholds.load()).set_index("correspondence")
    assert rows.loc["true", "frac_lost"] == 1.0 and np.isnan(rows.loc["true", "accuracy"])  # all 20 are gone
    assert rows.loc["index", "frac_lost"] == 1.0  # their indices hold zero deltas now
    agreement = controls.delta_agreement(table, BASE, control, truth)
    assert agreement["gone_max_abs"] == 0.0 and agreement["n"] == 72 - 20


def test_the_knockout_list_is_the_bases_committed_top_k(base_table):
    """controls.toml names the heads; they must be the committed mean table's top K (the table may change)."""
    from harness.analysis import transfer
    from harness.data.head_table import with_categories

    cfg = thresholds.load().transfer
    for base in ("gemma-3-270m", "smollm2-135m"):
        table, _ = zoo_head_table("mean")
        top = transfer.top_k_base(with_categories(table, cfg.categories), base, cfg.k)
        derive = registry.get(f"{base}~knockout").derive
        assert dict(derive.params)["heads"] == tuple(sorted(zip(top["layer"].astype(int), top["head"].astype(int))))


def test_expectations_read_the_summaries(base_table):
    """K1/K3/K5 on a made permuted control pass; on a control that is the base itself (index recovers it)
    K1 fails, as the threshold says it must."""
    cfg = thresholds.load()
    summaries, kinds = {}, {}
    for control, kind in (("gemma-3-270m~permute", "permute"), ("gemma-3-270m~insert", "insert")):
        truth = _truth(control)
        table = pd.concat([base_table, _made_control(base_table, control, truth)], ignore_index=True)
        summaries[control], kinds[control] = controls.pair_summary(table, {}, BASE, control, truth, cfg), kind
    checks = controls.expectations(summaries, kinds, floor=0.0).set_index(["k", "control"])
    assert bool(checks.loc[("K5", "gemma-3-270m~permute"), "holds"]) and bool(checks.loc[("K6", "gemma-3-270m~insert"), "holds"])
    assert bool(checks.loc[("K3", "gemma-3-270m~permute"), "holds"])  # depth does not recover a permutation
    same = controls.pair_summary(pd.concat([base_table, _made_control(base_table, "gemma-3-270m~prompts", _truth("gemma-3-270m~prompts"))]),
                                 {}, BASE, "gemma-3-270m~prompts", _truth("gemma-3-270m~prompts"), cfg)
    unmoved = controls.expectations({"gemma-3-270m~prompts": same}, {"gemma-3-270m~prompts": "permute"}, floor=0.0)
    assert not bool(unmoved.set_index("k").loc["K1", "holds"])
    prompts = controls.expectations({"gemma-3-270m~prompts": same}, {"gemma-3-270m~prompts": "prompts"}, floor=0.0)
    assert bool(prompts.set_index("k").loc["K8", "holds"]) and same["index_lost"] == 0.0


def _transfer(efficiency: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame([{"base": "b", "target": "b~permute", "correspondence": name, "n_mapped": 20, "n_dropped": 0,
                          "f_mapped": 0.8 * e, "f_own": 0.8, "null_mean": 0.0, "efficiency": e} for name, e in efficiency.items()])


def test_k9_reads_the_true_maps_and_role_depths_efficiency():
    good = controls.faithfulness_expectation(_transfer({"index": 0.1, "role+depth": 1.0, "true": 1.0}), "b", "b~permute")
    assert good["holds"] and "index 0.100" in good["measured"]
    # the masked forward mislocating heads shows as a true map that carries less than the control's own set
    off = controls.faithfulness_expectation(_transfer({"index": 0.1, "role+depth": 1.0, "true": 0.9}), "b", "b~permute")
    assert not off["holds"]
    weak_role = controls.faithfulness_expectation(_transfer({"role+depth": 0.85, "true": 1.0}), "b", "b~permute")
    assert not weak_role["holds"]
    assert controls.faithfulness_expectation(_transfer({"index": 0.1}), "b", "b~permute") is None  # no true map: no K9
    assert np.isnan(controls.faithfulness_expectation(_transfer({"true": 1.0}), "b", "b~permute")["holds"])
