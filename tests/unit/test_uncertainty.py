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


def _compare_groups_drawing_inline(within, cross, n_boot, n_perm, level, seed):
    """compare_groups as it was before its draws were shared across calls: one generator, bootstrap
    indices of each cross then each within pair, then the permutation order (the reference)."""
    w = [np.asarray(a, float)[np.isfinite(a)] for a in within]
    c = [np.asarray(a, float)[np.isfinite(a)] for a in cross]
    w_all, c_all = np.concatenate(w), np.concatenate(c)
    rng = np.random.default_rng(seed)

    def means(groups):
        total = np.zeros(n_boot)
        for g in (g for g in groups if g.size):
            total += g[rng.integers(0, g.size, (n_boot, g.size))].sum(axis=1)
        return total / sum(g.size for g in groups)

    boots = means(c) - means(w)
    lo, hi = np.quantile(boots, [(1 - level) / 2, 1 - (1 - level) / 2])
    pooled = np.concatenate([w_all, c_all])
    perms = pooled[np.argsort(rng.random((n_perm, pooled.size)), axis=1)]
    diffs = perms[:, w_all.size:].mean(axis=1) - perms[:, : w_all.size].mean(axis=1)
    observed = float(c_all.mean() - w_all.mean())
    return observed, float(lo), float(hi), (int((diffs >= observed - 1e-12).sum()) + 1) / (n_perm + 1)


def test_shared_draws_give_exactly_the_inline_draws():
    """The draws cached per size signature are the ones an inline generator makes: bit-identical
    results for new data of the same sizes (a cache hit), other sizes, NaNs and an empty pair."""
    rng = np.random.default_rng(7)
    cases = []
    for sizes_w, sizes_c in [((5, 6), (4, 7)), ((5, 6), (4, 7)), ((3,), (8, 2, 5)), ((0, 4), (6,)), ((5, 6), (4, 7))]:
        within = [rng.random(n) for n in sizes_w]
        cross = [rng.random(n) + 0.1 for n in sizes_c]
        cases.append((within, cross))
    cases[4][0][0][2] = np.nan  # drops one head: another size signature
    for within, cross in cases:
        got = compare_groups(within, cross, "x", n_boot=300, n_perm=500, level=0.9, seed=3)
        want = _compare_groups_drawing_inline(within, cross, 300, 500, 0.9, 3)
        assert (got.diff, got.lo, got.hi, got.p_value) == want
