"""The faithfulness claims C1-C3 (harness.claims.faithfulness) on synthetic results frames: each
holds on a case built to satisfy it and goes red on one built to break it (a model whose "top" set
is a random set, an index-mapped set as good as the target's own, a role-matched set that transfers)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.analysis import causal_transfer as ct
from harness.claims import faithfulness as cf
from harness.claims import thresholds
from harness.claims.check import pair_label
from harness.data import designs
from harness.models import registry

pytestmark = pytest.mark.unit

CFG = thresholds.load()
ZOO_DESIGN = designs.builtin("zoo")
ZOO_MODELS, ZOO_PAIRS = ZOO_DESIGN.models, ZOO_DESIGN.pairs
K = CFG.transfer.k
NULL = np.linspace(0.0, 0.3, 30)  # the random K-sets' f (m = f: m_full = 1, m_empty = 0)


def _model_rows(model: str, f_top: float, null: np.ndarray = NULL, f_share: float | None = None) -> list[dict]:
    """One model's results: the top set at K (f_top) and its null; with `f_share`, also the top set at
    the size-aware K ([C1] k_share of its heads) and the same null there."""
    spec = registry.get(model)
    total = spec.n_layers * spec.n_heads
    rows = [
        {"kind": "full", "ranking": "", "k": total, "draw": 0, "label": "", "m": 1.0},
        {"kind": "empty", "ranking": "", "k": 0, "draw": 0, "label": "", "m": 0.0},
    ]
    for k, f in ((K, f_top), (CFG.C1.k_of(total), f_share)):
        if f is None:
            continue
        for ranking in ("abs", "signed"):
            rows.append({"kind": "top", "ranking": ranking, "k": k, "draw": 0, "label": "", "m": f})
            rows.append({"kind": "necessity", "ranking": ranking, "k": k, "draw": 0, "label": "", "m": 0.2})
        rows += [{"kind": "random", "ranking": "", "k": k, "draw": i, "label": "", "m": v} for i, v in enumerate(null)]
    return [dict(r, model=model, method="mean", heads="") for r in rows]


def _mapped(base: str, target: str, correspondence: str, f: float, dropped: int = 0, k: int | None = None) -> dict:
    return {"kind": "mapped", "ranking": "", "k": (k or K) - dropped, "draw": 0, "label": ct.mapped_label(base, correspondence, dropped, k),
            "m": f, "model": target, "method": "mean", "heads": ""}


def _share_k(model: str) -> int:
    spec = registry.get(model)
    return CFG.C1.k_of(spec.n_layers * spec.n_heads)


def sized_rows(mapped: dict[tuple[str, str, str], float], f_own: float = 0.8) -> list[dict]:
    """The size-aware transfer sets: each (base, target, correspondence) -> f of the base's top-k at its own
    size-aware k mapped into the target, with the target's own top-k (f_own) and null (NULL) at that k."""
    rows, done = [], set()
    for (base, target, name), f in mapped.items():
        k = _share_k(base)
        rows.append(_mapped(base, target, name, f, k=k))
        if (target, k) not in done:
            done.add((target, k))
            rows.append({"kind": "top", "ranking": "abs", "k": k, "draw": 0, "label": "", "m": f_own, "model": target, "method": "mean", "heads": ""})
            rows += [{"kind": "random", "ranking": "", "k": k, "draw": i, "label": "", "m": v, "model": target, "method": "mean", "heads": ""}
                     for i, v in enumerate(NULL)]
    return rows


def results(f_top: dict[str, float] | None = None, mapped: dict[tuple[str, str, str], float] | None = None) -> pd.DataFrame:
    """Every zoo model with a faithful top set (0.8) unless `f_top` says otherwise; mapped sets:
    index within family 0.7, across 0.1; role+depth across 0.2 (efficiency ~0.1), unless `mapped`
    overrides (base, target, correspondence) -> f."""
    tops = {m: 0.8 for m in ZOO_MODELS} | (f_top or {})
    rows = [r for m in ZOO_MODELS for r in _model_rows(m, tops[m])]
    default = {}
    for base, target in ZOO_PAIRS:
        within = ZOO_DESIGN.kinds[(base, target)] == "within"
        default[(base, target, "index")] = 0.7 if within else 0.1
        if not within:
            default[(base, target, "role+depth")] = 0.2
    for (base, target, name), f in (default | (mapped or {})).items():
        rows.append(_mapped(base, target, name, f))
    return pd.DataFrame(rows)


def _by_variant(checks):
    return {c.variant: c for c in checks}


def test_variants_come_from_the_design():
    models = tuple(dict.fromkeys(m for p in ZOO_PAIRS for m in p))
    assert cf.variants("C1", ZOO_DESIGN) == models + tuple(f"{m}@10%" for m in models)  # [C1] k_share = 0.10
    # C2 and C3: each pair at the seed's K, then at the base's size-aware K
    assert cf.variants("C2", ZOO_DESIGN) == tuple(pair_label(p) for p in ZOO_PAIRS) + tuple(f"{pair_label(p)}@10%" for p in ZOO_PAIRS)
    assert cf.variants("C3", ZOO_DESIGN) == tuple(pair_label(p) for p in ZOO_DESIGN.cross) + tuple(f"{pair_label(p)}@10%" for p in ZOO_DESIGN.cross)


