"""The score cache: content-addressed keys, integrity check, atomic concurrent writes; a damaged or
lost committed table is an error, the committed layer wins over user entries, and no cache or shard
folder is written or deleted through a link."""

import json
import multiprocessing as mp
import os
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest

from harness.models import registry
from harness.claims import checks, sources, verdicts
from harness.cli.main import main
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


# --- damaged, missing or shadowed committed tables; links; the fallback folder (issue 21: seen red before its fix, at 3fb7107)


@pytest.fixture
def committed(tmp_path, monkeypatch):
    """A private copy of fixtures/recomputed/ as the committed layer, and an empty user cache."""
    import harness.runs.cache as cache_module

    fixtures = tmp_path / "fixtures"
    shutil.copytree(cache_module.FIXTURES_DIR / "recomputed", fixtures / "recomputed")
    monkeypatch.setattr(cache_module, "FIXTURES_DIR", fixtures)
    monkeypatch.setenv("IOI_CLAIMS_CACHE", str(tmp_path / "user"))
    return fixtures / "recomputed"

def zoo_folder(root: Path, model: str, method: str = "mean") -> Path:
    for meta_path in sorted((root / model).glob("*/meta.json")):
        key = json.loads(meta_path.read_text())["key"]
        original = key.get("weights", "pretrained") == "pretrained"  # not a re-quantised twin's table
        if original and key["dataset"]["style"] == "zoo" and key["method"] == method and key["dataset"]["task"] == "ioi":
            return meta_path.parent
    raise AssertionError(f"no committed zoo {method} entry of {model}")

def test_a_committed_table_failing_its_checksum_is_an_error_naming_the_file(committed, capsys):
    table = zoo_folder(committed, "smollm2-135m") / "table.csv"
    text = table.read_text()
    table.write_text(text[:-3] + ("1" if text[-3] != "1" else "2") + text[-2:])  # one character changed
    with pytest.raises(ValueError, match=r"smollm2-135m/.*/table\.csv fails its checksum"):
        sources.load("zoo:mean")
    assert main(["report", "--source", "zoo:mean", "--no-compute"]) == 1
    err = capsys.readouterr().err
    assert f"error: source zoo:mean failed: committed scores {table}" in err
    assert "recomputing" not in err

def test_committed_per_prompt_arrays_failing_their_checksum_are_an_error(committed):
    arrays = zoo_folder(committed, "gemma-3-270m") / "per_prompt.npz"
    payload = bytearray(arrays.read_bytes())
    payload[100] ^= 1
    arrays.write_bytes(bytes(payload))
    with pytest.raises(ValueError, match=r"per_prompt\.npz fails its checksum"):
        sources.load("zoo:mean")

