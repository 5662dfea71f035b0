"""Committed faithfulness results (fixtures/faithfulness/) against a fresh measurement of a slice, on
the one small real model (SmolLM2-135M): the clean and all-ablated models and the top-5 sets of both
rankings under mean ablation, on the committed run's prompts. A slice, not the whole result: each set
is one forward of all prompts."""

from __future__ import annotations

import pytest

from harness.models import registry
from harness.models.weights import weights_available

pytestmark = pytest.mark.integration

MODEL = "smollm2-135m"


def test_committed_results_reproduce_on_a_slice():
    ok, why = weights_available(registry.get(MODEL))
    if not ok:
        pytest.skip(f"weights not installed: {why}")
    from harness.runs import faithfulness as runs

    hit = runs.stored(MODEL, "mean")
    if hit is None:
        pytest.skip("no committed faithfulness results for smollm2-135m (python -m harness faithfulness --compute)")
    table, meta = hit
    run = runs.FaithRun(**meta["run"])
    wanted = table[table["kind"].isin(["full", "empty"]) | ((table["kind"] == "top") & (table["k"] == 5))]
    assert len(wanted) == 4
    from harness.models.loaders import load_model

    loaded = load_model(registry.get(MODEL), device="cpu", dtype=run.dtype, progress=False)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        fresh, _ = runs.measure(registry.get(MODEL), run, wanted.drop(columns=["m", "model", "method"]), root=Path(tmp), loaded=loaded, progress=False)
    merged = wanted.merge(fresh, on=list(runs.KEY_COLUMNS), suffixes=("_committed", "_fresh"))
    assert len(merged) == 4
    assert (merged["m_committed"] - merged["m_fresh"]).abs().max() < 1e-3, merged[["kind", "ranking", "m_committed", "m_fresh"]]
