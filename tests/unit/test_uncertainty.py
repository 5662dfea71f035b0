"""Bootstrap intervals and the permutation test: seeded, and sensitive to real differences."""

import numpy as np
import pandas as pd
import pytest

from harness.data import published
from harness.analysis import transfer
from harness.claims import thresholds
from harness.analysis.uncertainty import bootstrap_pair, compare_groups

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def heads():
    table, _ = published.load_heads()
    return transfer.transfer_heads(table, "pythia-70m", "pythia-160m", **thresholds.load().transfer.kwargs())


def test_bootstrap_is_seeded_and_brackets_the_estimate(heads):
    a = bootstrap_pair(heads, n_boot=300, seed=1)
    b = bootstrap_pair(heads, n_boot=300, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert ((a["lo"] <= a["estimate"]) & (a["estimate"] <= a["hi"])).all()
    c = bootstrap_pair(heads, n_boot=300, seed=2)
    assert not a.equals(c)


def test_bootstrap_rejects_a_bad_level(heads):
    with pytest.raises(ValueError, match="level"):
        bootstrap_pair(heads, level=1.5)


def test_permutation_finds_a_real_difference_and_not_a_fake_one():
    rng = np.random.default_rng(0)
    low = [rng.uniform(0.0, 0.4, 20) for _ in range(3)]
    high = [rng.uniform(0.6, 1.0, 20) for _ in range(3)]
    real = compare_groups(low, high, "x", n_boot=200, n_perm=500)
    assert real.diff > 0.4 and real.p_value < 0.01 and real.lo > 0
    same = compare_groups(low, [g + 0.0 for g in low], "x", n_boot=200, n_perm=500)
    assert same.diff == pytest.approx(0.0) and same.p_value > 0.3


def test_nan_values_are_dropped_and_empty_groups_refused():
    r = compare_groups([np.array([0.1, np.nan])], [np.array([0.9, np.nan])], "x", n_boot=50, n_perm=50)
    assert (r.n_within, r.n_cross) == (1, 1)
    with pytest.raises(ValueError, match="no finite values"):
        compare_groups([np.array([np.nan])], [np.array([0.5])], "x")
