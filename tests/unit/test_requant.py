"""Perturbed twins' pieces without a model: the gguf package's quantisers, the weights kind, keys."""

from __future__ import annotations

import numpy as np
import pytest

from harness.models import registry
from harness.models import requant
from harness.models.weights import check_weights_kind, requant_fingerprint
from harness.runs.cache import CacheKey
from harness.runs.recompute import _same_run, zoo_run

pytestmark = pytest.mark.unit


def test_each_scheme_perturbs_by_its_known_size_and_coarser_schemes_more():
    errors = requant.gaussian_errors(n_rows=64, row=1024)
    # mean |dw| on unit Gaussian rows: Q8_0 ~0.005, Q5_x ~0.03-0.04, Q4_x ~0.065-0.075
    assert errors["Q8_0"].mean_abs < 0.01
    assert 0.02 < errors["Q5_1"].mean_abs < errors["Q5_0"].mean_abs < 0.05
    assert 0.05 < errors["Q4_1"].mean_abs < errors["Q4_0"].mean_abs < 0.09


def test_requantising_twice_is_nearly_idempotent_but_another_grid_moves_values():
    x = np.random.default_rng(0).standard_normal((8, 256)).astype(np.float32)
    once = requant.requantize(x, "Q4_1")
    assert requant.error(once, requant.requantize(once, "Q4_1")).rel_rms < 0.01  # its own grid
    assert requant.error(once, requant.requantize(once, "Q4_0")).rel_rms > 0.05


def test_only_two_dimensional_weights_are_perturbed():
    assert requant.should_perturb((576, 1536)) and not requant.should_perturb((576,))


def test_weights_kinds_and_fingerprints():
    assert check_weights_kind("pretrained") is None and check_weights_kind("requant:Q4_0") == "Q4_0"
    for bad in ("requant:Q4_K", "perturbed", "Q4_0"):
        with pytest.raises(ValueError):
            check_weights_kind(bad)
    a, b = requant_fingerprint("ab" * 32, "Q4_0"), requant_fingerprint("ab" * 32, "Q5_0")
    assert a != b and a == requant_fingerprint("ab" * 32, "Q4_0") and a.startswith("requant-")


def test_a_twins_scores_are_found_apart_from_the_originals():
    model = "smollm2-135m"
    original, twin = zoo_run(model, "mean"), zoo_run(model, "mean", weights="requant:Q4_0")
    key = CacheKey.make(model, "f" * 64, twin.task("ioi", registry.get(model)).key(), "mean", "batched", "float32", "requant:Q4_0")
    stored = key.as_dict()
    assert stored["weights"] == "requant:Q4_0" and CacheKey.from_dict(stored) == key
    assert _same_run(stored, registry.get(model), "ioi", twin) and not _same_run(stored, registry.get(model), "ioi", original)
    plain = CacheKey.make(model, "f" * 64, original.task("ioi", registry.get(model)).key(), "mean", "batched").as_dict()
    assert "weights" not in plain and _same_run(plain, registry.get(model), "ioi", original) and not _same_run(plain, registry.get(model), "ioi", twin)