def _seed_k(unavailable: dict) -> dict:
    """The unavailable variants at the seed's K (the synthetic results hold no size-aware transfer sets)."""
    return {v: why for v, why in unavailable.items() if not v.endswith("@10%")}


def test_c1_holds_for_a_faithful_top_set_and_fails_for_a_random_one():
    checks, unavailable = cf.evaluate_c1(results(), "synthetic", ZOO_DESIGN, CFG)
    assert all(c.holds for c in checks) and len(checks) == 4
    assert set(unavailable) == {f"{m}@10%" for m in ZOO_MODELS}  # no set at the size-aware K: said, not dropped
    # the "top" set of smollm2 is one of its random sets: middle of the null
    checks, _ = cf.evaluate_c1(results({"smollm2-135m": float(NULL[15])}), "synthetic", ZOO_DESIGN, CFG)
    by = _by_variant(checks)
    assert not by["smollm2-135m"].holds and by["qwen2.5-coder-0.5b"].holds
    # above every random set, yet below min_f: still not a faithful circuit
    checks, _ = cf.evaluate_c1(results({"gemma-3-270m": CFG.C1.min_f - 0.05}), "synthetic", ZOO_DESIGN, CFG)
    assert not _by_variant(checks)["gemma-3-270m"].holds


def test_size_aware_c1_reads_the_top_share_of_each_models_heads():
    """C1 at K = 10% of heads (27 SmolLM2, 34 each Qwen, 7 Gemma): the same rule, its own top set and null.
    Gemma's 7 heads carry nothing (f 0.05, inside its null) while its 20 do: that variant alone fails."""
    shares = {m: 0.8 for m in ZOO_MODELS} | {"gemma-3-270m": 0.05}
    rows = pd.DataFrame([r for m in ZOO_MODELS for r in _model_rows(m, 0.8, f_share=shares[m])])
    checks, unavailable = cf.evaluate_c1(rows, "synthetic", ZOO_DESIGN, CFG)
    by = _by_variant(checks)
    assert not unavailable and len(checks) == 8
    assert by["gemma-3-270m"].holds and not by["gemma-3-270m@10%"].holds and by["smollm2-135m@10%"].holds
    assert "f(top-7)" in by["gemma-3-270m@10%"].measured and "7 = 10% of 72 heads" in by["gemma-3-270m@10%"].measured
    assert "f(top-34)" in by["qwen2.5-coder-1.5b@10%"].measured
    # the whole curve: the smallest k whose top set reaches min_f above every random set (here K = 20 for Gemma)
    assert "smallest k reaching f >= 0.50 above every random k-set: 20 (27.8% of heads, f 0.800 over 30 random sets: p >= 0.032)" \
        in by["gemma-3-270m@10%"].measured


def test_c1_without_results_is_unavailable():
    table = results()
    checks, unavailable = cf.evaluate_c1(table[table["model"] != "gemma-3-270m"], "synthetic", ZOO_DESIGN, CFG)
    assert "gemma-3-270m" in unavailable and len(checks) == 3


def test_c2_within_better_cross_no_better():
    checks, unavailable = cf.evaluate_c2(results(), "synthetic", ZOO_DESIGN, CFG)
    assert not _seed_k(unavailable) and all(c.holds for c in checks), [c.measured for c in checks]
    cross = ZOO_DESIGN.cross[0]
    within = ZOO_DESIGN.within[0]
    broken = results(mapped={(*cross, "index"): 0.7, (*within, "index"): 0.15})
    by = _by_variant(cf.evaluate_c2(broken, "synthetic", ZOO_DESIGN, CFG)[0])
    assert not by[pair_label(cross)].holds and not by[pair_label(within)].holds
    # a pair whose base fails C1 says so beside it
    by = _by_variant(cf.evaluate_c2(results({cross[0]: 0.1}), "synthetic", ZOO_DESIGN, CFG)[0])
    assert "faithful (C1): NO" in by[pair_label(cross)].measured


def test_c3_role_depth_efficiency():
    checks, unavailable = cf.evaluate_c3(results(), "synthetic", ZOO_DESIGN, CFG)
    assert not _seed_k(unavailable) and len(checks) == len(ZOO_DESIGN.cross) and all(c.holds for c in checks)
    cross = ZOO_DESIGN.cross[1]
    by = _by_variant(cf.evaluate_c3(results(mapped={(*cross, "role+depth"): 0.7}), "synthetic", ZOO_DESIGN, CFG)[0])
    assert not by[pair_label(cross)].holds
    assert "transfers by role though not by index" in by[pair_label(cross)].measured
    table = results()
    no_roles = table[~table["label"].str.contains("role", regex=False)]
    _, unavailable = cf.evaluate_c3(no_roles, "synthetic", ZOO_DESIGN, CFG)
    assert set(_seed_k(unavailable)) == {pair_label(p) for p in ZOO_DESIGN.cross}


