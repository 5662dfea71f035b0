"""The resumable, parallel exact scan (`harness.runs.sharded_scan`) on an architecture twin of
pythia-70m (6 layers x 8 heads, random weights, no download), a few prompts, CPU.

- kill and resume: a real `python -m harness scores` process is SIGKILLed once two layer shards
  are stored; the same command run again says "2 of 6 layers already scanned", scans only the rest,
  and prints exactly (byte for byte) the table an uninterrupted run prints;
- `--workers 2` (two spawned processes, one model load each) gives the table of one worker exactly;
- the Ray executor on a local Ray instance (two CPUs, two tasks) gives the local executor's table
  exactly, and its tasks write the shards under the driver's cache (passed as `cache_root`), not
  under the cache their own environment names. Skipped with a reason when Ray is not installed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from harness.models import registry
from harness.paths import CACHE_ENV, REPO_ROOT
from harness.runs.recompute import RunSpec, cache_key
from harness.runs.sharded_scan import run_sharded
from harness.runs.shards import ShardStore

pytestmark = pytest.mark.integration

MODEL = "pythia-70m"
N_LAYERS = 6
N_PROMPTS = 6
RUN = RunSpec(weights="twin", n_prompts=N_PROMPTS)
SCORES = ["-m", "harness", "scores", "--model", MODEL, "--weights", "twin", "--n-prompts", str(N_PROMPTS),
          "--device", "cpu", "--format", "csv"]  # fmt: skip
KILL_AFTER_SHARDS = 2
WAIT_S = 600

# Run as a script: the CLI, with ShardStore.save made to stall once KILL_AFTER_SHARDS shards exist,
# so that the kill lands mid-scan whatever the machine's speed (the shards before it are real).
STALLING_CLI = """
import sys, time
from harness.runs.shards import ShardStore
from harness.cli.main import main

save = ShardStore.save
def stalling_save(self, layer, *arrays, **options):
    path = save(self, layer, *arrays, **options)
    if len(self.done()) >= {n}:
        time.sleep(3600)
    return path
