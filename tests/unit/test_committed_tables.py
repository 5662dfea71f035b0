"""The SmolLM2 head table committed in fixtures/recomputed/ (read without the model or its weights).

What these tests pin: the committed scores are complete (every head, both tasks), form a valid head
table in the published schema, say how they were made (spec, weights fingerprint, versions), and show
a model that does the task. Whether they are still what the current code computes from the current
weights is checked in tests/integration/test_committed_table.py.
"""

import json

import numpy as np
import pytest

from harness.data import head_table
from harness.models import registry
from harness.analysis import transfer
from harness.claims import thresholds
from harness.runs.cache import committed_cache
from harness.runs.recompute import RunSpec, committed_head_table

pytestmark = pytest.mark.unit

MODEL = "smollm2-135m"


@pytest.fixture(scope="module", params=registry.REFERENCE_METHODS)
def table(request):
    return committed_head_table(registry.get(MODEL), RunSpec(method=request.param))


def test_every_head_of_both_tasks_is_committed(table):
    spec = registry.get(MODEL)
    assert len(table) == spec.n_heads_total
    assert set(zip(table["layer"], table["head"])) == {(l, h) for l in range(spec.n_layers) for h in range(spec.n_heads)}
    assert np.isfinite(table[["delta_ioi", "delta_anti", "delta_norm_ioi", "delta_norm_anti"]]).all().all()


def test_the_committed_table_is_a_valid_head_table(table):
    head_table.validate(table)  # strict: raises naming the bad rows
    run = RunSpec()
    expected = head_table.categorize(table["delta_ioi"], table["delta_anti"], run.tau, run.rule)
    assert (table["category"] == expected).all()


def test_the_metadata_says_how_the_scores_were_made(table):
    run = RunSpec(method=table.attrs["tasks"]["ioi"]["key"]["method"])
    assert run.method in registry.REFERENCE_METHODS
    for task, meta in table.attrs["tasks"].items():
        key = meta["key"]
        assert key["dataset"] == json.loads(json.dumps(run.task(task).key()))
        assert (key["method"], key["algorithm"]) == (run.method, run.algorithm)
        assert len(key["fingerprint"]) == 64  # sha256 of the GGUF file
        assert meta["n_prompts"] == run.n_prompts
        assert {"torch", "transformers", "transformer-lens"} <= set(meta["versions"])


def test_smollm2_does_ioi_in_the_committed_table(table):
    # IOI: measured 3.72 and 0.92 on the 200 prompts. The anti-repeat control is NOT done by SmolLM2
    # (clean logit difference -0.002, accuracy 0.57: a coin toss), so its deltas are small and no bar
    # is set on it here; the snapshot pins its value.
    assert (table["clean_logit_diff_ioi"] > 0).all() and (table["clean_accuracy_ioi"] >= 0.9).all()
    assert table["clean_logit_diff_anti"].notna().all()


def test_self_transfer_on_the_committed_table_keeps_every_head(table):
    heads = transfer.transfer_heads(table, MODEL, MODEL, **thresholds.load().transfer.kwargs())
    summary = transfer.summarize_heads(heads)
    assert summary["frac_missing_table"] == 0 and summary["frac_missing_geometry"] == 0
    assert summary["frac_lost"] == 0


def test_table_agreement_counts_shared_top_heads():
    import pandas as pd

    from harness.analysis.agreement import table_agreement

    a = pd.DataFrame({"layer": [0, 0, 1, 1], "head": [0, 1, 0, 1], "delta_ioi": [-3.0, -2.0, -1.0, 0.1]})
    b = a.assign(delta_ioi=[-2.0, -3.0, 0.1, -1.0])
    out = table_agreement(a, b, k=2)
    assert out["top_k_overlap"] == 2 and out["n_heads"] == 4
    assert out["spearman"] == pytest.approx(0.6)  # ranks 1234 vs 2143: 1 - 6*4/(4*15)
    assert table_agreement(a, a, k=2)["spearman"] == pytest.approx(1.0)


def test_a_missing_committed_table_names_the_command_that_writes_it():
    with pytest.raises(FileNotFoundError, match="--commit"):
        committed_head_table(registry.get(MODEL), RunSpec(n_prompts=7))


def test_committed_entries_carry_no_lock_files():
    root = committed_cache().root
    assert not list(root.glob("**/.lock"))


def test_commit_copies_both_tasks_and_replaces_entries_of_older_weights(tmp_path, monkeypatch):
    import pandas as pd

    import harness.runs.cache as cache_module
    import harness.models.weights as models
    import harness.paths as paths
    from harness.runs.cache import ScoreCache
    from harness.runs.recompute import cache_key, commit_scores

    monkeypatch.setattr(paths, "FIXTURES_DIR", tmp_path / "fixtures")
    monkeypatch.setattr(cache_module, "FIXTURES_DIR", tmp_path / "fixtures")
    user = ScoreCache(tmp_path / "user")
    run = RunSpec(n_prompts=8, algorithm="attribution")

    def scores(fingerprint: str, delta: float) -> None:
        monkeypatch.setattr(models, "weights_fingerprint", lambda *a, **k: fingerprint)
        for task in ("ioi", "anti"):
            frame = pd.DataFrame({"layer": [0, 1], "head": [0, 0], "delta": [delta, 0.0], "delta_norm": [delta / 4, 0.0]})
            user.put(cache_key(registry.get(MODEL), task, run), frame, {"clean_logit_diff": 4.0, "clean_accuracy": 1.0, "n_prompts": 8})

    scores("a" * 64, -1.0)
    assert len(commit_scores(registry.get(MODEL), run, cache=user)) == 2
    assert committed_head_table(registry.get(MODEL), run)["delta_ioi"].min() == -1.0
    scores("b" * 64, -2.0)  # new weights: the committed entries of the old ones go
    commit_scores(registry.get(MODEL), run, cache=user)
    assert len(committed_cache().entries(MODEL)) == 2
    table = committed_head_table(registry.get(MODEL), run)
    assert table["delta_ioi"].min() == -2.0
    assert {meta["key"]["fingerprint"] for meta in table.attrs["tasks"].values()} == {"b" * 64}
    assert not list((tmp_path / "fixtures").glob("**/.lock"))