def test_size_aware_c2_c3_judge_the_bases_top_share_at_its_own_k():
    """BASE->TARGET@10%: the base's top k = 10% of ITS heads (34 for Qwen 0.5B, 27 for SmolLM2) mapped into the
    target, against the target's own top-k and random k-sets at that k; the sets at the seed's K are not read."""
    cross, within = ZOO_DESIGN.cross[2], ZOO_DESIGN.within[0]  # smollm2 -> gemma; qwen 0.5b -> 1.5b
    good = {(*within, "index"): 0.7, (*cross, "index"): 0.1, (*cross, "role+depth"): 0.2}
    table = pd.concat([results(), pd.DataFrame(sized_rows(good))], ignore_index=True)
    c2 = _by_variant(cf.evaluate_c2(table, "synthetic", ZOO_DESIGN, CFG)[0])
    c3 = _by_variant(cf.evaluate_c3(table, "synthetic", ZOO_DESIGN, CFG)[0])
    v_cross, v_within = f"{pair_label(cross)}@10%", f"{pair_label(within)}@10%"
    assert c2[v_cross].holds and c2[v_within].holds and c3[v_cross].holds
    assert "random 27-sets" in c2[v_cross].measured and "27 = 10% of smollm2-135m's 270 heads" in c2[v_cross].measured
    assert "random 34-sets" in c2[v_within].measured
    # broken: at the size-aware K the index-mapped set does as well as the target's own across families, and the
    # within pair's no better than random; the role+depth set transfers: each size-aware variant goes red, K = 20 stays
    bad = {(*within, "index"): 0.1, (*cross, "index"): 0.8, (*cross, "role+depth"): 0.8}
    table = pd.concat([results(), pd.DataFrame(sized_rows(bad))], ignore_index=True)
    c2 = _by_variant(cf.evaluate_c2(table, "synthetic", ZOO_DESIGN, CFG)[0])
    c3 = _by_variant(cf.evaluate_c3(table, "synthetic", ZOO_DESIGN, CFG)[0])
    assert not c2[v_cross].holds and not c2[v_within].holds and not c3[v_cross].holds
    assert c2[pair_label(cross)].holds and c2[pair_label(within)].holds and c3[pair_label(cross)].holds
    # without the size-aware sets the variant says how to measure them
    _, unavailable = cf.evaluate_c2(results(), "synthetic", ZOO_DESIGN, CFG)
    assert "--compute --extend-null" in unavailable[v_cross] and "top-27" in unavailable[v_cross]


def test_curves_figure_draws_synthetic_results(tmp_path):
    from harness.report.faithfulness_plot import plot_curves

    path = plot_curves({"mean": results(), "zero": results({"smollm2-135m": 0.1})}, tmp_path / "f.png")
    assert path.stat().st_size > 10_000
    with pytest.raises(LookupError):
        plot_curves({"mean": pd.DataFrame()}, tmp_path / "g.png")


def test_results_ranked_on_another_table_are_stale_and_their_claims_say_so():
    """Stored top-k sets that are not the source table's top-k (a rescan, more prompts) make the model's
    results stale: C1 of it and C2/C3 of every pair it is in are unavailable with that reason, never a
    verdict on sets the table does not rank first."""
    from harness.analysis import faithfulness as fa

    table = pd.DataFrame({"model": "m", "layer": [0, 0, 1, 1], "head": [0, 1, 0, 1], "delta_ioi": [-0.9, 0.1, -0.5, 0.05]})
    tops = [{"model": "m", "kind": "top", "ranking": r, "k": 2, "heads": fa.heads_text(fa.ranked_heads(table, r)[:2])}
            for r in fa.RANKINGS]
    stored = pd.DataFrame(tops)
    assert fa.stale_models(stored, table) == {}
    rescanned = table.assign(delta_ioi=[-0.9, 0.1, 0.02, -0.6])  # 1.1 now beats 1.0
    stale = fa.stale_models(stored, rescanned)
    assert list(stale) == ["m"] and "2 of 2 top-k sets differ" in stale["m"]
    assert fa.stale_models(stored, rescanned.assign(model="other")) == {}  # a model the table lacks: no verdict
    why = {"qwen2.5-coder-1.5b": "its stored faithfulness sets were ranked on another head table"}
    checks, unavailable = cf.evaluate_c1(results(), "synthetic", ZOO_DESIGN, CFG, why)
    assert "qwen2.5-coder-1.5b" not in _by_variant(checks) and "ranked on another head table" in unavailable["qwen2.5-coder-1.5b"]
    within = pair_label(ZOO_DESIGN.within[0])
    checks, unavailable = cf.evaluate_c2(results(), "synthetic", ZOO_DESIGN, CFG, why)
    assert within in unavailable and within not in _by_variant(checks) and len(checks) == len(ZOO_PAIRS) - 1
