"""The score cache: content-addressed keys, integrity check, atomic concurrent writes."""

import multiprocessing as mp
import warnings

import pandas as pd
import pytest

from harness.runs.cache import CacheKey, CorruptCacheEntry, ScoreCache

pytestmark = pytest.mark.unit

TABLE = pd.DataFrame({"layer": [0, 0, 1], "head": [0, 1, 0], "delta": [-0.5, 0.1, 0.0], "delta_norm": [-0.1, 0.02, 0.0]})


def key(**over):
    base = dict(model="smollm2-135m", fingerprint="abc", dataset={"task": "ioi", "n_prompts": 8, "seed": 0}, method="mean", algorithm="batched")
    base.update(over)
    return CacheKey.make(**base)


def test_roundtrip(tmp_path):
    cache = ScoreCache(tmp_path)
    assert cache.get(key()) is None
    cache.put(key(), TABLE, {"clean_logit_diff": 3.0})
    table, meta = cache.get(key())
    pd.testing.assert_frame_equal(table, TABLE)
    assert meta["clean_logit_diff"] == 3.0 and meta["key"]["method"] == "mean"


@pytest.mark.parametrize(
    "change",
    [dict(model="gpt2"), dict(fingerprint="abd"), dict(dataset={"task": "ioi", "n_prompts": 8, "seed": 1}), dict(method="zero"), dict(algorithm="naive")],
)
def test_every_part_of_the_key_matters(change):
    assert key().digest != key(**change).digest


def test_a_corrupt_entry_warns_and_reads_as_absent(tmp_path):
    cache = ScoreCache(tmp_path)
    folder = cache.put(key(), TABLE, {})
    (folder / "table.csv").write_text((folder / "table.csv").read_text().replace("-0.5", "-0.7"))
    with pytest.warns(CorruptCacheEntry, match="table.csv .*fails its checksum.*ignored"):
        assert cache.get(key()) is None
    (folder / "meta.json").write_text("{not json")
    with pytest.warns(CorruptCacheEntry):
        assert cache.get(key()) is None
    cache.put(key(), TABLE, {})  # recomputed entry replaces the broken one
    assert cache.get(key()) is not None


def _writer(root, n):
    cache = ScoreCache(root)
    for _ in range(n):
        cache.put(key(), TABLE, {"writer": "x"})


def test_concurrent_writers_of_one_key_lose_nothing(tmp_path):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), 20)) for _ in range(2)]
    for p in procs:
        p.start()
    reader = ScoreCache(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorruptCacheEntry)  # a torn read during the writes fails the test
        while any(p.is_alive() for p in procs):
            hit = reader.get(key())
            assert hit is None or hit[0].equals(TABLE)
    for p in procs:
        p.join()
        assert p.exitcode == 0
    table, _ = reader.get(key())
    pd.testing.assert_frame_equal(table, TABLE)
    assert not list(tmp_path.glob("**/*tmp"))  # no temporary file left behind


def test_a_read_only_cache_reads_without_locks_and_refuses_writes(tmp_path):
    folder = ScoreCache(tmp_path).put(key(), TABLE, {"clean_logit_diff": 3.0})
    (folder / ".lock").unlink()
    committed = ScoreCache(tmp_path, read_only=True)
    table, _ = committed.get(key())
    pd.testing.assert_frame_equal(table, TABLE)
    assert not (folder / ".lock").exists()  # a checkout stays clean
    with pytest.raises(PermissionError, match="read-only"):
        committed.put(key(), TABLE, {})


def test_look_ups_fall_back_to_the_committed_scores(tmp_path, monkeypatch):
    import harness.runs.recompute as recompute

    user, committed_root = ScoreCache(tmp_path / "user"), tmp_path / "committed"
    ScoreCache(committed_root).put(key(), TABLE, {"clean_logit_diff": 3.0})
    monkeypatch.setattr(recompute, "committed_cache", lambda: ScoreCache(committed_root, read_only=True))
    assert recompute.cached_scores(key(), user) is not None
    assert recompute.cached_scores(key(), user, use_committed=False) is None
    assert recompute.cached_scores(key(fingerprint="other weights"), user) is None  # the key must match exactly


def test_a_key_reads_back_from_its_stored_form():
    import json

    stored = json.loads(json.dumps(key().as_dict()))  # as it sits in meta.json
    assert CacheKey.from_dict(stored) == key() and CacheKey.from_dict(stored).digest == key().digest
    assert CacheKey.from_dict({**stored, "harness_version": "0.0.9"}).digest != key().digest


