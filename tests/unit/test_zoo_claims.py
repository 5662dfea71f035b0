"""The zoo's claims on synthetic head tables (no model): they can hold and they can fail.

A zoo table whose 1.5B model copies the 0.5B model's heads keeps every head strong across the
within-family pair, so W1 and T1 must fail there; independent random tables lose most heads, so
they hold. F1 holds only when a pair loses more than both models' split-half floors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.analysis.noise_floor import Floor, METRICS, noise_floor
from harness.claims import checks
from harness.data.head_table import categorize, with_derived_columns
from harness.data.designs import builtin
from harness.models import registry

ZOO = builtin("zoo")

pytestmark = pytest.mark.unit


def _table(model: str, rng: np.random.Generator, deltas: np.ndarray | None = None) -> pd.DataFrame:
    spec = registry.get(model)
    n = spec.n_layers * spec.n_heads
    delta = deltas if deltas is not None else -np.abs(rng.standard_normal(n)) * (rng.random(n) < 0.3)
    table = pd.DataFrame(
        {
            "family": spec.family, "model": model,
            "layer": np.repeat(np.arange(spec.n_layers), spec.n_heads), "head": np.tile(np.arange(spec.n_heads), spec.n_layers),
            "delta_ioi": delta, "delta_anti": 0.0,
        }
    )
    table = with_derived_columns(table)
    table["category"] = categorize(table["delta_ioi"], table["delta_anti"])
    return table


def _zoo(copy_within: bool) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    tables = {m: _table(m, rng) for m in ZOO.models}
    if copy_within:  # the 1.5B model's heads at the 0.5B model's indices, equally strong
        small, big = ZOO.pairs[0]
        spec = registry.get(big)
        grid = tables[big][["layer", "head"]].merge(tables[small][["layer", "head", "delta_ioi"]], how="left").fillna(0.0)
        tables[big] = _table(big, rng, grid["delta_ioi"].to_numpy())
        assert len(tables[big]) == spec.n_layers * spec.n_heads
    return pd.concat(tables.values(), ignore_index=True)


def _floor(model: str, hi_lost: float) -> Floor:
    values = {m: 0.0 for m in METRICS}
    return Floor(model, 200, values, values, {**values, "frac_lost": hi_lost}, 200, 0.95)


def test_within_family_claims_hold_on_independent_tables_and_fail_on_copied_heads():
    within = checks.pair_label(ZOO.pairs[0])
    independent = checks.evaluate(_zoo(copy_within=False), "zoo:mean")
    copied = checks.evaluate(_zoo(copy_within=True), "zoo:mean")
    assert independent.checks[("W1", within)].holds
    assert not copied.checks[("W1", within)].holds
    assert copied.checks[("W1", within)].value == pytest.approx(1.0)
    assert not copied.checks[("T1", "within")].holds


def test_f1_needs_the_loss_above_both_floors():
    table = _zoo(copy_within=True)
    low = {m: _floor(m, 0.10) for m in ZOO.models}
    ev = checks.evaluate(table, "zoo:mean", floors=low)
    within, cross = (checks.pair_label(p) for p in ZOO.pairs[:2])
    assert not ev.checks[("F1", within)].holds  # copied heads: nothing lost, not above any floor
    assert ev.checks[("F1", cross)].holds
    high = {m: _floor(m, 1.0) for m in ZOO.models}
    assert not checks.evaluate(table, "zoo:mean", floors=high).checks[("F1", cross)].holds


def test_noise_floor_of_identical_halves_is_zero_and_of_noise_is_not():
    rng = np.random.default_rng(1)
    spec = registry.get("gemma-3-270m")
    clean = np.full(40, 3.0)
    signal = -np.abs(rng.standard_normal((spec.n_layers, spec.n_heads, 1))) * 2
    steady = np.repeat(signal, 40, axis=2) + clean  # every prompt the same: halves agree exactly
    kw = dict(k=20, ties="average", weak_above=0.5, missing="table", tau=0.05, rule="signed", n_boot=20, level=0.95, seed=0)
    floor = noise_floor("gemma-3-270m", "gemma3", steady, clean, **kw)
    assert floor.point["frac_lost"] == 0.0 and floor.point["top_k_overlap"] == 1.0
    noisy = clean + rng.standard_normal((spec.n_layers, spec.n_heads, 40)) * 2  # no signal: halves disagree
    assert noise_floor("gemma-3-270m", "gemma3", noisy, clean, **kw).point["top_k_overlap"] < 0.8


# --- a source that has only some of the design's models (issue 29: counterfactual tables land one by one)


def _partial(models: tuple[str, ...]) -> pd.DataFrame:
    table = _zoo(copy_within=False)
    return table[table["model"].isin(models)].reset_index(drop=True)


def test_a_partial_source_checks_the_pairs_it_has_and_names_what_the_others_lack():
    present = ("smollm2-135m", "gemma-3-270m")
    ev = checks.evaluate(_partial(present), "zoo:counterfactual", floors={m: _floor(m, 0.10) for m in present})
    whole = checks.pair_label(("smollm2-135m", "gemma-3-270m"))
    for claim in ("X1", "F1"):  # per-pair claims: the complete pair is checked ...
        assert (claim, whole) in ev.checks, ev.unavailable.get((claim, whole))
    assert ev.checks[("X1", whole)].value == checks.evaluate(_zoo(copy_within=False), "zoo:mean").checks[("X1", whole)].value
    half = checks.pair_label(("qwen2.5-coder-0.5b", "gemma-3-270m"))
    for claim in ("X1", "F1"):  # ... a pair with a missing model is not, and its reason names that model only
        reason = ev.unavailable[(claim, half)]
        assert "qwen2.5-coder-0.5b" in reason and "qwen2.5-coder-1.5b" not in reason and "smollm2-135m" not in reason
    within = checks.pair_label(ZOO.pairs[0])
    assert "qwen2.5-coder-0.5b, qwen2.5-coder-1.5b" in ev.unavailable[("W1", within)]
    for claim, variant in (("X2", "missing_table"), ("X3", "mean_frac_rank"), ("T1", "within"), ("T2", "cross"), ("T3", "all_pairs")):
        assert (claim, variant) not in ev.checks  # claims over a whole group of pairs need every pair
        assert "no head table for qwen2.5-coder-0.5b" in ev.unavailable[(claim, variant)]


def test_a_source_with_one_model_has_no_pair_to_check_and_says_which_models_it_lacks():
    ev = checks.evaluate(_partial(("gemma-3-270m",)), "zoo:counterfactual")
    assert not ev.checks
    assert all("no head table for" in why or "not applicable" in why or "faithfulness" in why for why in ev.unavailable.values())
    assert "no data" not in " ".join(ev.unavailable.values())
    reason = ev.unavailable[("X1", checks.pair_label(("qwen2.5-coder-0.5b", "gemma-3-270m")))]
    assert "qwen2.5-coder-0.5b" in reason and "smollm2-135m" not in reason  # each pair names what it lacks


def test_coverage_of_a_partial_source_is_red_for_a_model_it_had_or_does_not_list(tmp_path):
    from harness.claims import verdicts

    path = tmp_path / "verdicts.toml"
    path.write_text('settings_sha256 = "x"\n[coverage]\n"zoo:counterfactual" = ["gemma-3-270m"]\n')
    assert verdicts.coverage_problems({"zoo:new": ["gemma-3-270m"]}, path) == []  # never recorded: nothing lost
    # gained: its verdicts were recorded without it, or its [coverage] line was deleted (issue 31): re-record
    [gained] = verdicts.coverage_problems({"zoo:counterfactual": ["gemma-3-270m", "smollm2-135m"]}, path)
    assert "covers smollm2-135m, which its [coverage]" in gained and "python -m harness verdicts" in gained
    lost = verdicts.coverage_problems({"zoo:counterfactual": []}, path)
    assert len(lost) == 1 and "lost 1 of the 1 models" in lost[0] and "gemma-3-270m" in lost[0]