def test_an_unreadable_committed_meta_json_is_an_error_not_an_absent_model(committed):
    (zoo_folder(committed, "qwen2.5-coder-0.5b") / "meta.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"qwen2.5-coder-0.5b/.*/meta\.json"):
        sources.load("zoo:mean")

def test_a_source_that_loses_a_model_it_had_is_red(committed, capsys):
    recorded = verdicts.load_coverage()
    assert "smollm2-135m" in recorded["zoo:mean"]  # the record says which models each source had
    shutil.rmtree(zoo_folder(committed, "smollm2-135m"))
    src = sources.load("zoo:mean")
    assert "smollm2-135m" not in set(src.table["model"])  # the loss itself is silent at the source
    problems = verdicts.coverage_problems({"zoo:mean": verdicts.models_of(checks.evaluate_source(src))})
    assert len(problems) == 1 and "source zoo:mean lost 1 of the 4 models" in problems[0] and "smollm2-135m" in problems[0]
    assert main(["report", "--source", "zoo:mean", "--no-compute"]) == 1
    assert "error: source zoo:mean lost 1 of the 4 models" in capsys.readouterr().err

def _store(cache, version: str, delta: float, created: str):
    from harness.runs.cache import CacheKey
    from harness.runs.recompute import RunSpec

    run = RunSpec(n_prompts=8, style="zoo")
    key = CacheKey.make("smollm2-135m", "f" * 64, run.task("ioi", registry.get("smollm2-135m")).key(), run.method, run.algorithm)
    key = CacheKey(key.model, key.fingerprint, key.dataset, key.method, key.algorithm, version, key.dtype)
    frame = pd.DataFrame({"layer": [0, 1], "head": [0, 0], "delta": [delta, 0.0], "delta_norm": [delta, 0.0]})
    cache.put(key, frame, {"clean_logit_diff": 1.0, "clean_accuracy": 1.0, "created": created})
    return run

def test_the_committed_table_wins_over_a_newer_user_entry_and_the_output_names_it(tmp_path, monkeypatch):
    from harness import HARNESS_VERSION
    from harness.runs import recompute
    from harness.runs.cache import ScoreCache

    committed_root = tmp_path / "committed"
    user = ScoreCache(tmp_path / "user")
    run = _store(ScoreCache(committed_root), HARNESS_VERSION, -1.0, "2020-01-01T00:00:00Z")
    monkeypatch.setattr(recompute, "committed_cache", lambda: ScoreCache(committed_root, read_only=True))
    _store(user, "0.0.9", -9.0, "2030-01-01T00:00:00Z")  # newer, another harness version
    _store(user, HARNESS_VERSION, -5.0, "2031-01-01T00:00:00Z")  # newer, this version
    layers = (user, ScoreCache(committed_root, read_only=True))
    table, meta, _ = recompute.stored_scores(registry.get("smollm2-135m"), "ioi", run, caches=layers)
    assert table["delta"].min() == -1.0
    assert meta["entry"].startswith("committed ")
    shutil.rmtree(committed_root)  # without a committed entry: the user entry of this version only
    table, meta, _ = recompute.stored_scores(registry.get("smollm2-135m"), "ioi", run, caches=layers)
    assert table["delta"].min() == -5.0 and meta["entry"].startswith(f"user cache {tmp_path / 'user'}")
    assert f"(harness {HARNESS_VERSION})" in meta["entry"]

def test_a_user_entry_of_another_harness_version_is_never_used(tmp_path):
    from harness.runs import recompute
    from harness.runs.cache import ScoreCache

    user = ScoreCache(tmp_path / "user")
    run = _store(user, "0.0.9", -9.0, "2030-01-01T00:00:00Z")
    assert recompute.stored_scores(registry.get("smollm2-135m"), "ioi", run, caches=(user,)) is None

def test_every_zoo_table_names_its_entry_in_notes_and_the_sources_table(committed):
    from harness.report.render import sources_frame

    src = sources.load("zoo:mean")
    for model in ("smollm2-135m", "gemma-3-270m"):
        folder = zoo_folder(committed, model)
        assert f"{model}: mean table from committed {folder}" in src.notes
    note = sources_frame({"zoo:mean": checks.evaluate_source(src)})["note"].iloc[0]
    assert f"smollm2-135m from committed {zoo_folder(committed, 'smollm2-135m')}" in note

def test_device_on_a_cache_hit_says_it_was_not_used(committed, capsys):
    assert main(["zoo", "--model", "smollm2-135m", "--method", "mean", "--device", "cpu"]) == 0
    assert f"note: --device cpu not used: the scores came from committed {zoo_folder(committed, 'smollm2-135m')}" in capsys.readouterr().err

def _key():
    from harness.runs.cache import CacheKey

    return CacheKey.make("smollm2-135m", "abc", {"task": "ioi", "n_prompts": 8, "seed": 0}, "mean", "batched")

TABLE = pd.DataFrame({"layer": [0, 1], "head": [0, 0], "delta": [-0.5, 0.1], "delta_norm": [-0.1, 0.02]})

def test_a_symlinked_entry_folder_is_never_written_through(tmp_path, monkeypatch):
    from harness.runs import cache as cache_module
    from harness.runs.cache import ScoreCache, UnstoredResult

    monkeypatch.setattr(cache_module, "fallback_root", lambda: tmp_path / "fallback" / "scores")
    cache = ScoreCache(tmp_path / "cache")
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / ".precious.tmp"
    victim.write_text("not the harness's")
    entry = cache.entry_dir(_key())
    entry.parent.mkdir(parents=True)
    entry.symlink_to(outside)
    with pytest.warns(UnstoredResult, match="outside"):
        folder = cache.put(_key(), TABLE, {})
    assert (tmp_path / "fallback") in folder.parents
    assert sorted(p.name for p in outside.iterdir()) == [".precious.tmp"] and victim.read_text() == "not the harness's"

def test_a_symlinked_shard_or_model_folder_is_never_deleted_through(tmp_path):
    from harness.files import UnsafePath
    from harness.runs.cache import ScoreCache
    from harness.runs.shards import ShardStore

    outside = tmp_path / "outside"
    (outside / _key().digest).mkdir(parents=True)
    (outside / _key().digest / "keep.txt").write_text("keep")
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / _key().model).symlink_to(outside)
    store = ShardStore(_key(), root=shards)
    with pytest.raises(UnsafePath, match="outside"):
        store.clear()
    assert (outside / _key().digest / "keep.txt").read_text() == "keep"
    scores = tmp_path / "scores"
    scores.mkdir()
    (scores / _key().model).symlink_to(outside)
    with pytest.raises(UnsafePath, match="outside"):
        ScoreCache(scores).remove(_key().as_dict())
    assert (outside / _key().digest / "keep.txt").read_text() == "keep"

def test_the_fallback_folder_is_private_fresh_and_resolved():
    from harness.runs.cache import fallback_root

    root = fallback_root().parent
    assert root.is_dir() and not root.is_symlink() and root == root.resolve()
    assert (root.stat().st_mode & 0o777) == 0o700 and root.stat().st_uid == os.getuid()
    user = os.environ.get("USER") or str(os.getuid())
    assert root.name != f"ioi-claims-fallback-{user}"  # not a predictable name in the shared temp dir

@pytest.mark.parametrize("value, expected", [("", "is set but empty"), ("   ", "is set but empty"), ("rel/cache", "is a relative path")])
def test_an_empty_or_relative_cache_variable_is_refused(monkeypatch, capsys, value, expected):
    from harness.paths import cache_dir

    monkeypatch.setenv("IOI_CLAIMS_CACHE", value)
    with pytest.raises(ValueError, match=expected):
        cache_dir()
    assert main(["report", "--source", "zoo:mean", "--no-compute"]) == 1
    assert expected in capsys.readouterr().err

def test_a_scan_with_an_unwritable_cache_keeps_its_shards_in_the_fallback(tmp_path, monkeypatch):
    """IOI_CLAIMS_CACHE naming a file: the shard root is decided before any layer is scanned."""
    from harness.runs import shards
    from harness.runs.cache import UnstoredResult

    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    monkeypatch.setenv("IOI_CLAIMS_CACHE", str(not_a_folder))
    monkeypatch.setattr(shards, "_ROOTS", {})
    with pytest.warns(UnstoredResult, match="cannot be written"):
        root = shards.shard_root()
    assert root.name == "shards" and not_a_folder not in root.parents
    store = shards.ShardStore(_key())
    store.save(0, [[1.0, 2.0]], [3.0, 4.0])
    assert store.done() == [0] and root in store.folder.parents
