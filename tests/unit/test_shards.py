"""Unit tests of the resumable scan's storage (`harness.runs.shards.ShardStore`) and of the merge of
per-prompt shards into a head table (`harness.runs.sharded_scan.merged_table`). No model is loaded."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.runs.cache import CacheKey
from harness.runs.sharded_scan import _deal, merged_table
from harness.runs.shards import ShardStore

pytestmark = pytest.mark.unit

N_HEADS, N = 3, 6


def _key(**changes) -> CacheKey:
    fields = dict(model="toy", fingerprint="twin-seed0", dataset={"task": "ioi", "n_prompts": N}, method="mean",
                  algorithm="batched")  # fmt: skip
    fields.update(changes)
    return CacheKey.make(**fields)


def _layer(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    clean = np.linspace(1.0, 2.0, N)
    return clean + rng.normal(size=(N_HEADS, N)), clean


def test_roundtrip_is_exact_and_under_the_cache(tmp_cache):
    store = ShardStore(_key())
    assert store.folder == tmp_cache / "shards" / "toy" / _key().digest
    assert store.done() == []
    layers = {layer: _layer(layer) for layer in (0, 1, 2)}
    for layer in (2, 0, 1):  # any order, as parallel workers finish
        path = store.save(layer, *layers[layer])
        assert path.name == f"layer_{layer:03d}.npz"
    assert store.done() == [0, 1, 2]
    assert json.loads((store.folder / "key.json").read_text()) == _key().as_dict()
    ablated, clean = store.load([0, 1, 2])
    assert ablated.dtype == np.float64 and ablated.shape == (3, N_HEADS, N)
    for layer in range(3):
        assert np.array_equal(ablated[layer], layers[layer][0])  # bit-identical, not just close
    assert np.array_equal(clean, layers[0][1])
    # float32 input comes back as the same float32 values (widened exactly).
    store.save(3, layers[0][0].astype(np.float32), layers[0][1].astype(np.float32))
    assert np.array_equal(store.load([3])[0][0], layers[0][0].astype(np.float32).astype(np.float64))


def test_other_keys_other_folders(tmp_cache):
    assert ShardStore(_key()).folder != ShardStore(_key(dtype="bfloat16")).folder
    assert ShardStore(_key()).folder != ShardStore(_key(method="zero")).folder
    root = tmp_cache / "elsewhere"
    assert ShardStore(_key(), root=root).folder == root / "toy" / _key().digest


def test_unreadable_and_stray_files_are_not_counted(tmp_cache):
    store = ShardStore(_key())
    store.save(0, *_layer(0))
    store.save(1, *_layer(1))
    # A truncated shard (as a killed writer without the atomic rename would leave), a shard of
    # other arrays, a writer's temporary file and an unrelated file: none counts as done.
    good = store.path(1).read_bytes()
    store.path(2).write_bytes(good[: len(good) // 2])
    np.savez(store.path(3), something_else=np.zeros(2))
    (store.folder / ".layer_004.npz.abc.tmp").write_bytes(good)
    (store.folder / "notes.txt").write_text("x")
    store.path(5).write_bytes(b"")
    assert store.done() == [0, 1]


def test_a_shard_of_other_clean_logit_differences_is_refused(tmp_cache):
    store = ShardStore(_key())
    ablated, clean = _layer(0)
    store.save(0, ablated, clean)
    store.save(1, ablated, clean + 5e-5)  # within tolerance: the same prompts and weights
    assert store.load([0, 1])[0].shape == (2, N_HEADS, N)
    store.save(2, ablated, clean + 1e-2)
    with pytest.raises(RuntimeError, match="other clean logit differences"):
        store.load([0, 1, 2])


def test_save_is_atomic_leaves_no_temporary_and_clear_removes_all(tmp_cache):
    store = ShardStore(_key())
    store.save(0, *_layer(0))
    store.save(0, *_layer(7))  # overwriting a shard replaces it whole
    assert np.array_equal(store.load([0])[0][0], _layer(7)[0])
    assert sorted(p.name for p in store.folder.iterdir()) == ["key.json", "layer_000.npz"]
    store.clear()
    assert not store.folder.exists() and not store.folder.parent.exists()
    assert store.done() == []
    store.clear()  # twice is fine


def test_merged_table_means_and_split_halves():
    rng = np.random.default_rng(0)
    n_layers, n_heads, n = 2, 3, 7  # odd N: halves are [0, 3) and [3, 7)
    ablated = rng.normal(size=(n_layers, n_heads, n))
    clean = rng.uniform(1, 3, size=n)
    table = merged_table(ablated, clean)
    assert list(table.columns) == ["layer", "head", "delta", "delta_norm", "delta_a", "delta_b"]
    assert table[["layer", "head"]].values.tolist() == [[l, h] for l in range(n_layers) for h in range(n_heads)]
    for row in table.itertuples():
        a = ablated[row.layer, row.head]
        assert row.delta == pytest.approx(a.mean() - clean.mean(), abs=1e-12)
        assert row.delta_norm == pytest.approx(row.delta / clean.mean(), abs=1e-12)
        assert row.delta_a == pytest.approx(a[:3].mean() - clean[:3].mean(), abs=1e-12)
        assert row.delta_b == pytest.approx(a[3:].mean() - clean[3:].mean(), abs=1e-12)
    # The two halves weighted by their sizes give the full delta back.
    assert np.allclose((3 * table["delta_a"] + 4 * table["delta_b"]) / 7, table["delta"], atol=1e-12)


def test_merged_table_of_shards_equals_one_array():
    """Merging per-layer shards (any order of storing) gives the table of the whole array."""
    rng = np.random.default_rng(1)
    ablated = rng.normal(size=(4, 2, 6))
    clean = rng.normal(size=6)
    by_layer = [ablated[i] for i in range(4)]
    assert merged_table(np.stack(by_layer), clean).equals(merged_table(ablated, clean))


@pytest.mark.parametrize(("layers", "workers", "expected"), [
    ([0, 1, 2, 3, 4], 2, [[0, 2, 4], [1, 3]]),
    ([3, 5], 4, [[3], [5]]),
    ([], 2, []),
    ([0, 1], 1, [[0, 1]]),
])  # fmt: skip
def test_deal_round_robin(layers, workers, expected):
    assert _deal(layers, workers) == expected


def test_shards_keep_their_scan_seconds_and_a_resumed_scan_sums_them(tmp_cache):
    """A scan resumed across sessions says what all its layers cost: each shard stores its seconds and
    `seconds` sums them; a shard stored without them (older scans) makes the sum unknown, not wrong."""
    store = ShardStore(_key())
    store.save(0, *_layer(0), seconds=1.5)
    store.save(1, *_layer(1), seconds=2.25)
    assert store.seconds([0, 1]) == 3.75 and store.seconds([1]) == 2.25
    assert store.done() == [0, 1]  # the extra array leaves a shard readable
    store.save(2, *_layer(2))
    assert store.seconds([0, 1, 2]) is None
