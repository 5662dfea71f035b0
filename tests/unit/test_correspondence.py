"""Correspondences between heads of two models (harness.analysis.correspondence), on synthetic role tables."""

import numpy as np
import pandas as pd
import pytest

from harness.analysis import correspondence as corr
from harness.claims import thresholds
from harness.schema import replace
from harness.scoring.role_columns import ROLE_COLUMNS

pytestmark = pytest.mark.unit
CFG = thresholds.load()


def role_table(geometry, seed, *, extra=True):
    """A synthetic role table with every ROLE_COLUMNS score, plus outcome columns (delta_ioi)."""
    rng = np.random.default_rng(seed)
    n_layers, n_heads = geometry
    layer, head = np.meshgrid(np.arange(n_layers), np.arange(n_heads), indexing="ij")
    table = pd.DataFrame({"layer": layer.ravel(), "head": head.ravel()})
    for column in ROLE_COLUMNS:
        table[column] = rng.random(len(table))
    if extra:
        table["delta_ioi"] = -rng.random(len(table))
    return table


def top(roles, k=8, seed=1):
    rng = np.random.default_rng(seed)
    return roles.iloc[rng.choice(len(roles), k, replace=False)][["layer", "head"]].reset_index(drop=True)


def all_mappings(base_top, base_roles, target_roles, gb, gt, cfg=CFG):
    return {name: corr.correspond(name, base_top, base_roles, target_roles, gb, gt, cfg, seed=3) for name in corr.CORRESPONDENCES}


def test_output_schema_and_order():
    gb, gt = (6, 4), (4, 3)
    base, target = role_table(gb, 0), role_table(gt, 1)
    base_top = top(base)
    for name, m in all_mappings(base_top, base, target, gb, gt).items():
        assert list(m.columns) == list(corr.OUTPUT_COLUMNS), name
        assert str(m["tgt_layer"].dtype) == "Int64" and str(m["tgt_head"].dtype) == "Int64"
        pd.testing.assert_frame_equal(m[["layer", "head"]], base_top.astype(int), check_dtype=False)


def test_index_is_the_same_head_and_na_when_the_index_is_absent():
    gb, gt = (6, 4), (4, 3)
    base_top = pd.DataFrame({"layer": [0, 5, 2, 1], "head": [0, 1, 3, 2]})
    m = corr.correspond("index", base_top, None, None, gb, gt, CFG)
    assert m["tgt_layer"].tolist()[0] == 0 and m["tgt_head"].tolist()[3] == 2
    assert m["tgt_layer"].isna().tolist() == [False, True, True, False]  # L5 and H3 do not exist in 4 x 3


def test_optimal_matchings_are_one_to_one_inside_the_target():
    gb, gt = (6, 4), (4, 3)
    base, target = role_table(gb, 0), role_table(gt, 1)
    for name, m in all_mappings(top(base, 10), base, target, gb, gt).items():
        if name == "index":
            continue
        pairs = list(zip(m["tgt_layer"], m["tgt_head"]))
        assert len(set(pairs)) == len(pairs), name
        assert all(0 <= l < gt[0] and 0 <= h < gt[1] for l, h in pairs), name


def test_role_matching_recovers_a_planted_permutation_of_heads():
    """The target IS the base with its heads shuffled: matching by role must find every head."""
    g = (5, 4)
    base = role_table(g, 0)
    perm = np.random.default_rng(7).permutation(len(base))
    target = base.copy()
    target[list(ROLE_COLUMNS)] = base[list(ROLE_COLUMNS)].to_numpy()[np.argsort(perm)]  # base row i -> target row perm[i]
    base_top = top(base, 10)
    m = corr.correspond("role", base_top, base, target, g, g, CFG)
    rows = base_top["layer"].to_numpy() * g[1] + base_top["head"].to_numpy()
    got = m["tgt_layer"].to_numpy(int) * g[1] + m["tgt_head"].to_numpy(int)
    np.testing.assert_array_equal(got, perm[rows])


def test_depth_on_equal_geometry_is_the_identity():
    g = (5, 4)
    base_top = top(role_table(g, 0), 10)
    m = corr.correspond("depth", base_top, None, None, g, g, CFG)
    np.testing.assert_array_equal(m["tgt_layer"].to_numpy(int), base_top["layer"].to_numpy())
    np.testing.assert_array_equal(m["tgt_head"].to_numpy(int), base_top["head"].to_numpy())


