"""The committed SmolLM2 head table (fixtures/recomputed/) is what the current code computes from
the installed weights.

- Its cache keys are the current ones: same GGUF sha256, same dataset spec, method, algorithm and
  harness version. When this fails, the weights or the harness changed: regenerate the table with
  `python -m harness scores --model smollm2-135m --task both --refresh --commit`, then review the
  readable diff with `pytest claims/test_snapshots.py --snapshot-update`.
- A fresh exact scan of the top four layers (36 of the 270 heads: the cheap ones, whose replay runs
  at most four blocks) on the same 200 prompts gives the committed deltas to 1e-4 on both tasks.
  Batched and naive scans agree to ~3e-6 (test_head_scores.py), so 1e-4 leaves room for BLAS
  rounding across machines and nothing else.
"""

import pytest

from harness.cache import committed_cache
from harness.models import weights_available
from harness.recompute import TASKS, RunSpec, cache_key

pytestmark = pytest.mark.integration

MODEL = "smollm2-135m"
LAYERS = [26, 27, 28, 29]
ATOL = 1e-4
_AVAILABLE, _REASON = weights_available(MODEL)
REGENERATE = f"python -m harness scores --model {MODEL} --task both --refresh --commit"


@pytest.fixture(scope="module")
def committed():
    if not _AVAILABLE:
        pytest.skip(f"SmolLM2-135M weights are not installed: {_REASON}")
    out = {}
    for task in TASKS:
        hit = committed_cache().get(cache_key(MODEL, task, RunSpec()))
        out[task] = hit
    return out


def test_the_committed_scores_have_the_current_key(committed):
    stale = [task for task, hit in committed.items() if hit is None]
    assert not stale, (
        f"no committed {MODEL} scores under the current key for {stale}: the weights or the harness "
        f"changed since they were written. Regenerate: `{REGENERATE}`"
    )


@pytest.mark.parametrize("task", TASKS)
def test_a_fresh_scan_of_the_top_layers_gives_the_committed_deltas(committed, task):
    if committed[task] is None:
        pytest.skip("stale committed scores (see test_the_committed_scores_have_the_current_key)")
    from harness.head_scores import scan_batched
    from harness.ioi_dataset import build_prompts
    from harness.models import load_model

    run = RunSpec()
    loaded = load_model(MODEL, device="cpu", progress=False)
    prompts = build_prompts(run.task(task), loaded.tokenizer)
    fresh = scan_batched(loaded.bridge, prompts, run.method, layers=LAYERS, progress=False)
    table, meta = committed[task]
    merged = fresh.table.merge(table, on=["layer", "head"], suffixes=("_fresh", "_committed"), validate="one_to_one")
    assert len(merged) == 9 * len(LAYERS)
    gap = (merged["delta_fresh"] - merged["delta_committed"]).abs().max()
    print(f"{task}: max |fresh - committed| over {len(merged)} heads = {gap:.2e}")
    assert gap <= ATOL, f"fresh scan differs from the committed {task} scores by {gap:.3g}; regenerate: `{REGENERATE}`"
    assert abs(fresh.clean_logit_diff - meta["clean_logit_diff"]) <= ATOL
