"""Issue 21: damaged data never turns the gate green, the caches never write or delete through a link,
recorded files are written atomically, and bad input ends in one line.

Each test was run against the code before the fix (a detached worktree of 3fb7107) and seen red."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness.claims import checks, grid, sources, thresholds, verdicts
from harness.cli.main import main
from harness.paths import REPO_ROOT

pytestmark = pytest.mark.unit


def one_error_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("note:")]
    assert len(err) == 1, err
    assert err[0].startswith("error: ") and "Traceback" not in err[0]
    return err[0]


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


# --- (1) a damaged committed table is an error naming the file, never a skip ----------------------


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


# --- (2) precedence: the committed layer, then user entries of this harness version ----------------


def _store(cache, version: str, delta: float, created: str):
    from harness.runs.cache import CacheKey
    from harness.runs.recompute import RunSpec

    run = RunSpec(n_prompts=8, style="zoo")
    key = CacheKey.make("smollm2-135m", "f" * 64, run.task("ioi", "smollm2-135m").key(), run.method, run.algorithm)
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
    table, meta, _ = recompute.stored_scores("smollm2-135m", "ioi", run, caches=layers)
    assert table["delta"].min() == -1.0
    assert meta["entry"].startswith("committed ")
    shutil.rmtree(committed_root)  # without a committed entry: the user entry of this version only
    table, meta, _ = recompute.stored_scores("smollm2-135m", "ioi", run, caches=layers)
    assert table["delta"].min() == -5.0 and meta["entry"].startswith(f"user cache {tmp_path / 'user'}")
    assert f"(harness {HARNESS_VERSION})" in meta["entry"]


def test_a_user_entry_of_another_harness_version_is_never_used(tmp_path):
    from harness.runs import recompute
    from harness.runs.cache import ScoreCache

    user = ScoreCache(tmp_path / "user")
    run = _store(user, "0.0.9", -9.0, "2030-01-01T00:00:00Z")
    assert recompute.stored_scores("smollm2-135m", "ioi", run, caches=(user,)) is None


def test_every_zoo_table_names_its_entry_in_notes_and_the_sources_table(committed):
    from harness.report.render import sources_frame

    src = sources.load("zoo:mean")
    for model in ("smollm2-135m", "gemma-3-270m"):
        folder = zoo_folder(committed, model)
        assert f"{model}: mean table from committed {folder}" in src.notes
    note = sources_frame({"zoo:mean": checks.evaluate_source(src)})["note"].iloc[0]
    assert f"smollm2-135m from committed {zoo_folder(committed, 'smollm2-135m')}" in note


# --- (3) claims/verdicts.toml: atomic, locked, never empty, never unparsable ------------------------


def test_verdicts_twice_the_same_source_is_refused_and_writes_nothing(tmp_path, capsys):
    recorded = tmp_path / "verdicts.toml"
    shutil.copy(verdicts.VERDICTS_FILE, recorded)
    before = recorded.read_text()
    assert main(["verdicts", "--sources", "published,published", "--out", str(recorded)]) == 2
    assert "--sources names published more than once" in one_error_line(capsys)
    assert recorded.read_text() == before


@pytest.mark.parametrize("content, reason", [("", "is empty"), ("   \n", "is empty"), ('["P1[published-mfr]"\nx=', "not valid TOML")])
def test_an_empty_or_unparsable_verdicts_file_is_an_error_naming_it(tmp_path, capsys, content, reason):
    recorded = tmp_path / "verdicts.toml"
    recorded.write_text(content)
    with pytest.raises(verdicts.VerdictsError, match=f"{recorded}.*{reason}"):
        verdicts.load_verdicts(recorded)
    with pytest.raises(verdicts.VerdictsError):
        verdicts.record_problems(recorded)  # not blamed on "a number changed"
    assert main(["verdicts", "--out", str(recorded)]) == 2
    line = one_error_line(capsys)
    assert str(recorded) in line and reason in line and "a number changed" not in line


def _verdicts_writer(path: str, source: str, rounds: int) -> None:
    from harness.claims import sources as s
    from harness.claims import verdicts as v

    from harness.claims import checks as c

    ev = c.evaluate_source(s.load(source))
    for _ in range(rounds):
        v.write_verdicts([ev], Path(path))


def test_concurrent_verdicts_writers_lose_no_entries(tmp_path):
    """Two processes re-record two sources 10 times each; every round keeps both sources' entries."""
    import multiprocessing as mp

    heads = REPO_ROOT / "fixtures" / "published" / "joint_ioi_anti_repeat_heads.csv"
    mine = tmp_path / "mine.csv"
    shutil.copy(heads, mine)
    recorded = tmp_path / "verdicts.toml"
    recorded.write_text(verdicts.render([], {}))
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_verdicts_writer, args=(str(recorded), name, 10)) for name in ("published", f"file:{mine}")]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    keys = set(verdicts.load_verdicts(recorded))
    assert any("[published-" in k for k in keys) and any(f"[file:{mine}-" in k for k in keys)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith("tmp")]