ShardStore.save = stalling_save
sys.exit(main(sys.argv[1:]))
"""


def _env(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({CACHE_ENV: str(cache), "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"})
    return env


def _cli(cache: Path, *extra: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, *SCORES, *extra], env=_env(cache), capture_output=True, text=True,
                          timeout=WAIT_S, cwd=REPO_ROOT)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _shards(cache: Path) -> list[Path]:
    return sorted((cache / "shards" / MODEL).glob("*/layer_*.npz"))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> str:
    """The CSV an uninterrupted one-worker scan prints."""
    return _cli(tmp_path_factory.mktemp("uninterrupted")).stdout


def test_killed_scan_resumes_to_the_same_table(tmp_path, uninterrupted):
    cache = tmp_path / "cache"
    script = tmp_path / "stalling_cli.py"
    script.write_text(STALLING_CLI.format(n=KILL_AFTER_SHARDS))
    proc = subprocess.Popen([sys.executable, str(script), *SCORES[2:]], env=_env(cache), cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + WAIT_S
        while len(_shards(cache)) < KILL_AFTER_SHARDS:
            assert proc.poll() is None, f"the scan ended before it was killed:\n{proc.communicate()[1][-3000:]}"
            assert time.monotonic() < deadline, "no shards within the time limit"
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    killed_with = [p.name for p in _shards(cache)]
    assert killed_with == [f"layer_{i:03d}.npz" for i in range(KILL_AFTER_SHARDS)]
    assert not (cache / "scores").exists() or not any((cache / "scores").rglob("*.parquet"))

    resumed = _cli(cache)
    assert f"{KILL_AFTER_SHARDS} of {N_LAYERS} layers already scanned" in resumed.stderr
    assert resumed.stdout == uninterrupted  # byte for byte: every float's repr
    assert _shards(cache) == []  # merged into the cache entry, then removed
    (meta_file,) = (cache / "scores").rglob("meta.json")
    meta = json.loads(meta_file.read_text())  # the cost of every layer, the killed run's included
    assert meta["resumed_layers"] == KILL_AFTER_SHARDS and meta["layer_seconds_all_runs"] > 0
    # A third run is a cache hit: same table, no scan, no resume message.
    again = _cli(cache)
    assert again.stdout == uninterrupted and "already scanned" not in again.stderr


IG = ["--algorithm", "attribution_ig", "--ig-path", "layer", "--ig-steps", "2"]


def test_killed_ig_scan_resumes_to_the_same_table_and_matches_scan_ig(tmp_path):
    """The IG screen (path "layer") is resumable like the exact scan: killed after two layer shards,
    the same command resumes to the uninterrupted table byte for byte; and that table is
    integrated_gradients.scan_ig's on the same model and prompts."""
    import io

    import numpy as np

    from harness.data.ioi_dataset import build_prompts
    from harness.models.loaders import load_model
    from harness.scoring.integrated_gradients import scan_ig

    uninterrupted = _cli(tmp_path / "whole", *IG).stdout
    cache = tmp_path / "cache"
    script = tmp_path / "stalling_cli.py"
    script.write_text(STALLING_CLI.format(n=KILL_AFTER_SHARDS))
    proc = subprocess.Popen([sys.executable, str(script), *SCORES[2:], *IG], env=_env(cache), cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + WAIT_S
        while len(_shards(cache)) < KILL_AFTER_SHARDS:
            assert proc.poll() is None, f"the scan ended before it was killed:\n{proc.communicate()[1][-3000:]}"
            assert time.monotonic() < deadline, "no shards within the time limit"
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    resumed = _cli(cache, *IG)
    assert f"{KILL_AFTER_SHARDS} of {N_LAYERS} layers already scanned" in resumed.stderr
    assert resumed.stdout == uninterrupted
    loaded = load_model(registry.get(MODEL), weights="twin", device="cpu", progress=False)
    prompts = build_prompts(RUN.task("ioi", registry.get(MODEL)), loaded.tokenizer)
    direct = scan_ig(loaded.bridge, prompts, "mean", steps=2, path="layer", progress=False).table
    table = pd.read_csv(io.StringIO(uninterrupted))
    np.testing.assert_allclose(table["delta"], direct["delta"], rtol=1e-4, atol=1e-6)


def test_two_workers_give_one_workers_table(tmp_path, uninterrupted):
    two = _cli(tmp_path / "cache", "--workers", "2")
    assert two.stdout == uninterrupted


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    """A local Ray instance of two CPUs, started while $IOI_CLAIMS_CACHE names a decoy folder, so its
    workers' environment points elsewhere than the cache the test's driver uses."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'ioi-head-claims[cluster]')")
    decoy = tmp_path_factory.mktemp("decoy-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CACHE_ENV, str(decoy))
        mp.setenv("PYTHONPATH", str(REPO_ROOT))
        mp.setenv("OMP_NUM_THREADS", "1")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        yield ray, decoy
    finally:
        ray.shutdown()


def _in_process(**scan) -> pd.DataFrame:
    key = cache_key(registry.get(MODEL), "ioi", RUN)
    table, meta, arrays = run_sharded(registry.get(MODEL), "ioi", RUN, key, device="cpu", progress=False, **scan)
    assert meta["resumed_layers"] == 0 and arrays["ablated"].shape == (N_LAYERS, 8, N_PROMPTS)
    assert meta["layer_seconds_all_runs"] > 0  # every shard stored its scan seconds
    ShardStore(key).clear()
    return table


def test_ray_executor_gives_the_local_table_and_writes_the_drivers_cache(tmp_cache, local_ray):
    ray, decoy = local_ray
    local = _in_process(executor="local", workers=1)
    key = cache_key(registry.get(MODEL), "ioi", RUN)
    on_ray = _in_process(executor="ray", workers=2)  # run_sharded raises if a layer's shard is not under tmp_cache
    pd.testing.assert_frame_equal(on_ray, local, check_exact=True)
    assert not any(decoy.rglob("layer_*.npz")), "a Ray task wrote its shards under its own environment's cache"
    assert ShardStore(key).folder.is_relative_to(tmp_cache)
