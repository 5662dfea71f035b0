"""The ablation view (issue 29) on synthetic checks: each check's outcome under zero, mean and
counterfactual side by side, the per-claim summary with the at-least-two-ablations criterion, the
agreement between methods per model and the cost table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.claims.check import NOT_APPLICABLE, Check
from harness.claims.checks import Evaluation
from harness.report import ablation_view as view

pytestmark = pytest.mark.unit

METHODS = ("zero", "mean", "counterfactual")


def _check(claim: str, source: str, variant: str, outcome: str) -> Check:
    return Check(claim, source, variant, "m", "c", outcome == "reproduced", 0.5, outcome=outcome)


def _evaluation(source: str, outcomes: dict[tuple[str, str], str], unavailable: dict | None = None) -> Evaluation:
    checks = {key: _check(*key[:1], source, key[1], outcome) for key, outcome in outcomes.items()}
    return Evaluation(source, checks, dict(unavailable or {}), pd.DataFrame(), {})


R, N, I, T = "reproduced", "not reproduced", "inconclusive", "not testable"
PAIR = "smollm2-135m->gemma-3-270m"


def _results(counterfactual):
    zero = _evaluation("zoo:zero", {("X1", PAIR): R, ("X3", "mean_frac_rank"): R, ("C1", "smollm2-135m"): N},
                       {("P1", NOT_APPLICABLE): "not applicable"})
    mean = _evaluation("zoo:mean", {("X1", PAIR): R, ("X3", "mean_frac_rank"): N, ("C1", "smollm2-135m"): R})
    return {"zero": zero, "mean": mean, "counterfactual": counterfactual}


def test_grid_has_a_row_per_check_without_the_source_and_a_column_per_method():
    cf = _evaluation("zoo:counterfactual", {("X1", PAIR): R, ("X3", "mean_frac_rank"): I},
                     {("C1", "smollm2-135m"): "provides no faithfulness data"})
    grid = view.outcome_grid(_results(cf))
    assert list(grid.columns) == ["check", "claim", *METHODS]
    assert list(grid["check"]) == [f"X1[{PAIR}]", "X3[mean_frac_rank]", "C1[smollm2-135m]"]  # registry order, P1 n/a dropped
    rows = grid.set_index("check")
    assert rows.loc["X3[mean_frac_rank]", list(METHODS)].tolist() == [R, N, I]
    assert rows.loc["C1[smollm2-135m]", "counterfactual"] == view.SKIPPED


def test_a_source_without_data_shows_no_data_in_every_cell():
    grid = view.outcome_grid(_results("zoo:counterfactual: no table stored"))
    assert set(grid["counterfactual"]) == {view.NO_DATA}
    assert set(grid["zero"]) <= {R, N}


def test_claim_summary_says_what_holds_under_all_what_depends_and_the_two_ablation_criterion():
    cf = _evaluation("zoo:counterfactual", {("X1", PAIR): R, ("X3", "mean_frac_rank"): R, ("C1", "smollm2-135m"): T})
    summary = view.claim_summary(view.outcome_grid(_results(cf)), METHODS).set_index("claim")
    criterion = f"holds under >= {view.MIN_ABLATIONS}"
    assert summary.loc["X1", "holds under all"] == "yes" and summary.loc["X1", "depends on the ablation"] == "-"
    assert summary.loc["X3", "holds under all"] == "no"
    assert summary.loc["X3", "depends on the ablation"] == "X3[mean_frac_rank]"
    assert summary.loc["X3", criterion] == "yes"  # zero and counterfactual: two of three
    assert summary.loc["C1", criterion] == "no" and summary.loc["C1", "kind"] == "sufficiency"
    assert summary.loc["X1", "kind"] == "necessity"


def test_the_criterion_stays_open_while_a_missing_method_could_still_decide_it():
    assert view.check_criterion([R, N, view.NO_DATA]) == "open"
    assert view.check_criterion([N, N, view.NO_DATA]) == "no"
    assert view.check_criterion([R, R, view.NO_DATA]) == "yes"
    assert view.check_criterion([R, I, view.SKIPPED]) == "open"
    summary = view.claim_summary(view.outcome_grid(_results("no data")), METHODS).set_index("claim")
    assert summary.loc["X1", "holds under all"] == "incomplete" and summary.loc["X1", f"holds under >= {view.MIN_ABLATIONS}"] == "yes"
    assert summary.loc["X3", f"holds under >= {view.MIN_ABLATIONS}"] == "open"


def _table(deltas) -> pd.DataFrame:
    return pd.DataFrame({"layer": np.repeat(np.arange(5), 6), "head": np.tile(np.arange(6), 5), "delta": deltas})


def test_agreement_per_model_and_pair_of_methods_with_na_for_a_missing_table():
    rng = np.random.default_rng(0)
    base = rng.standard_normal(30)
    tables = {"m": {"zero": _table(base), "mean": _table(base * 2), "counterfactual": None}}
    frame = view.agreement_frame(tables, METHODS, k=5).set_index("methods")
    assert frame.loc["zero vs mean", "spearman"] == "1.000" and frame.loc["zero vs mean", "top-5 shared"] == "5/5"
    assert frame.loc["zero vs counterfactual", "spearman"] == view.NOT_AVAILABLE
    assert frame.loc["mean vs counterfactual", "top-5 shared"] == view.NOT_AVAILABLE
    reversed_order = view.agreement_frame({"m": {"zero": _table(base), "mean": _table(-base)}}, ("zero", "mean"), k=5)
    assert reversed_order.loc[0, "spearman"] == "-1.000"


def test_cost_table_reads_seconds_from_meta_and_says_na_without_a_table():
    meta = {"n_prompts": 200, "dtype": "float32", "device": "cpu", "seconds": 196.52, "layer_seconds_all_runs": 146.8}
    resumed = {"n_prompts": 200, "dtype": "bfloat16", "device": "cpu", "seconds": 968.58, "resumed_layers": 15}
    frame = view.cost_frame({"gemma-3-270m": {"counterfactual": meta, "mean": None}, "q": {"zero": resumed}},
                            {"gemma-3-270m": 18, "q": 28})
    columns = ["seconds (last run)", "layers in it", "s per layer", "layer seconds (all runs)", "prompts"]
    assert frame.loc[0, columns].tolist() == ["197", "18/18", "10.9", "147", 200]
    assert frame.loc[1, "seconds (last run)"] == view.NOT_AVAILABLE
    assert frame.loc[2, columns[:4]].tolist() == ["969", "13/28", "74.5", view.NOT_AVAILABLE]  # earlier runs not counted


def test_text_markdown_and_figure(tmp_path):
    cf = _evaluation("zoo:counterfactual", {("X1", PAIR): R, ("X3", "mean_frac_rank"): I})
    grid = view.outcome_grid(_results(cf))
    text = view.terminal_grid(grid, METHODS)
    assert text.splitlines()[0].split() == ["check", *METHODS]
    assert "X3[mean_frac_rank]" in text and "inconclusive" in text
    summary = view.claim_summary(grid, METHODS)
    md = view.markdown_section(grid, summary, pd.DataFrame({"a": [1]}), pd.DataFrame({"b": [2]}), METHODS, "python -m harness x",
                               figure="g.png")
    assert "`python -m harness x`" in md and "| X3[mean_frac_rank] | reproduced | not reproduced | inconclusive |" in md
    path = view.plot_grid(grid, METHODS, tmp_path / "grid.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_view_methods_are_the_harness_methods_and_a_page_keeps_everything_outside_its_markers():
    from harness.scoring.methods import ABLATION_METHODS

    assert sorted(view.VIEW_METHODS) == sorted(ABLATION_METHODS)
    page = f"# title\nintro\n{view.SECTION_START}\nold\n{view.SECTION_END}\nafter\n"
    new = view.spliced(page, "new table")
    assert new == f"# title\nintro\n{view.SECTION_START}\nnew table\n{view.SECTION_END}\nafter\n"
    assert view.spliced(new, "newer").count(view.SECTION_START) == 1
    assert view.spliced(None, "x") == f"{view.SECTION_START}\nx\n{view.SECTION_END}\n"
    with pytest.raises(ValueError, match="no .* markers"):  # an existing page is never overwritten
        view.spliced("# a page someone wrote\n", "x")
    assert view.missing_notes({"a": {"mean": 1, "zero": None}, "b": {"mean": None, "zero": None}}, ("zero", "mean")) == [
        "zoo:zero has no stored table for a, b", "zoo:mean has no stored table for b"]