def test_a_failed_verdicts_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    import harness.files as files

    recorded = tmp_path / "verdicts.toml"
    shutil.copy(verdicts.VERDICTS_FILE, recorded)
    before = recorded.read_text()

    def full_disk(fd):
        raise OSError(27, "File too large")

    monkeypatch.setattr(files.os, "fsync", full_disk)  # the write fails after the temporary file was filled
    with pytest.raises(OSError, match="File too large"):
        verdicts.write_verdicts([checks.evaluate_source(sources.load("published"))], recorded)
    assert recorded.read_text() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith("tmp")]


def test_verdicts_of_a_file_source_do_not_make_later_runs_red(tmp_path):
    recorded = tmp_path / "verdicts.toml"
    text = verdicts.VERDICTS_FILE.read_text()
    recorded.write_text(text + '\n["P2[file:/some/where.csv-mfr]"]\nverdict = "not reproduced"\nmeasured = "m"\nthreshold = "t"\n')
    assert verdicts.record_problems(recorded) == verdicts.record_problems(verdicts.VERDICTS_FILE) == []


# --- (4) thresholds.toml and robustness.toml: ranges and finiteness ---------------------------------


@pytest.mark.parametrize(
    "old, new, key",
    [
        ("tolerance = 0.05", "tolerance = inf", "approx.tolerance = inf must be a finite number"),
        ("tolerance = 0.05", "tolerance = nan", "approx.tolerance = nan must be a finite number"),
        ("tolerance = 0.05", "tolerance = -0.05", "approx.tolerance = -0.05 must be in [0, 1]"),
        ("min = 0.20\nmax_exclusive = 0.50", "min = 0.60\nmax_exclusive = 0.50", "[quantifiers.moderate] min = 0.6 must be below max_exclusive"),
        ("max_p = 0.05", "max_p = 2.0", "X2.max_p = 2.0 must be in (0, 1)"),
        ("level = 0.95", "level = 1.5", "uncertainty.level = 1.5 must be in (0, 1)"),
        ("n_boot = 2000", "n_boot = 0", "uncertainty.n_boot = 0 must be in [1, 1000000]"),
        ("max_kept_strong = 0.80", "max_kept_strong = -inf", "W1.max_kept_strong = -inf must be a finite number"),
        ("weak_above = 0.5", "weak_above = nan", "transfer.weak_above = nan must be a finite number"),
    ],
)
def test_thresholds_out_of_range_or_not_finite_are_one_line_naming_file_and_key(tmp_path, old, new, key):
    text = thresholds.THRESHOLDS_FILE.read_text()
    assert old in text
    path = tmp_path / "thresholds.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(thresholds.ThresholdsError) as err:
        thresholds.load(path)
    assert str(path) in str(err.value) and key in str(err.value) and "\n" not in str(err.value)


