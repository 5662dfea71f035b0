"""Issue 31: outputs never replace what they should not, names never become paths, a cache key covers
everything a table depends on, and hostile or faulty input ends in one line.

Each test was run against main before its fix (this branch's first commit of the test) and seen red."""

import json
import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from harness.models import registry
from harness.cli.main import main
from harness.paths import REPO_ROOT

pytestmark = pytest.mark.unit


# --- (1) an output path never replaces a special file ---------------------------------------------


class FifoReader:
    """Reads everything written to a FIFO, in a thread (a writer's open blocks until a reader opens)."""

    def __init__(self, path: Path):
        self.path, self.data = path, b""
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        with open(self.path, "rb") as fh:
            self.data = fh.read()

    def received(self) -> bytes:
        self.thread.join(timeout=60)
        return self.data


def null_device(path: Path) -> Path:
    """A character device node like /dev/null at `path` (root only), so no test touches the real one."""
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    return path


def a_socket(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    return sock


def test_out_to_a_fifo_writes_into_it_and_leaves_it_a_fifo(tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = FifoReader(fifo)
    assert main(["transfer", "--source", "published", "--out", str(fifo)]) == 0
    assert reader.received().startswith(b"base_model,tgt_model,")
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_out_to_a_character_device_writes_into_it_and_leaves_it_a_device(tmp_path):
    device = null_device(tmp_path / "null")
    assert main(["transfer", "--source", "published", "--out", str(device)]) == 0
    assert stat.S_ISCHR(device.lstat().st_mode)


def test_out_to_a_socket_or_directory_is_refused_in_one_line_and_left_alone(tmp_path, capsys, one_error_line):
    sock = a_socket(tmp_path / "sock")
    try:
        assert main(["transfer", "--source", "published", "--out", str(tmp_path / "sock")]) == 2
        assert "is a socket, not a regular file" in one_error_line()
        assert stat.S_ISSOCK((tmp_path / "sock").lstat().st_mode)
    finally:
        sock.close()
    assert main(["transfer", "--source", "published", "--out", str(tmp_path)]) == 2
    assert "is a directory" in one_error_line()


def test_report_markdown_and_plot_write_into_a_fifo_and_a_device(tmp_path, capsys):
    fifo, device = tmp_path / "report.md", null_device(tmp_path / "plot.png")
    os.mkfifo(fifo)
    reader = FifoReader(fifo)
    assert main(["report", "--source", "published", "--markdown", str(fifo), "--plot", str(device)]) == 0
    assert reader.received().startswith(b"# ")
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and stat.S_ISCHR(device.lstat().st_mode)


def test_a_claims_report_on_a_socket_is_a_usage_error_before_the_run(tmp_path):
    sock = a_socket(tmp_path / "sock")
    try:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "claims/test_claims.py", "--collect-only", "-q",
             "--claims-report", str(tmp_path / "sock")],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
        )
    finally:
        sock.close()
    assert result.returncode == 4, result.stdout[-2000:]
    assert "is a socket, not a regular file" in result.stderr
    assert stat.S_ISSOCK((tmp_path / "sock").lstat().st_mode)


# --- (2) missing weights are one line and exit 2, whatever was imported -----------------------------


def run_harness(*args, env_extra=None, timeout=300) -> subprocess.CompletedProcess:
    """`python -m harness ARGS` in a fresh process (what a user runs: nothing imported beforehand)."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("argv", [["scores", "--model", "pythia-70m", "--n-prompts", "4"], ["roles", "--model", "pythia-70m", "--compute"]])
def test_missing_weights_are_one_line_and_exit_2_in_a_fresh_process(tmp_path, argv):
    hub = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_CACHE": str(tmp_path / "hf" / "hub"), "IOI_CLAIMS_CACHE": str(tmp_path / "cache")}
    result = run_harness(*argv, env_extra=hub)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: no pretrained weights for model 'pythia-70m'")


# --- (3) a twin's cache key covers everything its table depends on ----------------------------------

TWIN_DESIGN = """name = "d"
description = "two tiny seeded twins"

[run]
style = "zoo"
n_prompts = 4
tasks = ["ioi"]

[models.ta]
family = "twin"
architecture = "LlamaForCausalLM"
tokenizer = "TOKENIZER"
hf_config = { model_type = "llama", hidden_size = 32, num_hidden_layers = LAYERS, num_attention_heads = 2, num_key_value_heads = 2, intermediate_size = 64, vocab_size = 49152, max_position_embeddings = 128, initializer_range = 0.5, tie_word_embeddings = true, bos_token_id = 1, eos_token_id = 2 }

[models.tb]
family = "twin"
architecture = "LlamaForCausalLM"
tokenizer = "gguf:smollm2-135m"
hf_config = { model_type = "llama", hidden_size = 32, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 2, intermediate_size = 64, vocab_size = 49152, max_position_embeddings = 128, initializer_range = 0.5, tie_word_embeddings = true, bos_token_id = 1, eos_token_id = 2 }

