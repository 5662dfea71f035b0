"""Transfer under correspondences (harness.analysis.role_transfer) on synthetic zoo-shaped tables."""

import numpy as np
import pandas as pd
import pytest

from harness.analysis import correspondence as corr
from harness.analysis import role_transfer as rt
from harness.analysis import transfer
from harness.claims import thresholds
from harness.data.head_table import categorize, with_derived_columns
from harness.models import registry
from harness.scoring.role_columns import ROLE_COLUMNS

pytestmark = pytest.mark.unit
CFG = thresholds.load()
BASE, TARGET = "qwen2.5-coder-0.5b", "gemma-3-270m"


def head_table(models, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for model in models:
        spec = registry.get(model)
        layer, head = np.meshgrid(np.arange(spec.n_layers), np.arange(spec.n_heads), indexing="ij")
        delta = rng.normal(-0.02, 0.08, layer.size)
        t = pd.DataFrame({"family": spec.family, "model": model, "layer": layer.ravel(), "head": head.ravel(),
                          "delta_ioi": delta, "delta_anti": 0.0})
        t = with_derived_columns(t)
        t["category"] = categorize(t["delta_ioi"], t["delta_anti"], 0.05, "signed")
        frames.append(t)
    return pd.concat(frames, ignore_index=True)


def roles(model, seed):
    rng = np.random.default_rng(seed)
    spec = registry.get(model)
    layer, head = np.meshgrid(np.arange(spec.n_layers), np.arange(spec.n_heads), indexing="ij")
    t = pd.DataFrame({"model": model, "layer": layer.ravel(), "head": head.ravel()})
    for c in ROLE_COLUMNS:
        t[c] = rng.random(len(t))
    return t


def test_index_correspondence_gives_transfer_heads_exactly():
    table = head_table([BASE, TARGET])
    base_rows = transfer.top_k_base(table, BASE, CFG.transfer.k)
    ranks = transfer.target_ranks(table, TARGET, CFG.transfer.ties, over=CFG.transfer.missing)
    mapping = corr.correspond("index", base_rows, None, None, rt.geometry(BASE), rt.geometry(TARGET), CFG)
    ours = rt.mapped_heads(table, BASE, TARGET, mapping, CFG, base_rows=base_rows, ranks=ranks)
    theirs = transfer.transfer_heads(table, BASE, TARGET, **CFG.transfer.kwargs())
    for column in ("layer", "head", "tgt_frac_rank", "lost", "missing_table"):
        np.testing.assert_array_equal(ours[column].to_numpy(), theirs[column].to_numpy())
    assert 0 < ours["lost"].mean() < 1


def test_the_nulls_fast_frac_lost_equals_the_transfer_definition():
    table = head_table([BASE, TARGET])
    base_rows = transfer.top_k_base(table, BASE, CFG.transfer.k)
    ranks = transfer.target_ranks(table, TARGET, CFG.transfer.ties, over=CFG.transfer.missing)
    lookup = {(int(l), int(h)): float(r) for l, h, r in zip(ranks["layer"], ranks["head"], ranks["tgt_frac_rank"])}
    for m in corr.random_matchings(base_rows, rt.geometry(BASE), rt.geometry(TARGET), 10):
        full = rt.mapped_heads(table, BASE, TARGET, m, CFG, base_rows=base_rows, ranks=ranks)
        assert rt._lost_fast(m, lookup, CFG.transfer.weak_above) == pytest.approx(full["lost"].mean())


def test_pair_transfer_rows_null_and_oracle():
    table = head_table([BASE, TARGET])
    r = rt.pair_transfer(table, {BASE: roles(BASE, 0), TARGET: roles(TARGET, 1)}, BASE, TARGET, CFG)
    assert list(r.rows["correspondence"]) == list(corr.MATCHINGS)
    assert len(r.null) == CFG.correspondence.n_random
    assert r.oracle["frac_lost"] == 0.0  # K = 20 of Gemma's 72 heads: all in its stronger half
    index = r.rows.set_index("correspondence").loc["index"]
    assert index["frac_lost"] > 0.5  # Qwen 0.5b has 24 x 14 heads, Gemma 18 x 4: most indices are absent
    assert ((r.rows["lost_lo"] <= r.rows["frac_lost"]) & (r.rows["frac_lost"] <= r.rows["lost_hi"])).all()
    assert 0 < r.rows["p_vs_null"].min() <= 1


def test_null_p_counts_draws_at_or_below():
    null = np.array([0.5, 0.6, 0.7, 0.8])
    assert rt.null_p(0.4, null) == pytest.approx(1 / 5)
    assert rt.null_p(0.6, null) == pytest.approx(3 / 5)


def test_markdown_table_names_every_correspondence():
    table = head_table([BASE, TARGET])
    rows, _ = rt.transfer_table(table, {BASE: roles(BASE, 0), TARGET: roles(TARGET, 1)}, [(BASE, TARGET)], CFG)
    text = rt.markdown(rows)
    assert "qwen2.5-coder-0.5b -> gemma-3-270m" in text and text.count("|") > 20


def test_pair_losses_match_pair_transfer():
    table = head_table([BASE, TARGET])
    roles_ = {BASE: roles(BASE, 0), TARGET: roles(TARGET, 1)}
    full = rt.pair_transfer(table, roles_, BASE, TARGET, CFG)
    fast = rt.pair_losses(table, roles_, BASE, TARGET, CFG)
    by = full.rows.set_index("correspondence")
    assert fast["index"] == pytest.approx(by.loc["index", "frac_lost"])
    assert fast["role+depth"] == pytest.approx(by.loc["role+depth", "frac_lost"])
    # the claims' null is sequential (Besag-Clifford): the same seeded draws, as many as the decision needs
    n = len(fast["null"])
    assert n == fast["null_draws"]
    np.testing.assert_allclose(fast["null"], full.null[:n])
    # stopped at h = 10 exceedances: p = h / draws (else the fixed-N p over the same draws' prefix)
    exceed = int((fast["null"] <= fast["role+depth"] + 1e-12).sum())
    assert fast["p_vs_null"] == pytest.approx(10 / n if exceed == 10 else (exceed + 1) / (CFG.verdicts.sequential_max_draws + 1))