def test_a_toml_syntax_error_names_the_file(tmp_path):
    path = tmp_path / "thresholds.toml"
    path.write_text("[transfer\nk = 20\n")
    with pytest.raises(thresholds.ThresholdsError, match=f"{path}: not valid TOML"):
        thresholds.load(path)
    bad_grid = tmp_path / "robustness.toml"
    bad_grid.write_text("labels = \n")
    with pytest.raises(grid.GridError, match=f"{bad_grid}: not valid TOML"):
        grid.load(bad_grid)


def test_robustness_values_must_be_finite(tmp_path):
    text = grid.GRID_FILE.read_text()
    path = tmp_path / "robustness.toml"
    path.write_text(text + "\n[table.extra_nan]\nsetting = 'transfer.weak_above'\nvalues = [0.5, nan]\nrationale = 'x'\n")
    with pytest.raises(grid.GridError, match=r"table.extra_nan.values\[1\].*nan must be a finite number"):
        grid.load(path)


# --- (5) security: never through a link, only our own temporary files, a private fallback ------------


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


def test_model_names_from_a_file_are_escaped_and_padded_names_refused(tmp_path, capsys):
    heads = REPO_ROOT / "fixtures" / "published" / "joint_ioi_anti_repeat_heads.csv"
    lines = heads.read_text().splitlines()
    header = lines[0].split(",")
    column = header.index("model")
    row = lines[1].split(",")
    row[column] = '"evil\nerror: forged line"'
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    assert main(["audit", "--source", f"file:{bad}"]) == 2
    err = capsys.readouterr().err
    assert "\nerror: forged line" not in err and "evil\\nerror: forged line" in err
    row[column] = " pythia-70m "
    bad.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    assert main(["audit", "--source", f"file:{bad}"]) == 2
    assert "line 2: model name ' pythia-70m ' has leading or trailing spaces" in one_error_line(capsys)


@pytest.mark.parametrize("kind", ["directory", "fifo", "device"])
def test_a_directory_fifo_or_device_is_not_reported_as_missing(tmp_path, capsys, kind):
    path = {"directory": tmp_path, "fifo": tmp_path / "pipe", "device": Path("/dev/zero")}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    assert main(["transfer", "--source", f"file:{path}"]) == 2
    line = one_error_line(capsys)
    assert "no such file" not in line and ("directory" in line if kind == "directory" else "not a regular file" in line)


# --- (6) tracebacks and unclear errors become one line ----------------------------------------------


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["scores", "--model", "smollm2-135m", "--device", "nonsense"], "argument --device: invalid device 'nonsense'"),
        (["bench", "--model", "nosuch"], "argument --model: unknown model 'nosuch'"),
        (["bench", "--model", " smollm2-135m"], "has leading or trailing spaces"),
        (["bench", "--threads", "-2"], "argument --threads: -2 must be >= 1"),
        (["bench", "--threads", "0"], "argument --threads: 0 must be >= 1"),
        (["scores", "--model", "smollm2-135m", "--seed", "-1"], "argument --seed: -1 must be >= 0"),
        (["transfer", "--intervals", "--seed", "-1"], "argument --seed: -1 must be >= 0"),
        (["scores", "--model", "smollm2-135m", "--workers", "0"], "argument --workers: 0 must be >= 1"),
        (["zoo", "--workers", "-3"], "argument --workers: -3 must be >= 1"),
        (["scores", "--model", "smollm2-135m", "--n-prompts", "1"], "argument --n-prompts: 1 must be >= 2 and <= 1000000"),
    ],
)
def test_option_values_out_of_range_are_usage_errors(capsys, argv, expected):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["scores", "--model", "smollm2-135m", "--workers", "64"], f"--workers 64 exceeds the {os.cpu_count()} CPU cores here"),
        (["scores", "--model", "smollm2-135m", "--algorithm", "attribution", "--workers", "2"], "shard the exact batched scan only"),
        (["scores", "--model", "smollm2-135m", "--executor", "ray", "--ray-address", "127.0.0.1:1"], "--ray-address 127.0.0.1:1: no Ray cluster answers"),
    ],
)
def test_scan_options_that_would_be_ignored_or_hang_are_one_line(capsys, argv, expected):
    assert main(argv) == 2
    assert expected in one_error_line(capsys)


