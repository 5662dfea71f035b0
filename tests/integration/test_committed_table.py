"""The committed SmolLM2 head table (fixtures/recomputed/) is what the current code computes from
the installed weights.

- Its cache keys are the current ones: same GGUF sha256, same dataset spec, method, algorithm and
  harness version. When this fails, the weights or the harness changed: regenerate the table with
  `python -m harness scores --model smollm2-135m --task both --method mean|zero --refresh --commit`, then review the
  readable diff with `pytest claims/test_snapshots.py --snapshot-update`.
- For each committed method (mean, zero), a fresh exact scan of the top four layers (36 of the 270 heads: the cheap ones, whose replay runs
  at most four blocks) on the same 200 prompts gives the committed deltas to 1e-4 on both tasks.
  Batched and naive scans agree to ~3e-6 (test_head_scores.py), so 1e-4 leaves room for BLAS
  rounding across machines and nothing else.
"""

import pytest

from harness.models import registry
from harness.runs.cache import committed_cache
from harness.models.weights import weights_available
from harness.runs.recompute import TASKS, RunSpec, cache_key
from harness.models.registry import REFERENCE_METHODS

pytestmark = pytest.mark.integration

MODEL = "smollm2-135m"
LAYERS = [26, 27, 28, 29]
ATOL = 1e-4
_AVAILABLE, _REASON = weights_available(registry.get(MODEL))


def regenerate(method: str) -> str:
    return f"python -m harness scores --model {MODEL} --task both --method {method} --refresh --commit"


@pytest.fixture(scope="module")
def model():
    if not _AVAILABLE:
        pytest.skip(f"SmolLM2-135M weights are not installed: {_REASON}")
    from harness.models.loaders import load_model

    return load_model(registry.get(MODEL), device="cpu", progress=False)


@pytest.fixture(scope="module", params=REFERENCE_METHODS)
def committed(request):
    if not _AVAILABLE:
        pytest.skip(f"SmolLM2-135M weights are not installed: {_REASON}")
    run = RunSpec(method=request.param)
    return run, {task: committed_cache().get(cache_key(registry.get(MODEL), task, run)) for task in TASKS}


def test_the_committed_scores_have_the_current_key(committed):
    run, hits = committed
    stale = [task for task, hit in hits.items() if hit is None]
    assert not stale, (
        f"no committed {MODEL} {run.method}-ablation scores under the current key for {stale}: the weights or the harness "
        f"changed since they were written. Regenerate: `{regenerate(run.method)}`"
    )


@pytest.mark.parametrize("task", TASKS)
def test_a_fresh_scan_of_the_top_layers_gives_the_committed_deltas(committed, task, model):
    run, hits = committed
    if hits[task] is None:
        pytest.skip("stale committed scores (see test_the_committed_scores_have_the_current_key)")
    from harness.scoring.batched import scan_batched
    from harness.data.ioi_dataset import build_prompts

    prompts = build_prompts(run.task(task), model.tokenizer)
    fresh = scan_batched(model.bridge, prompts, run.method, layers=LAYERS, progress=False)
    table, meta = hits[task]
    merged = fresh.table.merge(table, on=["layer", "head"], suffixes=("_fresh", "_committed"), validate="one_to_one")
    assert len(merged) == 9 * len(LAYERS)
    gap = (merged["delta_fresh"] - merged["delta_committed"]).abs().max()
    print(f"{run.method} {task}: max |fresh - committed| over {len(merged)} heads = {gap:.2e}")
    assert gap <= ATOL, f"fresh scan differs from the committed {task} scores by {gap:.3g}; regenerate: `{regenerate(run.method)}`"
    assert abs(fresh.clean_logit_diff - meta["clean_logit_diff"]) <= ATOL