def test_random_matchings_are_seeded_depth_preserving_and_vary():
    gb, gt = (12, 4), (6, 6)
    base_top = top(role_table(gb, 0), 10)
    a = corr.correspond("random", base_top, None, None, gb, gt, CFG, seed=5)
    b = corr.correspond("random", base_top, None, None, gb, gt, CFG, seed=5)
    pd.testing.assert_frame_equal(a, b)
    draws = corr.random_matchings(base_top, gb, gt, 20)
    assert len({tuple(d["tgt_head"].tolist()) for d in draws}) > 1
    rel_b = base_top["layer"].to_numpy() / (gb[0] - 1)
    for d in draws:  # each base head lands in the target layer nearest its relative depth (no layer fills up here)
        nearest = np.abs(np.arange(gt[0])[None, :] / (gt[0] - 1) - rel_b[:, None]).argmin(1)
        assert (np.abs(d["tgt_layer"].to_numpy(int) / (gt[0] - 1) - rel_b) <= np.abs(nearest / (gt[0] - 1) - rel_b) + 1e-9).all()
        assert len(set(zip(d["tgt_layer"], d["tgt_head"]))) == len(d)


def _permuted_outcomes(target, seed):
    """The target's role table with its outcome columns (delta_ioi, the DLA) shuffled across heads."""
    rng = np.random.default_rng(seed)
    out = target.copy()
    for column in ("delta_ioi", "dla_io_s"):
        out[column] = rng.permutation(out[column].to_numpy())
    return out


def test_outcome_blind_permuting_the_targets_deltas_leaves_every_mapping_unchanged():
    gb, gt = (6, 4), (8, 3)
    base, target = role_table(gb, 0), role_table(gt, 1)
    base_top = top(base)
    before = all_mappings(base_top, base, target, gb, gt)
    for seed in range(3):
        after = all_mappings(base_top, base, _permuted_outcomes(target, seed), gb, gt)
        for name in before:
            pd.testing.assert_frame_equal(before[name], after[name], obj=name)


def test_the_blindness_test_would_see_a_matcher_that_reads_the_dla():
    """The same permutation DOES move a role matching whose signature includes the DLA column (which
    claims/thresholds.toml refuses): the test above can fail."""
    gb, gt = (6, 4), (8, 3)
    base, target = role_table(gb, 0), role_table(gt, 1)
    leaky = replace(CFG.correspondence, signature=("dla_io_s",))  # replace does not validate: the file could not say this
    before = corr.correspond("role", top(base), base, target, gb, gt, leaky)
    after = corr.correspond("role", top(base), base, _permuted_outcomes(target, 0), gb, gt, leaky)
    assert not before.equals(after)


def test_unknown_names_and_missing_roles_are_one_line_errors():
    g = (3, 3)
    with pytest.raises(ValueError, match="unknown correspondence 'oracle'.*outcome"):
        corr.correspond("oracle", top(role_table(g, 0), 3), None, None, g, g, CFG)
    with pytest.raises(ValueError, match="needs the role tables"):
        corr.correspond("role", top(role_table(g, 0), 3), None, None, g, g, CFG)


def test_random_flat_is_random_matchings_as_flat_indices():
    gb, gt = (12, 4), (6, 6)
    base_top = top(role_table(gb, 0), 10)
    draws = corr.random_matchings(base_top, gb, gt, 15, seed=3)
    expected = np.stack([d["tgt_layer"].to_numpy(int) * gt[1] + d["tgt_head"].to_numpy(int) for d in draws])
    np.testing.assert_array_equal(corr.random_flat(base_top, gb, gt, 15, seed=3), expected)


def _draw_by_hand(orders, geometry, seed):
    """The random matching as its docstring states it: every layer's heads in a seeded random order
    (layer 0 first), each base head taking the last free one of the nearest layer that has one."""
    rng = np.random.default_rng(seed)
    free = {layer: list(rng.permutation(geometry[1])) for layer in range(geometry[0])}
    out = []
    for order in orders:
        layer = next(int(l) for l in order if free[int(l)])
        out.append(layer * geometry[1] + int(free[layer].pop()))
    return out


@pytest.mark.parametrize("gb, gt, k", [((12, 4), (6, 6), 10), ((6, 2), (3, 4), 12), ((30, 9), (30, 9), 20), ((3, 6), (5, 6), 18)])
def test_random_matchings_are_the_draws_their_docstring_states(gb, gt, k):
    # the vectorised draw (one permuted() per draw, the landing layers computed once) keeps every draw's
    # heads: the null's p-values and the recorded verdicts do not move with the speed-up
    base_top = top(role_table(gb, 1), k)
    orders = corr._depth_orders(base_top["layer"].to_numpy(), gb, gt)
    expected = np.array([_draw_by_hand(orders, gt, 7 + i) for i in range(25)])
    np.testing.assert_array_equal(corr.random_flat(base_top, gb, gt, 25, seed=7), expected)
