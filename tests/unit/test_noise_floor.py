"""The noise floor's array path equals its frame path exactly (every metric, bit for bit), so the
fast bootstrap changes no verdict; both are run on seeded synthetic per-prompt arrays with ties."""

from __future__ import annotations

import numpy as np
import pytest

from harness.analysis import noise_floor as nf

MODEL, FAMILY = "gemma-3-270m", "gemma3"  # 18 x 4 heads in the registry
N_LAYERS, N_HEADS, N_PROMPTS = 18, 4, 40


def _arrays(seed: int, quantum: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-prompt ablated / clean logit differences; rounding to `quantum` makes many ties."""
    rng = np.random.default_rng(seed)
    clean = rng.normal(3.0, 1.0, N_PROMPTS)
    effect = rng.normal(0.0, 0.3, (N_LAYERS, N_HEADS, 1)) * (rng.random((N_LAYERS, N_HEADS, 1)) < 0.4)
    ablated = clean[None, None, :] + effect + rng.normal(0.0, 0.05, (N_LAYERS, N_HEADS, N_PROMPTS))
    return np.round(ablated / quantum) * quantum, np.round(clean / quantum) * quantum


@pytest.mark.parametrize("ties", ["average", "min", "max", "first"])
@pytest.mark.parametrize("missing", ["table", "geometry"])
@pytest.mark.parametrize("quantum", [0.25, 1e-9])
def test_array_self_transfer_equals_the_frame_path(ties, missing, quantum):
    ablated, clean = _arrays(7, quantum)
    rng = np.random.default_rng(3)
    half_a, half_b = nf.split_halves(N_PROMPTS)
    for _ in range(5):
        rows_a, rows_b = rng.choice(half_a, half_a.size), rng.choice(half_b, half_b.size)
        a = nf.head_rows(MODEL, FAMILY, ablated, clean, rows_a, 0.05, "signed")
        b = nf.head_rows(MODEL, FAMILY, ablated, clean, rows_b, 0.05, "signed")
        frames = nf.self_transfer(MODEL, a, b, k=10, ties=ties, weak_above=0.5, missing=missing)
        arrays = nf.array_self_transfer(
            nf.prompt_deltas(ablated, clean, rows_a), nf.prompt_deltas(ablated, clean, rows_b), k=10, ties=ties,
            weak_above=0.5, tau=0.05, rule="signed",
        )
        for metric in nf.METRICS:
            assert np.array_equal(frames[metric], arrays[metric], equal_nan=True), (metric, frames, arrays)


def test_no_ioi_head_gives_nan_both_ways():
    ablated, clean = _arrays(1, 1e-9)
    ablated = np.abs(ablated - clean) + clean  # every delta >= 0: no head is IOI-like (signed rule)
    rows = np.arange(N_PROMPTS // 2)
    a = nf.head_rows(MODEL, FAMILY, ablated, clean, rows, 0.05, "signed")
    frames = nf.self_transfer(MODEL, a, a, k=10, ties="average", weak_above=0.5, missing="table")
    d = nf.prompt_deltas(ablated, clean, rows)
    arrays = nf.array_self_transfer(d, d, k=10, ties="average", weak_above=0.5, tau=0.05, rule="signed")
    assert np.isnan(frames["mean_frac_rank"]) and np.isnan(arrays["mean_frac_rank"])
    assert np.isnan(arrays["frac_lost"]) and arrays["top_k_overlap"] == frames["top_k_overlap"] == 1.0


def test_noise_floor_is_the_same_floor_by_either_path(monkeypatch):
    ablated, clean = _arrays(11, 0.25)
    kw = dict(k=10, tau=0.05, rule="signed", n_boot=30, level=0.95, seed=0, ties="average", weak_above=0.5, missing="geometry")
    fast = nf.noise_floor(MODEL, FAMILY, ablated, clean, **kw)
    monkeypatch.setattr(nf, "arrays_apply", lambda *a: False)
    slow = nf.noise_floor(MODEL, FAMILY, ablated, clean, **kw)
    assert fast == slow


def test_unknown_tie_policy_is_refused():
    with pytest.raises(ValueError, match="tie policy"):
        nf.array_self_transfer(np.zeros(4), np.zeros(4), k=2, ties="dense", weak_above=0.5, tau=0.05, rule="signed")
