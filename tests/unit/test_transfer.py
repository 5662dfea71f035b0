"""Transfer metrics: reproduce the origin's per-head rows; both readings of missing; tie policies."""

import numpy as np
import pandas as pd
import pytest

from harness.data.designs import builtin
from harness.data import published
from harness.models import registry
from harness.analysis import transfer
from harness.claims import thresholds

SETTINGS = thresholds.load()  # k, ties and weak_above of claims/thresholds.toml

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def heads_table():
    return published.load_heads()[0]


@pytest.fixture(scope="module")
def origin():
    return published.load_origin_transfer()


def ours_origin_format(table, ties):
    rows = [transfer.transfer_heads(table, b, t, **SETTINGS.with_transfer(ties=ties).transfer.kwargs()) for b, t in builtin("seed").pairs]
    return transfer.origin_format(pd.concat(rows, ignore_index=True))


def test_reproduces_the_origins_rows_except_the_order_of_tied_heads(heads_table, origin):
    """Row for row: same pairs, same base heads in the same order, same |delta| values, same missing
    flags; the same rank wherever the target head's |delta_ioi| is unique. Where it is tied (the 0.0
    fill values), the origin's rank lies inside the tie block: its tie order was arbitrary."""
    lo, hi = ours_origin_format(heads_table, "min"), ours_origin_format(heads_table, "max")
    exact_cols = [c for c in origin.columns if c not in ("tgt_rank", "tgt_frac_rank")]
    pd.testing.assert_frame_equal(lo[exact_cols], origin[exact_cols], check_exact=True)
    present = origin["tgt_rank"].notna()
    assert (lo["tgt_rank"].isna() == ~present).all()
    untied = present & (lo["tgt_rank"] == hi["tgt_rank"])
    np.testing.assert_array_equal(lo.loc[untied, "tgt_rank"], origin.loc[untied, "tgt_rank"])
    np.testing.assert_array_equal(lo.loc[untied, "tgt_frac_rank"], origin.loc[untied, "tgt_frac_rank"])
    tied = present & ~untied
    assert ((origin.loc[tied, "tgt_rank"] >= lo.loc[tied, "tgt_rank"]) & (origin.loc[tied, "tgt_rank"] <= hi.loc[tied, "tgt_rank"])).all()
    assert (untied.sum(), tied.sum()) == (25, 17)  # of 42 present heads, measured on the published data


def test_missing_fractions_match_the_origin_to_the_last_digit(heads_table, origin):
    summary = transfer.transfer_summary(heads_table, **SETTINGS.transfer.kwargs())
    theirs = origin.groupby(["base_model", "tgt_model"], sort=False)["missing_in_target_index"].mean().to_numpy()
    np.testing.assert_array_equal(summary["frac_missing_table"].to_numpy(), theirs)


def test_the_two_readings_of_missing(heads_table):
    """Only 410m -> 1b loses heads because the index does not exist (1b has 16 layers x 8 heads)."""
    s = transfer.transfer_summary(heads_table, **SETTINGS.transfer.kwargs()).set_index(["base_model", "tgt_model"])
    assert s.loc[("pythia-410m", "pythia-1b"), "frac_missing_geometry"] == pytest.approx(0.30)
    others = s.drop(index=[("pythia-410m", "pythia-1b")])
    assert (others["frac_missing_geometry"] == 0).all()
    assert (s["frac_missing_table"] >= s["frac_missing_geometry"]).all()


def toy_table():
    rows = []
    for model, cells in {
        "gpt2": [(0, 0, -0.9, "ioi_only"), (0, 1, -0.5, "shared"), (1, 0, -0.3, "ioi_only"), (11, 11, -0.2, "ioi_only"), (2, 2, 0.0, "anti_only")],
        "pythia-70m": [(0, 0, -0.1, "ioi_only"), (0, 1, -0.8, "ioi_only"), (1, 0, 0.0, "weak"), (3, 3, 0.0, "weak")],
    }.items():
        for layer, head, d, cat in cells:
            rows.append({"family": registry.get(model).family, "model": model, "layer": layer, "head": head, "delta_ioi": d, "delta_anti": 0.0, "category": cat})
    return pd.DataFrame(rows)


def test_metrics_on_a_hand_worked_example():
    heads = transfer.transfer_heads(toy_table(), "gpt2", "pythia-70m", k=3, ties="average", weak_above=0.5, missing="table")
    assert list(zip(heads["layer"], heads["head"])) == [(0, 0), (0, 1), (1, 0)]  # anti_only (2,2) excluded
    # target ranks by |delta|: (0,1)=0, (0,0)=1, then (1,0),(3,3) tied at 0.0 -> mid rank 2.5; n = 4
    np.testing.assert_allclose(heads["tgt_frac_rank"], [2 / 4, 1 / 4, 3.5 / 4])
    m = transfer.summarize_heads(heads)
    assert m["mean_frac_rank"] == pytest.approx((0.5 + 0.25 + 0.875) / 3)
    assert m["frac_missing_table"] == 0 and m["frac_lost"] == pytest.approx(1 / 3)
    k4 = transfer.summarize_heads(transfer.transfer_heads(toy_table(), "gpt2", "pythia-70m", k=4, ties="average", weak_above=0.5, missing="table"))
    assert k4["frac_missing_table"] == pytest.approx(0.25)  # (11,11) is not a row of the target table
    assert k4["frac_missing_geometry"] == pytest.approx(0.25)  # ... and pythia-70m has no layer 11
    assert k4["mean_frac_rank_missing_as_one"] == pytest.approx((0.5 + 0.25 + 0.875 + 1.0) / 4)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="k must be"):
        transfer.top_k_base(toy_table(), "gpt2", k=0)
    with pytest.raises(ValueError, match="tie policy"):
        transfer.target_ranks(toy_table(), "gpt2", ties="random", over="table")
    with pytest.raises(KeyError, match="no rows"):
        transfer.transfer_heads(toy_table(), "gpt2", "opt-125m", k=3, ties="average", weak_above=0.5, missing="table")


def test_precomputed_ranks_and_base_rows_give_the_same_rows():
    """A sweep passes target_ranks / top_k_base it already has; the rows must not change."""
    table, _ = published.load_heads()
    for missing in ("table", "geometry"):
        settings = SETTINGS.with_transfer(missing=missing).transfer
        plain = transfer.transfer_heads(table, "pythia-410m", "pythia-1b", **settings.kwargs())
        given = transfer.transfer_heads(
            table, "pythia-410m", "pythia-1b", **settings.kwargs(),
            ranks=transfer.target_ranks(table, "pythia-1b", settings.ties, over=missing),
            base_rows=transfer.top_k_base(table, "pythia-410m", settings.k),
        )
        pd.testing.assert_frame_equal(plain, given)
        assert plain.attrs == given.attrs


def test_summarize_heads_equals_the_pandas_means():
    table, _ = published.load_heads()
    for pair in builtin("seed").pairs:
        heads = transfer.transfer_heads(table, *pair, **SETTINGS.with_transfer(missing="geometry").transfer.kwargs())
        got = transfer.summarize_heads(heads)
        present = heads["tgt_frac_rank"].dropna()
        assert got["mean_frac_rank"] == float(present.mean()) and got["n_present"] == present.size
        for column, key in [("frac_rank_missing_as_one", "mean_frac_rank_missing_as_one"), ("missing_table", "frac_missing_table"),
                            ("missing_geometry", "frac_missing_geometry"), ("lost", "frac_lost")]:
            assert got[key] == float(heads[column].mean()), key