def test_an_unknown_device_is_a_value_error_naming_it():
    from harness.models.loaders import resolve_device

    with pytest.raises(ValueError, match="'nonsense' is no device torch knows"):
        resolve_device("nonsense")


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


def test_ctrl_c_in_report_is_one_line_and_leaves_no_half_file(tmp_path, capsys, monkeypatch):
    from harness.report import render

    report = tmp_path / "r.md"
    report.write_text("old report\n")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(render, "plot_pairs", interrupted)
    assert main(["report", "--source", "published", "--markdown", str(report), "--plot", str(tmp_path / "p.png")]) == 130
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("error: interrupted (Ctrl-C)") and "Traceback" not in "\n".join(err)
    assert report.read_text() == "old report\n" and not (tmp_path / "p.png").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith("tmp")]


def test_broken_settings_files_are_a_pytest_usage_error_not_a_traceback(tmp_path, monkeypatch):
    from harness import pytest_plugin

    bad = tmp_path / "thresholds.toml"
    bad.write_text("[transfer\n")
    real_load = thresholds.load
    monkeypatch.setattr(thresholds, "load", lambda: real_load(bad))
    with pytest.raises(pytest.UsageError, match=f"{bad}: not valid TOML"):
        pytest_plugin._check_settings_files()
    monkeypatch.undo()
    empty = tmp_path / "verdicts.toml"
    empty.write_text("")
    monkeypatch.setattr(verdicts, "VERDICTS_FILE", empty)
    monkeypatch.setattr(verdicts.load_file, "__defaults__", (empty,))
    with pytest.raises(pytest.UsageError, match="is empty"):
        pytest_plugin._check_settings_files()


def test_an_unwritable_claims_report_is_a_usage_error_before_the_run(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "claims/test_claims.py", "--collect-only", "-q",
         "--claims-report", str(blocker / "r.md")], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 4, result.stdout[-1000:] + result.stderr[-1000:]
    assert f"--claims-report {blocker / 'r.md'}: cannot write there" in result.stderr and "Traceback" not in result.stderr


def test_device_on_a_cache_hit_says_it_was_not_used(committed, capsys):
    assert main(["zoo", "--model", "smollm2-135m", "--method", "mean", "--device", "cpu"]) == 0
    assert f"note: --device cpu not used: the scores came from committed {zoo_folder(committed, 'smollm2-135m')}" in capsys.readouterr().err


def test_a_model_name_with_spaces_is_named_as_such(capsys):
    assert main(["scores", "--model", "smollm2-135m "]) == 2
    assert "model name 'smollm2-135m ' has leading or trailing spaces" in one_error_line(capsys)


def test_models_verify_says_refused_for_a_gguf_that_loading_would_refuse(tmp_path, capsys, monkeypatch):
    """The bytes are faked (no 1.8 GB read): every installed GGUF hashes to zeros."""
    from harness.models import gguf, registry

    installed = [n for n, s in registry.MODELS.items() if s.gguf is not None and gguf.installed(s)[0]]
    if not installed:
        pytest.skip("no zoo GGUF installed (IOI_SKIP_WEIGHTS?)")
    monkeypatch.setattr(gguf, "file_sha256", lambda path: "0" * 64)
    monkeypatch.setattr(gguf, "assembled_path", lambda spec: REPO_ROOT / "README.md")  # an existing file: no part is read
    assert main(["models", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert "present (sha256 not checked; --verify)" in out
    assert main(["models", "--format", "csv", "--verify"]) == 1
    captured = capsys.readouterr()
    assert "present but refused: sha256 0000000000000000... is not the pinned" in captured.out
    assert any(line.startswith("error: the installed weights of ") for line in captured.err.splitlines())
