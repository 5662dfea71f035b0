"""The weights-noise floor and F1 against both floors, on synthetic per-prompt scores (no model).

A twin whose scores equal the original's loses nothing to it; a twin of pure noise loses most of its
heads; F1 fails where a weights floor is at or above the pair's loss, and says so.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from harness.data.designs import builtin
from harness.analysis.noise_floor import Floor, METRICS
from harness.analysis.weights_floor import KIND, WEIGHTS_METRICS, weigh, weights_floor, weights_key
from harness.claims import checks
from harness.models import registry
from tests.unit.test_zoo_claims import _floor, _zoo

pytestmark = pytest.mark.unit

KW = dict(k=20, ties="average", weak_above=0.5, missing="table", tau=0.05, rule="signed", n_boot=20, level=0.95, seed=0)


def _scores(rng: np.random.Generator, n: int = 40):
    spec = registry.get("smollm2-135m")
    clean = np.full(n, 3.0)
    signal = -np.abs(rng.standard_normal((spec.n_layers, spec.n_heads, 1))) * (rng.random((spec.n_layers, spec.n_heads, 1)) < 0.3)
    ablated = clean + signal + rng.standard_normal((spec.n_layers, spec.n_heads, n)) * 0.05
    return ablated, clean


def test_a_twin_equal_to_the_original_loses_nothing_and_a_noise_twin_loses_heads():
    rng = np.random.default_rng(0)
    original = _scores(rng)
    same = weights_floor("smollm2-135m", "smollm2", original, original, **KW)
    assert same.kind == KIND and set(same.point) == set(WEIGHTS_METRICS)
    assert same.point["frac_lost"] == 0.0 and same.point["top_k_overlap"] == 1.0
    assert same.point["spearman"] == pytest.approx(1.0)
    noise = (original[1] + rng.standard_normal(original[0].shape), original[1])
    other = weights_floor("smollm2-135m", "smollm2", original, noise, **KW)
    assert other.point["frac_lost"] > 0.3 and other.point["spearman"] < 0.3 and other.hi["frac_lost"] >= other.point["frac_lost"]


def test_a_twin_on_other_prompts_is_refused():
    rng = np.random.default_rng(0)
    original = _scores(rng, 40)
    with pytest.raises(ValueError, match="not on the original's prompts"):
        weights_floor("smollm2-135m", "smollm2", original, _scores(rng, 30), **KW)


def _weights(model: str, hi_lost: float) -> Floor:
    return dataclasses.replace(_floor(model, hi_lost), kind=KIND)


def test_f1_fails_where_a_weights_floor_reaches_the_loss_and_says_so():
    table = _zoo(copy_within=False)
    cross = checks.pair_label(builtin("zoo").pairs[1])
    base, target = builtin("zoo").pairs[1]
    prompts = {m: _floor(m, 0.10) for m in builtin("zoo").models}
    alone = checks.evaluate(table, "zoo:mean", floors=prompts).checks[("F1", cross)]
    assert alone.holds and "no weights floor for" in alone.measured
    low = {**prompts, **{weights_key(m): _weights(m, 0.10) for m in builtin("zoo").models}}
    held = checks.evaluate(table, "zoo:mean", floors=low).checks[("F1", cross)]
    assert held.holds and "WITHIN" not in held.measured and "weights floors" in held.measured
    high = {**low, weights_key(target): _weights(target, 1.0)}
    failed = checks.evaluate(table, "zoo:mean", floors=high).checks[("F1", cross)]
    assert not failed.holds and f"WITHIN the weights floor of {target}" in failed.measured
    assert failed.value == held.value == alone.value  # the loss is the same; only the floors moved


def test_weigh_compares_with_every_floor_of_both_models():
    floors = {"a": _floor("a", 0.1), "b": _floor("b", 0.2), weights_key("a"): _weights("a", 0.3)}
    w = weigh(0.25, ("a", "b"), floors)
    assert w.beyond_prompts and not w.beyond_weights and not w.holds and w.missing_weights == ("b",)
    assert weigh(0.35, ("a", "b"), floors).holds
    assert not weigh(0.15, ("a", "b"), floors).holds  # below b's prompt floor
    assert set(METRICS) <= set(WEIGHTS_METRICS)


@pytest.mark.parametrize("ties", ["average", "first"])
def test_weights_floor_is_the_same_floor_by_either_path(monkeypatch, ties):
    """The array path (one numpy ranking per draw) gives the frame path's floor exactly."""
    from harness.analysis import weights_floor as wf

    rng = np.random.default_rng(3)
    original, twin = _scores(rng), _scores(rng)
    settings = {**KW, "ties": ties}
    fast = weights_floor("smollm2-135m", "smollm2", original, twin, **settings)
    monkeypatch.setattr(wf, "arrays_apply", lambda *a: False)
    frames = weights_floor("smollm2-135m", "smollm2", original, twin, **settings)
    assert fast == frames