[[pairs]]
base = "ta"
target = "tb"
"""


def twin_design(path: Path, layers: int = 2, tokenizer: str = "gguf:smollm2-135m") -> Path:
    path.write_text(TWIN_DESIGN.replace("LAYERS", str(layers)).replace("TOKENIZER", tokenizer))
    return path


def test_a_twins_fingerprint_covers_its_config_and_tokenizer():
    from dataclasses import replace

    from harness.models import registry
    from harness.models.weights import twin_fingerprint

    spec = registry.get("pythia-70m")
    fingerprint = twin_fingerprint(spec, 0)
    assert fingerprint.startswith("twin-seed0-") and fingerprint != twin_fingerprint(spec, 1)
    deeper = replace(spec, hf_config={**spec.hf_config, "num_hidden_layers": 7})
    assert twin_fingerprint(deeper, 0) != fingerprint
    assert twin_fingerprint(replace(spec, tokenizer="gguf:smollm2-135m"), 0) != fingerprint
    assert twin_fingerprint(replace(spec, n_params=1), 0) == fingerprint  # the parameter count builds nothing


def test_a_changed_twin_config_is_scanned_again_not_read_stale(tmp_path):
    """Seen red on main: the second report read the 2-layer table ("mean table from user cache")."""
    cache = {"IOI_CLAIMS_CACHE": str(tmp_path / "cache")}
    design = twin_design(tmp_path / "d.toml", layers=2)
    first = run_harness("transfer", "--design", str(design), "--source", "d:mean", env_extra=cache)
    assert first.returncode == 0, first.stderr[-2000:]
    twin_design(design, layers=3)
    stale = run_harness("transfer", "--design", str(design), "--source", "d:mean", "--no-compute", env_extra=cache)
    assert "ta: mean table from" not in stale.stderr  # the 2-layer table does not answer for the 3-layer twin
    again = run_harness("transfer", "--design", str(design), "--source", "d:mean", env_extra=cache)
    assert again.returncode == 0, again.stderr[-2000:]
    tables = sorted((tmp_path / "cache" / "scores" / "ta").glob("*/table.csv"))
    assert len(tables) == 2  # one entry per config
    assert {len(t.read_text().splitlines()) - 1 for t in tables} == {2 * 2, 3 * 2}


# --- (4) names never become paths; text cells never become formulas or table rows -----------------

HOSTILE_NAMES = ["../../../../../tmp/x/esc", "/tmp/x/abs", "", "=HYPERLINK(1)", "evil\nname", "a|b", ".", "..", "-x", "@x", "a/b"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_design_model_name_that_is_no_safe_slug_is_one_line_naming_file_and_entry(tmp_path, capsys, name, one_error_line):
    import json

    design = tmp_path / "d.toml"
    unique = f"hostile{HOSTILE_NAMES.index(name)}"  # designs are registered process-wide by name
    design.write_text(twin_design(tmp_path / "t.toml").read_text().replace("[models.ta]", f"[models.{json.dumps(name)}]")
                      .replace('base = "ta"', f"base = {json.dumps(name)}").replace('name = "d"', f'name = "{unique}"'))
    assert main(["transfer", "--design", str(design), "--source", f"{unique}:mean", "--no-compute"]) == 2
    line = one_error_line()
    assert f"design file {design}" in line and "models." in line and "not a safe name" in line


def test_registry_names_are_safe_slugs():
    from harness.models import registry
    from harness.paths import name_problem

    assert [name for name in registry.MODELS if name_problem(name)] == []


def _escaping_key(model: str):
    from harness.runs.cache import CacheKey

    return CacheKey.make(model=model, fingerprint="f", dataset={"task": "ioi", "n_prompts": 4}, method="mean", algorithm="batched")


def test_a_shard_folder_outside_its_root_is_refused_before_anything_is_made(tmp_path):
    import numpy as np

    from harness.files import UnsafePath
    from harness.runs.shards import ShardStore

    with pytest.raises(UnsafePath):
        ShardStore(_escaping_key("../../escaped"), root=tmp_path / "cache" / "shards").save(0, np.zeros((2, 3)), np.zeros(3))
    assert not (tmp_path / "escaped").exists()


def test_a_score_entry_outside_its_root_is_refused_before_anything_is_made(tmp_path, monkeypatch):
    import pandas as pd

    from harness.files import UnsafePath
    from harness.runs.cache import ScoreCache

    monkeypatch.setenv("IOI_CLAIMS_CACHE", str(tmp_path / "cache"))
    with pytest.raises(UnsafePath):
        ScoreCache(tmp_path / "cache" / "scores").put(_escaping_key("../../escaped"), pd.DataFrame({"a": [1]}), {})
    assert not (tmp_path / "escaped").exists()
    assert not any(p.name == "escaped" for p in tmp_path.rglob("*"))


def test_text_cells_are_escaped_in_csv_markdown_and_console_tables(capsys):
    import pandas as pd

    from harness.cli.output import _emit

    frame = pd.DataFrame({"model": ["=HYPERLINK(1)", "+1", "-cmd", "@SUM(1)", "ok", "two\nlines", "a|b"], "delta": [-0.5] * 7})
    _emit(frame, "csv", None)
    rows = capsys.readouterr().out.splitlines()
    assert rows[1:5] == ["'=HYPERLINK(1),-0.5", "'+1,-0.5", "'-cmd,-0.5", "'@SUM(1),-0.5"]  # numbers stay numbers
    assert rows[5] == "ok,-0.5"
    _emit(frame, "md", None)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 + len(frame)  # a newline in a cell never starts a row
    assert "two\\nlines" in lines[-2] and "a\\|b" in lines[-1]


# --- (5) a finished scan is used by the run that computed it; a lost table fails the source ---------


@pytest.fixture
def unstorable_design(tmp_path, monkeypatch):
    """The tiny twin design, and a score cache whose folder refuses every write (so results go to this
    process's fallback folder, a private one under tmp_path)."""
    from harness import files
    from harness.claims import sources
    from harness.runs import cache as cache_module

    monkeypatch.setenv("IOI_CLAIMS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sources, "_USER_SOURCES", [])
    monkeypatch.setattr(sources, "_USER_DESIGNS", {})
    (tmp_path / "fallback").mkdir()
    monkeypatch.setattr(files, "_FALLBACK", [tmp_path / "fallback"])
    real_put = cache_module.ScoreCache._put

    def refuse_primary(self, folder, *args):
        if (tmp_path / "cache") in folder.parents:
            raise PermissionError(13, "Permission denied", str(folder))
        return real_put(self, folder, *args)

    monkeypatch.setattr(cache_module.ScoreCache, "_put", refuse_primary)
    design = twin_design(tmp_path / "d.toml").read_text().replace('name = "d"', 'name = "unstorable"')
    (tmp_path / "d.toml").write_text(design)
    sources.use_design(tmp_path / "d.toml")
    return sources


def test_a_scan_whose_cache_cannot_store_it_is_used_by_the_same_run(unstorable_design, tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = unstorable_design.load("unstorable:mean", compute=True)
    assert set(source.table["model"]) == {"ta", "tb"}  # main: empty, "no mean-ablation ... scores stored"
    assert any("fallback" in note for note in source.notes)


def test_a_scanned_table_that_cannot_be_read_back_fails_the_source(unstorable_design, monkeypatch):
    import warnings

    from harness.runs import zoo

    monkeypatch.setattr(zoo, "stored_scores", lambda *a, **k: None)  # stored, then lost
    with warnings.catch_warnings(), pytest.raises(OSError, match="ta.*could not be stored or read back"):
        warnings.simplefilter("ignore")
        unstorable_design.load("unstorable:mean", compute=True)


# --- (6) one scan per cache key at a time ------------------------------------------------------------


def test_a_scan_holds_its_keys_lock_and_a_waiting_scan_reads_the_finished_table(tmp_path, monkeypatch):
    import pandas as pd
    from filelock import FileLock, Timeout

    from harness.runs import recompute
    from harness.runs.run_spec import RunSpec
    from harness.runs.shards import ShardStore

    monkeypatch.setenv("IOI_CLAIMS_CACHE", str(tmp_path / "cache"))
    run = RunSpec(weights="twin", n_prompts=4)
    key = recompute.cache_key(registry.get("pythia-70m"), "ioi", run)
    store = ShardStore(key, root=tmp_path / "cache" / "shards")
    lock = tmp_path / "cache" / "shards" / f".pythia-70m.{key.digest}.lock"
    scans = []

    def fake_scan(model, task, run, key, **_):
        with pytest.raises(Timeout):  # another scan of this key cannot start meanwhile
            FileLock(str(lock), timeout=0).acquire()
        scans.append(model.name)
        return pd.DataFrame({"layer": [0], "head": [0], "delta": [0.5], "delta_norm": [0.5]}), {"clean_logit_diff": 1.0}, None

    monkeypatch.setattr(recompute, "run_sharded", fake_scan)
    monkeypatch.setattr(recompute, "ShardStore", lambda key: ShardStore(key, root=store.root))
    recompute.task_scores(registry.get("pythia-70m"), "ioi", run, progress=False)
    assert scans == ["pythia-70m"]
    # a second scan that found no table before the lock finds the first one's after it, and scans nothing
    real_cached = recompute.cached_scores
    calls = []

    def first_misses(*args, **kwargs):  # the check before the lock ran while the first scan was going on
        calls.append(1)
        return None if len(calls) == 1 else real_cached(*args, **kwargs)

    monkeypatch.setattr(recompute, "cached_scores", first_misses)
    table, _ = recompute.task_scores(registry.get("pythia-70m"), "ioi", run, progress=False)
    assert scans == ["pythia-70m"] and list(table["delta"]) == [0.5]


# --- (7) sizes that cannot fit are refused, with the estimate, before anything is allocated ---------


def test_a_design_n_layers_beyond_any_model_or_a_boolean_is_one_line(tmp_path, capsys, one_error_line):
    base = twin_design(tmp_path / "t.toml").read_text().replace('name = "d"', 'name = "sizes"')
    entry = 'architecture = "LlamaForCausalLM"\ntokenizer = "gguf:smollm2-135m"'
    for i, (old, new, key) in enumerate([
        (entry, entry + "\nn_layers = 9223372036854775807\nn_heads = 2", "n_layers"),
        (entry, entry + "\nn_layers = true\nn_heads = 2", "n_layers"),
        ("num_hidden_layers = 2, num_attention_heads", "num_hidden_layers = true, num_attention_heads", "num_hidden_layers"),
        ("num_hidden_layers = 2, num_attention_heads", "num_hidden_layers = 9223372036854775807, num_attention_heads", "num_hidden_layers"),
    ]):
        design = tmp_path / f"d{i}.toml"
        design.write_text(base.replace(old, new, 1).replace('name = "sizes"', f'name = "sizes{i}"'))
        assert main(["transfer", "--design", str(design), "--source", f"sizes{i}:mean", "--no-compute"]) == 2
        line = one_error_line()
        assert f"design file {design}" in line and key in line, line


@pytest.mark.parametrize("argv", [["transfer", "--source", "published", "--intervals", "--n-boot", "1000000000"],
                                  ["scores", "--model", "pythia-70m", "--weights", "twin", "--n-prompts", "100000000000"],
                                  ["zoo", "--model", "smollm2-135m", "--n-prompts", "100000000000"]])
def test_a_count_beyond_its_bound_is_refused_by_argparse(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "must be >=" in capsys.readouterr().err


def test_an_uncertainty_n_boot_beyond_its_bound_names_the_file_and_key(tmp_path):
    from harness.claims import thresholds

    text = (REPO_ROOT / "claims" / "thresholds.toml").read_text()
    assert "\nn_boot = 2000\n" in text
    path = tmp_path / "thresholds.toml"
    path.write_text(text.replace("\nn_boot = 2000\n", "\nn_boot = 2000000000\n", 1))
    with pytest.raises(thresholds.ThresholdsError, match=r"uncertainty\.n_boot = 2000000000 must be"):
        thresholds.load(path)


def test_resampling_that_cannot_fit_in_memory_is_refused_with_the_estimate_before_allocating(monkeypatch):
    import numpy as np
    import pandas as pd

    from harness import sizes
    from harness.analysis import uncertainty

    monkeypatch.setattr(sizes, "machine_memory", lambda: 2**30)  # a 1 GiB machine
    heads = pd.DataFrame({"tgt_frac_rank": np.linspace(0, 1, 144), "frac_rank_missing_as_one": np.linspace(0, 1, 144),
                          "tgt_present": True, "lost": False})

    def no_draws(*args, **kwargs):
        raise AssertionError("drew before the size was checked")

    monkeypatch.setattr(np.random, "default_rng", no_draws)
    with pytest.raises(sizes.TooLarge, match=r"1000000 draws.*144.*GiB.*1 GiB"):
        uncertainty.bootstrap_pair(heads, n_boot=1_000_000)
    with pytest.raises(sizes.TooLarge, match="GiB"):
        uncertainty.mean_interval(np.ones(144), n_boot=1_000_000, level=0.95, seed=0)
    with pytest.raises(sizes.TooLarge, match="GiB"):
        uncertainty.compare_groups([np.ones(100)], [np.ones(100)], "q", n_boot=10, n_perm=1_000_000)


def test_a_scan_whose_per_prompt_arrays_cannot_fit_is_refused_with_the_estimate(tmp_path, monkeypatch):
    from harness import sizes
    from harness.runs import recompute
    from harness.runs.run_spec import RunSpec

    monkeypatch.setenv("IOI_CLAIMS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sizes, "machine_memory", lambda: 2**30)
    monkeypatch.setattr(recompute, "run_sharded", lambda *a, **k: pytest.fail("scanned before the size was checked"))
    with pytest.raises(sizes.TooLarge, match=r"pythia-70m.*1000000 prompts.*GiB.*1 GiB"):
        recompute.task_scores(registry.get("pythia-70m"), "ioi", RunSpec(weights="twin", n_prompts=1_000_000), progress=False)
    assert not (tmp_path / "cache" / "shards").exists()


# --- (8) --snapshot-update never runs on a damaged or unverified committed table -------------------


def repo_copy(root: Path) -> Path:
    """The parts of this checkout a claims run reads, copied under `root` (so a test may damage them)."""
    import shutil

    for name in ("harness", "claims", "fixtures", "snapshots"):
        shutil.copytree(REPO_ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__", ".lock"))
    for name in ("conftest.py", "pyproject.toml"):
        shutil.copy2(REPO_ROOT / name, root / name)
    return root


def committed_smollm2_entry(root: Path, method: str) -> Path:
    import json

    for meta in sorted((root / "fixtures" / "recomputed" / "smollm2-135m").glob("*/meta.json")):
        if json.loads(meta.read_text())["key"]["method"] == method:
            return meta.parent
    raise AssertionError(f"no committed {method} entry of smollm2-135m")


@pytest.mark.parametrize("damage", ["edited", "no metadata"])
def test_snapshot_update_on_a_damaged_committed_table_fails_before_syrupy_touches_a_snapshot(tmp_path, damage):
    """Seen red on main: the run deleted the SmolLM2 snapshots (unused once their test errored) and exited 1."""
    repo = repo_copy(tmp_path / "repo")
    entry = committed_smollm2_entry(repo, "mean")
    table = entry / "table.csv"
    if damage == "edited":
        lines = table.read_text().splitlines()
        table.write_text("\n".join(lines[:1] + [lines[1].replace("0", "9", 1)] + lines[2:]) + "\n")
    else:
        (entry / "meta.json").unlink()
    snapshots = (repo / "snapshots" / "claims" / "test_snapshots.ambr").read_bytes()
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1", "IOI_CLAIMS_CACHE": str(tmp_path / "cache")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "claims/test_snapshots.py", "--snapshot-update",
         "-k", "smollm2"], cwd=repo, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 4, result.stdout[-3000:]
    assert "--snapshot-update" in result.stderr and "fixtures/recomputed/smollm2-135m" in result.stderr, result.stderr[-2000:]
    assert (repo / "snapshots" / "claims" / "test_snapshots.ambr").read_bytes() == snapshots


# --- (9) the tokenizer, weights and GGUF caches fall back as the scores cache does ------------------


@pytest.fixture
def private_fallback(tmp_path, monkeypatch):
    """This process's fallback folder, made private to the test."""
    from harness import files

    monkeypatch.setattr(files, "_FALLBACK", [tmp_path / "fallback"])
    monkeypatch.setattr(files, "_CACHE_FOLDERS", {})
    (tmp_path / "fallback").mkdir()
    return tmp_path / "fallback"


def test_a_gguf_tokenizer_goes_to_the_fallback_when_the_cache_is_a_file(tmp_path, monkeypatch, private_fallback):
    """Seen red on main: NotADirectoryError ('Not a directory: .../tokenizers')."""
    from harness.files import CacheFallback
    from harness.models import registry
    from harness.models.tokenizers import gguf_tokenizer

    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("IOI_CLAIMS_CACHE", str(tmp_path / "a-file"))
    with pytest.warns(CacheFallback, match="tokenizers"):
        tokenizer = gguf_tokenizer(registry.get("smollm2-135m"))
    assert tokenizer.bos_token_id is not None
    assert any(private_fallback.glob("tokenizers/smollm2-135m-*/tokenizer_config.json"))
    assert (tmp_path / "a-file").read_text() == "not a folder"


def test_dequantised_weights_that_fill_the_cache_go_to_the_fallback(tmp_path, monkeypatch, private_fallback):
    """A full cache: the dequantised copy is written to the fallback folder instead (seen red on main:
    'No space left on device')."""
    import errno

    from harness.files import CacheFallback
    from harness.models import loaders, registry

    cache = tmp_path / "cache"
    monkeypatch.setenv("IOI_CLAIMS_CACHE", str(cache))
    spec = registry.get("smollm2-135m")

    def dequantize(spec, gguf, destination):  # a stand-in writer: the cache's disk is full
        if cache in destination.parents:
            raise OSError(errno.ENOSPC, "No space left on device", str(destination / "model.safetensors"))
        for name in loaders._DEQUANTIZED_FILES:
            (destination / name).write_text("x")
        import json

        size = (destination / "model.safetensors").stat().st_size
        (destination / loaders._DEQUANTIZED_MARKER).write_text(json.dumps({"gguf_sha256": spec.gguf.sha256, "weights_bytes": size}))

    monkeypatch.setattr(loaders, "_dequantize_gguf", dequantize)
    with pytest.warns(CacheFallback, match="No space left"):
        folder = loaders._ensure_dequantized(spec, tmp_path / "m.gguf", spec.gguf.sha256)
    assert private_fallback in folder.parents and loaders._dequantized_complete(folder)
    assert loaders._ensure_dequantized(spec, tmp_path / "m.gguf", spec.gguf.sha256) == folder  # found there again


def test_an_assembled_gguf_that_cannot_be_written_goes_to_the_fallback(tmp_path, monkeypatch, private_fallback):
    import errno
    import hashlib

    from harness.files import CacheFallback
    from harness.models import gguf, registry
    from harness.models.registry import GgufSource

    parts = [tmp_path / "a.part", tmp_path / "b.part"]
    parts[0].write_bytes(b"GGUF" + b"1" * 10)
    parts[1].write_bytes(b"2" * 10)
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in parts)).hexdigest()
    source = GgufSource(packages=(), parts=tuple((GgufSource.LOCAL, str(p)) for p in parts), sha256=digest, file_name="m.gguf",
                        licence="x", upstream="m")
    from dataclasses import replace

    spec = replace(registry.get("smollm2-135m"), gguf=source)
    monkeypatch.setattr(gguf, "part_paths", lambda source: parts)
    cache = tmp_path / "cache"
    monkeypatch.setenv("IOI_CLAIMS_CACHE", str(cache))
    real = gguf._assemble

    def full_disk(parts, target, source):
        if cache in target.parents:
            raise OSError(errno.ENOSPC, "No space left on device", str(target))
        return real(parts, target, source)

    monkeypatch.setattr(gguf, "_assemble", full_disk)
    with pytest.warns(CacheFallback, match="No space left"):
        path = gguf.gguf_path(spec)
    assert private_fallback in path.parents and path.read_bytes().startswith(b"GGUF")


# --- (10) one clear line where a traceback or a cryptic line was -------------------------------------


def test_a_ladder_step_that_is_no_pair_is_one_line_naming_the_ladder(tmp_path, capsys, one_error_line):
    """Seen red on main: 'source cycle:mean failed: ('ta', 'tc')', exit 1."""
    text = twin_design(tmp_path / "t.toml").read_text().replace('name = "d"', 'name = "ladder"')
    third = text[text.index("[models.tb]"):text.index("[[pairs]]")].replace("[models.tb]", "[models.tc]")
    design = tmp_path / "d.toml"
    design.write_text(text.replace("[[pairs]]", third + "[[pairs]]") + '\n[ladders]\ntw = ["ta", "tc", "tb"]\n')
    assert main(["report", "--design", str(design), "--source", "ladder:mean", "--no-compute"]) == 2
    line = one_error_line()
    assert f"design file {design}, ladders.tw: the step ta -> tc is not one of the design's [[pairs]]" in line, line


def test_an_hf_config_that_is_no_table_names_the_file_and_entry(tmp_path, capsys, one_error_line):
    text = twin_design(tmp_path / "t.toml").read_text().replace('name = "d"', 'name = "badconfig"')
    start = text.index("hf_config = {")
    design = tmp_path / "d.toml"
    design.write_text(text[:start] + 'hf_config = "abc"' + text[text.index("\n", start):])
    assert main(["transfer", "--design", str(design), "--source", "badconfig:mean", "--no-compute"]) == 2
    line = one_error_line()  # main: "... must be a table of Any"
    assert line.startswith(f"error: design file {design}: models.ta.hf_config = 'abc' must be a table") and "Any" not in line


def test_a_design_given_with_a_source_it_does_not_apply_to_is_refused(tmp_path, capsys, monkeypatch, one_error_line):
    """Seen red on main: exit 0, the published table's pairs, --design silently ignored."""
    from harness.claims import sources

    monkeypatch.setattr(sources, "_USER_SOURCES", [])  # the design is registered process-wide: not beyond this test
    monkeypatch.setattr(sources, "_USER_DESIGNS", {})
    design = twin_design(tmp_path / "d.toml").read_text().replace('name = "d"', 'name = "ignored"')
    (tmp_path / "d.toml").write_text(design)
    assert main(["transfer", "--design", str(tmp_path / "d.toml"), "--source", "published"]) == 2
    line = one_error_line()
    assert "does not apply to source published" in line and "ignored:mean" in line, line


@pytest.fixture
def own_designs(monkeypatch):
    """A --design given in a test is registered process-wide (sources): keep it to that test."""
    from harness.claims import sources

    monkeypatch.setattr(sources, "_USER_SOURCES", [])
    monkeypatch.setattr(sources, "_USER_DESIGNS", {})


def test_a_device_the_machine_lacks_is_one_line_not_a_traceback(tmp_path, capsys, monkeypatch, own_designs, one_error_line):
    """Seen red on main: `--device mps --refresh` ended in torch's RuntimeError ('PyTorch is not linked with
    support for mps devices') after a traceback, at the model's first `.to(device)`."""
    import torch

    monkeypatch.setenv("IOI_CLAIMS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    design = twin_design(tmp_path / "d.toml").read_text().replace('name = "d"', 'name = "nodevice"')
    (tmp_path / "d.toml").write_text(design)
    argv = ["scores", "--design", str(tmp_path / "d.toml"), "--model", "ta", "--weights", "twin", "--n-prompts", "2"]
    assert main([*argv, "--device", "mps", "--refresh"]) == 2
    line = one_error_line()
    assert line.startswith("error: device 'mps' was asked for but this machine has no MPS (Apple GPU) device: use cpu or auto"), line
    assert not (tmp_path / "cache" / "scores").exists()  # refused before a scan started


def test_a_cuda_index_beyond_the_machines_gpus_is_refused(monkeypatch):
    import torch

    from harness.errors import UserError
    from harness.models.loaders import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(UserError, match=r"device 'cuda:3' was asked for but this machine has 1 CUDA device \(cuda:0\)"):
        resolve_device("cuda:3")


HUB_DESIGN = """name = "hubtwin"
description = "hub models, whose configs are not on this machine"

[run]
style = "zoo"
n_prompts = 4
tasks = ["ioi"]

[models.ha]
family = "h"
hub = "someorg/some-model"
architecture = "LlamaForCausalLM"
n_layers = 2
n_heads = 2
tokenizer = "gguf:smollm2-135m"
WEIGHTS
[models.hb]
family = "h"
hub = "someorg/other-model"
architecture = "LlamaForCausalLM"
n_layers = 2
n_heads = 2
tokenizer = "gguf:smollm2-135m"

[[pairs]]
base = "ha"
target = "hb"
"""


def test_a_twin_of_a_hub_model_without_hf_config_is_one_line_naming_the_model(tmp_path, capsys, monkeypatch, own_designs, one_error_line):
    """Seen red on main: 'TypeError: AutoConfig.for_model() missing 1 required positional argument:
    'model_type'' and a traceback."""
    monkeypatch.setenv("IOI_CLAIMS_CACHE", str(tmp_path / "cache"))
    (tmp_path / "d.toml").write_text(HUB_DESIGN.replace("WEIGHTS", ""))
    argv = ["scores", "--design", str(tmp_path / "d.toml"), "--model", "ha", "--weights", "twin", "--n-prompts", "2"]
    assert main(argv) == 2
    line = one_error_line()
    assert line.startswith("error: model 'ha' (hub someorg/some-model) has no hf_config, so no architecture twin can be built: "
                           "add hf_config = { model_type = ..., num_hidden_layers = ..., num_attention_heads = ..., ... } "
                           "to its [models.ha] entry"), line
    assert not (tmp_path / "cache" / "scores").exists()


def test_a_design_running_a_hub_model_as_a_twin_without_hf_config_names_file_and_entry(tmp_path):
    from harness.data import designs

    path = tmp_path / "d.toml"
    path.write_text(HUB_DESIGN.replace("WEIGHTS", 'weights = "twin"\n'))
    with pytest.raises(designs.DesignError, match=rf"design file {path}, models.'ha': weights = 'twin' needs hf_config"):
        designs.load(path)


def truncated_gguf(path: Path) -> Path:
    """A small GGUF file (two float32 tensors) cut 100 bytes short: its header is whole, its data is not."""
    import numpy as np
    from gguf import GGUFWriter

    whole = path.with_name("whole.gguf")
    writer = GGUFWriter(str(whole), "llama")
    writer.add_tensor("token_embd.weight", np.arange(64 * 32, dtype=np.float32).reshape(64, 32))
    writer.add_tensor("output_norm.weight", np.ones(32, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    path.write_bytes(whole.read_bytes()[:-100])
    return path


def truncated_gguf_design(tmp_path: Path, model: str) -> Path:
    """A design pinning a truncated GGUF as `model` (a name per test: inline models register per process)."""
    import hashlib

    gguf = truncated_gguf(tmp_path / "cut.gguf")
    design = tmp_path / "g.toml"
    design.write_text(f"""name = "cutgguf"
description = "a truncated GGUF whose pinned sha256 is the truncated file's"

[run]
style = "zoo"
n_prompts = 4
tasks = ["ioi"]

[models.{model}]
family = "g"
gguf = "cut.gguf"
sha256 = "{hashlib.sha256(gguf.read_bytes()).hexdigest()}"
config_from = "smollm2-135m"

[models.smollm2-135m]

[[pairs]]
base = "{model}"
target = "smollm2-135m"
""")
    return design


@pytest.mark.integration  # it loads a design's (truncated, tiny) GGUF file: weights, so not the unit tier
def test_a_truncated_gguf_whose_hash_matches_is_one_line_naming_the_file(tmp_path, capsys, monkeypatch, own_designs):
    """Seen red on main: 'ValueError: cannot reshape array of size 7 into shape (32,)' and a traceback,
    naming no file."""
    monkeypatch.setenv("IOI_CLAIMS_CACHE", str(tmp_path / "cache"))
    design = truncated_gguf_design(tmp_path, "tg")
    assert main(["scores", "--design", str(design), "--model", "tg", "--n-prompts", "2"]) == 2
    err = capsys.readouterr().err  # the scan's progress bar had started: the load is its first step
    assert "Traceback" not in err
    [line] = [line for line in err.splitlines() if line.startswith("error: ")]
    assert line.startswith(f"error: GGUF file {tmp_path / 'cut.gguf'} is truncated or damaged (8412 bytes; "), line
    assert "cannot reshape array" in line and "its sha256 matches the pin" in line, line


def test_a_truncated_gguf_tokenizer_names_the_file(tmp_path, monkeypatch):
    from harness.data import designs
    from harness.errors import UserError
    from harness.models import registry
    from harness.models.tokenizers import gguf_tokenizer

    monkeypatch.setenv("IOI_CLAIMS_CACHE", str(tmp_path / "cache"))
    designs.load(truncated_gguf_design(tmp_path, "tgtok"))
    with pytest.raises(UserError, match=r"GGUF file .*cut\.gguf is truncated or damaged"):
        gguf_tokenizer(registry.get("tgtok"))


def test_a_failure_reading_a_whole_gguf_is_not_called_damage(tmp_path):
    """A bug while reading a whole file propagates as it is (a traceback), not as a damaged file."""
    from harness.models import gguf

    whole = truncated_gguf(tmp_path / "cut.gguf").with_name("whole.gguf")
    assert gguf.damage(whole) is None
    with pytest.raises(KeyError, match="a bug"):
        with gguf.reading(whole):
            raise KeyError("a bug")


@pytest.mark.parametrize("command", [["scores", "--out", "scores.csv"], ["zoo", "--method", "mean"]])
def test_scores_and_zoo_with_a_design_scan_its_twin_by_default(tmp_path, capsys, monkeypatch, command, own_designs):
    """Seen red on main: both looked for pretrained weights of 'ta' ('no pretrained weights for model
    'ta' (hub id ta) ...', exit 2): --weights defaulted to pretrained over the design's twin default."""
    monkeypatch.setenv("IOI_CLAIMS_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    design = twin_design(tmp_path / "d.toml").read_text().replace('name = "d"', f'name = "twindefault{command[0]}"')
    (tmp_path / "d.toml").write_text(design)
    assert main([*command, "--design", str(tmp_path / "d.toml"), "--model", "ta", "--n-prompts", "2"]) == 0, capsys.readouterr().err[-2000:]
    [meta] = (tmp_path / "cache" / "scores" / "ta").glob("*/meta.json")
    assert json.loads(meta.read_text())["key"]["fingerprint"].startswith("twin-seed0-")  # the seeded twin's table


def test_scores_reads_the_designs_run_for_the_model_and_options_override_it(tmp_path):
    import argparse

    from harness.cli.scores import scores_run as _scores_run
    from harness.data import designs

    text = twin_design(tmp_path / "d.toml").read_text().replace('name = "d"', 'name = "scoresrun"')
    text = text.replace("[models.tb]", 'prompt_seed = 3\ndtype = "bfloat16"\n\n[models.tb]', 1)
    (tmp_path / "d.toml").write_text(text)
    design = designs.load(tmp_path / "d.toml")
    given = dict(model="ta", method="mean", algorithm="batched", ig_steps=8, ig_path="all", style=None, n_prompts=None,
                 seed=None, weights=None, dtype=None)
    run = _scores_run(argparse.Namespace(**given), design)
    assert (run.weights, run.seed, run.dtype, run.style, run.n_prompts) == ("twin", 3, "bfloat16", "zoo", 4)
    asked = _scores_run(argparse.Namespace(**{**given, "weights": "pretrained", "seed": 1, "dtype": "float32", "n_prompts": 9}), design)
    assert (asked.weights, asked.seed, asked.dtype, asked.n_prompts) == ("pretrained", 1, "float32", 9)
    plain = _scores_run(argparse.Namespace(**given), None)
    assert (plain.weights, plain.seed, plain.dtype, plain.style) == ("pretrained", 0, "float32", "wang")


# --- (11) silent validation gaps ----------------------------------------------------------------------


def _grid_with(tmp_path, old: str, new: str) -> Path:
    text = (REPO_ROOT / "claims" / "robustness.toml").read_text()
    assert old in text
    path = tmp_path / "robustness.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("old, new, message", [
    ("values = [50, 100, 200]", "values = [50, 100, 200, 200]", r"score\.n_prompts\.values lists 200 twice"),
    ("values = [0, 1, 2]", "values = [0, 1, 1, 2]", r"score\.prompt_seed\.values lists 1 twice"),
    ("values = [50, 100, 200]", "values = [1, 100, 200]", r"score\.n_prompts\.values\[0\] = 1 must be in \[2, 1000000\]"),
])
def test_a_robustness_grid_with_a_duplicate_or_an_impossible_value_is_one_line(tmp_path, old, new, message):
    """Seen red on main: accepted (a duplicate counts its universes twice: X2 moved from fragile 0.42 to 0.62)."""
    from harness.claims import grid

    with pytest.raises(grid.GridError, match=message):
        grid.load(_grid_with(tmp_path, old, new))


def test_a_duplicate_table_level_value_is_refused(tmp_path):
    import re

    from harness.claims import grid

    text = (REPO_ROOT / "claims" / "robustness.toml").read_text()
    first = re.search(r"\[table\.(\w+)\][^\[]*?values = \[([^\]\n]+)\]", text)
    value = first.group(2).split(",")[0].strip()
    path = tmp_path / "robustness.toml"
    path.write_text(text.replace(first.group(0), first.group(0).replace(f"values = [{first.group(2)}]", f"values = [{first.group(2)}, {value}]"), 1))
    with pytest.raises(grid.GridError, match=rf"table\.{first.group(1)}\.values lists .* twice"):
        grid.load(path)


def _verdicts_with(tmp_path, old: str, new: str) -> Path:
    from harness.claims import verdicts

    text = verdicts.VERDICTS_FILE.read_text()
    assert old in text
    path = tmp_path / "verdicts.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_the_committed_coverage_has_no_problem_a_copy_would_show(tmp_path):
    from harness.claims import verdicts

    copy = _verdicts_with(tmp_path, "[coverage]", "[coverage]")
    assert verdicts.record_problems(copy) == []
    assert verdicts.coverage_problems(verdicts.load_coverage(), copy) == []


def test_a_deleted_coverage_line_of_a_source_with_recorded_verdicts_is_red(tmp_path):
    """Seen red on main: [] (the zoo:zero line deleted, its 17 recorded verdicts kept)."""
    import re

    from harness.claims import verdicts

    block = re.search(r'"zoo:zero" = \[[^\]]*\]\n', verdicts.VERDICTS_FILE.read_text()).group(0)
    problems = verdicts.record_problems(_verdicts_with(tmp_path, block, ""))
    assert len(problems) == 1 and "zoo:zero" in problems[0] and "[coverage]" in problems[0], problems


def test_a_deleted_model_line_of_a_coverage_entry_is_red(tmp_path):
    """Seen red on main: [] (published's gpt2 line deleted: the source has a model its record lacks)."""
    from harness.claims import verdicts

    now = verdicts.load_coverage()  # what each recorded source covers in a run of the committed data
    problems = verdicts.coverage_problems(now, _verdicts_with(tmp_path, '    "gpt2",\n', ""))
    assert len(problems) == 1 and "published" in problems[0] and "gpt2" in problems[0], problems


def test_a_coverage_line_naming_a_ghost_source_is_red(tmp_path):
    """Seen red on main: [] (a [coverage] entry for a source that does not exist)."""
    from harness.claims import verdicts

    problems = verdicts.record_problems(_verdicts_with(tmp_path, "[coverage]\n", '[coverage]\n"ghost:mean" = ["gpt2"]\n'))
    assert len(problems) == 1 and "ghost:mean" in problems[0] and "no source" in problems[0], problems


def test_a_file_table_whose_categories_contradict_its_deltas_gets_a_note(tmp_path):
    """Seen red on main: no note (the source's notes named only the file, its rows and models)."""
    from harness.claims import sources
    from harness.data import published

    text = (published.PUBLISHED_DIR / published.HEADS_FILE).read_text()
    row = "pythia,pythia-70m,0,1,-0.1038367301225662,0.0,0.1038367301225662,0.0,0.1038367301225662,ioi_only"
    assert row in text
    whole, cut = tmp_path / "whole.csv", tmp_path / "cut.csv"
    whole.write_text(text)
    cut.write_text(text.replace(row, "pythia,pythia-70m,0,1,-0.01,0.0,0.01,0.0,0.01,ioi_only"))  # ioi_only, delta_ioi above -tau
    assert not [n for n in sources.load(f"file:{whole}").notes if "contradict" in n]  # the origin's labels fit their rule
    [note] = [n for n in sources.load(f"file:{cut}").notes if "contradict" in n]
    assert note.startswith(f"file:{cut}: pythia-70m: 1 head's category contradicts its deltas under both the signed and "
                           "the absolute tau=0.05 rule: L0H1 (ioi_only; delta_ioi -0.010, delta_anti +0.000)"), note