# --- a cache keeps finished work (issue 8) -------------------------------------------------------
# The tests run as root here, where chmod does not stop a write: the lock and the write fail by patch.


def _refuse_lock(monkeypatch):
    from harness.runs import cache as cache_module

    class NoLock:
        def __init__(self, path):
            self.path = path

        def __enter__(self):
            raise PermissionError(13, "Permission denied", self.path)

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(cache_module, "FileLock", NoLock)


def test_reading_needs_no_writable_lock(tmp_path, monkeypatch):
    cache = ScoreCache(tmp_path)
    cache.put(key(), TABLE, {"clean_logit_diff": 3.0})
    _refuse_lock(monkeypatch)  # a read-only or another user's cache: the .lock cannot be created
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no CorruptCacheEntry
        table, meta = cache.get(key())
    pd.testing.assert_frame_equal(table, TABLE)


def test_a_result_that_cannot_be_stored_goes_to_the_fallback_and_the_user_is_told(tmp_path, monkeypatch):
    from harness.runs import cache as cache_module
    from harness.runs.cache import UnstoredResult

    monkeypatch.setattr(cache_module, "fallback_root", lambda: tmp_path / "fallback" / "scores")
    cache = ScoreCache(tmp_path / "shared")
    real_put = ScoreCache._put

    def refuse_primary(self, folder, *args):
        if (tmp_path / "shared") in folder.parents:
            raise PermissionError(13, "Permission denied", str(folder))
        return real_put(self, folder, *args)

    monkeypatch.setattr(ScoreCache, "_put", refuse_primary)
    with pytest.warns(UnstoredResult, match="written to .*fallback") as record:
        folder = cache.put(key(), TABLE, {"clean_logit_diff": 3.0})
    assert "IOI_CLAIMS_CACHE" in str(record[0].message)
    assert (tmp_path / "fallback" / "scores") in folder.parents
    table, _ = ScoreCache(tmp_path / "fallback" / "scores").get(key())
    pd.testing.assert_frame_equal(table, TABLE)


@pytest.mark.parametrize("content", ["[]", "null", "3", '"text"'])
def test_meta_json_that_is_no_object_is_a_corrupt_entry(tmp_path, content):
    cache = ScoreCache(tmp_path)
    folder = cache.put(key(), TABLE, {})
    (folder / "meta.json").write_text(content)
    with pytest.warns(CorruptCacheEntry, match="not an object"):
        assert cache.get(key()) is None
    assert cache.entries() == []


def test_orphan_temporary_files_of_a_killed_writer_are_cleaned(tmp_path):
    cache = ScoreCache(tmp_path)
    folder = cache.put(key(), TABLE, {})
    orphans = [folder / ".table.csv.abc123.ioi-tmp", folder / ".meta.json.def456.ioi-tmp"]
    for orphan in orphans:
        orphan.write_text("half a write")
    foreign = folder / ".notes.tmp"  # not the harness's naming: never deleted (issue 21)
    foreign.write_text("someone else's")
    cache.put(key(), TABLE, {})
    assert not any(o.exists() for o in orphans)
    assert foreign.read_text() == "someone else's"
    assert cache.get(key()) is not None


@pytest.mark.parametrize(
    "table, reason",
    [
        (pd.concat([TABLE, TABLE.iloc[[1]]], ignore_index=True), r"1 duplicate \(layer, head\) row\(s\), e.g. \(0, 1\)"),
        (TABLE.drop(columns="delta_norm"), "lacks column"),
    ],
)
def test_a_checksummed_entry_with_a_malformed_table_reads_as_corrupt(tmp_path, table, reason):
    """A table stored with a valid checksum but duplicate heads (two shards of one layer, a hand
    edit) or a missing score column is never merged into a head table: it is recomputed, with why."""
    cache = ScoreCache(tmp_path)
    cache.put(key(), table, {})
    with pytest.warns(CorruptCacheEntry, match=reason):
        assert cache.get(key()) is None


def test_a_table_that_is_not_utf8_is_a_corrupt_entry_not_a_crash(tmp_path):
    cache = ScoreCache(tmp_path)
    folder = cache.put(key(), TABLE, {})
    (folder / "table.csv").write_bytes(b"\xff\xfe layer,head\n")
    with pytest.warns(CorruptCacheEntry, match="ignored"):
        assert cache.get(key()) is None