def test_the_zoo_reads_the_15b_weights_floor_on_the_twins_prompt_count(tmp_path, monkeypatch):
    """Qwen 1.5B's claims table has 200 prompts, its re-quantised twin 64: the zoo design's
    `weights_floor_n_prompts = 64` makes the source compare the twin with the original's 64-prompt table
    (and say so); pointing it at a count with no stored table leaves that floor out, with a note."""
    from harness.claims import sources
    from harness.data import designs

    model = "qwen2.5-coder-1.5b"
    src = sources.load("zoo:mean")
    assert weights_key(model) in src.floors and src.table.loc[src.table["model"] == model, "n_prompts"].iloc[0] == 200
    assert any(f"{model}: mean weights floor measured on 64 prompts" in note for note in src.notes)
    text = (designs.DESIGNS_DIR / "zoo.toml").read_text().replace("weights_floor_n_prompts = 64", "weights_floor_n_prompts = 48")
    assert "weights_floor_n_prompts = 48" in text
    (tmp_path / "zoo.toml").write_text(text)
    monkeypatch.setattr(designs, "DESIGNS_DIR", tmp_path)
    moved = sources.load("zoo:mean")
    assert weights_key(model) not in moved.floors
    assert any(f"{model}: no mean table of its re-quantised twin" in note or "at 48 prompts" in note for note in moved.notes)


def test_the_reports_zoo_pairs_frame_weighs_each_loss_against_every_floor_it_has(tmp_path):
    """`report`'s zoo table (harness.report.zoo.pairs_frame) on the committed zoo:mean tables: each pair's
    point lies in its interval over prompts, a model without a weights floor reads NaN (not None, not
    0), and `beyond_floors` is the loss above every floor the pair's models have."""
    import math

    from harness.claims import checks, sources
    from harness.claims.thresholds import load as load_thresholds
    from harness.report.zoo import pairs_frame

    src = sources.load("zoo:mean")
    ev = checks.evaluate_source(src)
    floors = dict(src.floors)
    dropped = {"qwen2.5-coder-0.5b", "smollm2-135m"}  # every base of the design: a column with no value
    for model in dropped:
        del floors[weights_key(model)]  # as if its twin had not been scanned
    frame = pairs_frame(ev, floors, "mean", load_thresholds())
    assert len(frame) == 4 and frame["n_prompts"].eq(200).all()
    assert (frame["mfr_lo"] <= frame["mean_frac_rank"]).all() and (frame["mean_frac_rank"] <= frame["mfr_hi"]).all()
    assert (frame["lost_lo"] <= frame["frac_lost"]).all() and (frame["frac_lost"] <= frame["lost_hi"]).all()
    for row in frame.itertuples(index=False):
        for model, value in ((row.base_model, row.base_wfloor_hi), (row.tgt_model, row.tgt_wfloor_hi)):
            assert isinstance(value, float)
            assert math.isnan(value) == (model in dropped), (model, value)
        bars = [v for v in (row.base_floor_hi, row.tgt_floor_hi, row.base_wfloor_hi, row.tgt_wfloor_hi) if not math.isnan(v)]
        assert bool(row.beyond_floors) == all(row.frac_lost > b for b in bars)
    # and the report's picture of it draws (no published pairs beside, a floor missing)
    from harness.report.zoo import plot_zoo

    assert plot_zoo(None, frame, floors, tmp_path / "zoo.png", "zoo:mean").stat().st_size > 10_000
