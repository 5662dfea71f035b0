"""A model's noise floor is kept by the content of its inputs (harness.claims.floor_cache): read back
equal, recomputed when any input changes, and recomputed over a damaged entry."""

from __future__ import annotations

import numpy as np
import pytest

from harness.analysis.noise_floor import noise_floor
from harness.claims import floor_cache

pytestmark = pytest.mark.unit
SETTINGS = dict(k=5, tau=0.0, rule="signed", n_boot=20, level=0.95, seed=0, ties="average", weak_above=0.5, missing="table")


def _arrays(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(3, 4, 16)), rng.normal(2.0, 1.0, size=16)


def _floor(arrays, calls: list):
    def compute(*args, **kwargs):
        calls.append(1)
        return noise_floor(*args, **kwargs)

    key = floor_cache.floor_key("prompts", "m", "fam", arrays, SETTINGS)
    return floor_cache.cached_floor(key, compute, "m", "fam", *arrays, **SETTINGS)


def test_a_floor_is_computed_once_and_read_back_equal(tmp_cache):
    calls: list = []
    first = _floor(_arrays(0), calls)
    again = _floor(_arrays(0), calls)
    assert calls == [1] and again == first  # every field, NaN-free here, equal after the JSON round trip
    assert first == noise_floor("m", "fam", *_arrays(0), **SETTINGS)


def test_any_changed_input_is_another_floor(tmp_cache):
    calls: list = []
    a, clean = _arrays(0)
    _floor((a, clean), calls)
    changed = a.copy()
    changed[2, 3, 15] += 1e-9  # one cell of one prompt
    _floor((changed, clean), calls)
    assert len(calls) == 2
    key = floor_cache.floor_key("prompts", "m", "fam", (a, clean), SETTINGS)
    assert key != floor_cache.floor_key("prompts", "m", "fam", (a, clean), {**SETTINGS, "k": 6})
    assert key != floor_cache.floor_key("weights", "m", "fam", (a, clean), SETTINGS)


def test_a_damaged_entry_is_recomputed(tmp_cache):
    calls: list = []
    first = _floor(_arrays(1), calls)
    (entry,) = (tmp_cache / "floors").iterdir()
    entry.write_text("{not json")
    assert _floor(_arrays(1), calls) == first and len(calls) == 2
