"""Head tables recomputed from SmolLM2-135M's real weights, run through the transfer metrics.

Self-transfer (a model to itself) must find every base head present and strong: frac_missing 0 in
both readings and nothing lost. Attribution patching keeps this test quick; the exact scans are
compared with the naive loop in test_head_scores.py.
"""

import pytest

from harness.models import registry
from harness.data import head_table
from harness.analysis import transfer
from harness.claims import thresholds
from harness.runs.cache import ScoreCache
from harness.models.weights import weights_available
from harness.runs.recompute import RunSpec, head_table as recompute_head_table

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not weights_available(registry.get("smollm2-135m"))[0], reason=weights_available(registry.get("smollm2-135m"))[1]),
]

RUN = RunSpec(method="mean", algorithm="attribution", n_prompts=16, seed=0)


@pytest.fixture(scope="module")
def smollm2_table(tmp_path_factory):
    return recompute_head_table(registry.get("smollm2-135m"), RUN, device="cpu", cache=ScoreCache(tmp_path_factory.mktemp("cache")), progress=False)


def test_recomputed_table_has_the_published_schema_and_every_head(smollm2_table):
    head_table.validate(smollm2_table)  # strict: raises on any schema or geometry error
    assert len(smollm2_table) == 30 * 9
    assert set(head_table.REQUIRED_COLUMNS) <= set(smollm2_table.columns)
    assert (smollm2_table["clean_logit_diff_ioi"] > 0).all()
    ioi_like = smollm2_table["category"].isin(head_table.IOI_LIKE).sum()
    assert ioi_like >= 20, f"only {ioi_like} IOI-like heads: the top-20 transfer would be truncated"


def test_self_transfer_keeps_every_head(smollm2_table):
    heads = transfer.transfer_heads(smollm2_table, "smollm2-135m", "smollm2-135m", **thresholds.load().transfer.kwargs())
    m = transfer.summarize_heads(heads)
    assert m["frac_missing_table"] == 0 and m["frac_missing_geometry"] == 0
    assert m["frac_lost"] == 0
    # Top-20 IOI heads of 270 rank near the top of the model's own |delta_ioi| ranking: at best
    # mean (r+1)/270 over r = 0..19 = 0.039; anti/weak heads with a larger |delta_ioi| can push them down.
    assert m["mean_frac_rank"] < 0.25


def test_the_cache_answers_the_second_time(tmp_path, monkeypatch):
    cache = ScoreCache(tmp_path)
    run = RunSpec(method="zero", algorithm="attribution", n_prompts=8, seed=3)
    first = recompute_head_table(registry.get("smollm2-135m"), run, device="cpu", cache=cache, progress=False)
    import harness.runs.recompute as recompute

    monkeypatch.setattr(recompute._LazyModel, "get", lambda self: pytest.fail("model loaded despite a warm cache"))
    second = recompute_head_table(registry.get("smollm2-135m"), run, device="cpu", cache=cache, progress=False)
    assert first.equals(second)
    assert len(cache.entries("smollm2-135m")) == 2  # one per task
