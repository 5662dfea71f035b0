"""A layered scan (the exact batched scan, or the IG screen) of one model and task as independent layer
shards: resumable and parallel.

`run_sharded` scans the layers that have no shard yet (harness.shards), in this process, in `workers`
local processes (one model load each, layers dealt round-robin so early, costlier layers spread), or
as Ray tasks on a cluster whose nodes share the cache path. It then merges every shard into the head
table. Killing a scan loses at most the layers in flight; rerunning the same command resumes.

Executors (one registry, `EXECUTORS`): "local" (this process, or a process pool when workers > 1) and
"ray" (`ray.init(address=...)`; each task asks for `num_gpus` when the device is CUDA).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from harness.models.registry import ModelSpec
from harness.runs.cache import CacheKey
from harness.paths import CACHE_ENV, cache_dir
from harness.runs.run_spec import RunSpec
from harness.runs.shards import ShardStore, shard_root
from harness.errors import InputError

log = logging.getLogger(__name__)

EXECUTORS = ("local", "ray")


def _deal(layers: list[int], workers: int) -> list[list[int]]:
    """Layers dealt round-robin to `workers` lists (costly early layers spread evenly)."""
    return [chunk for chunk in (layers[i::workers] for i in range(workers)) if chunk]


def scan_layers(
    model: ModelSpec, task: str, run: dict[str, Any], layers: list[int], key: dict[str, Any], *,
    device: str = "auto", threads: int | None = None, cache_root: str | None = None, progress: bool = True,
    loaded: Any = None, on_saved: Callable[[int], None] | None = None, shard_root: str | None = None,
) -> list[int]:
    """Scan `layers` of `model` and store one shard per layer (the body of every executor's task;
    plain arguments and the model's spec only, so it pickles for process pools and Ray: a worker never
    looks the model up again, so a design's inline models scan there too). In process, `loaded` reuses an
    already loaded model and `on_saved(layer)` follows each stored shard. Returns the layers stored."""
    import torch

    from harness.scoring.batched import iter_batched_layers
    from harness.scoring.integrated_gradients import iter_ig_layers
    from harness.data.ioi_dataset import build_prompts
    from harness.models.loaders import load_model

    if cache_root:
        os.environ[CACHE_ENV] = cache_root
    if threads:
        torch.set_num_threads(threads)
    spec = RunSpec(**run)
    if loaded is None:
        loaded = load_model(model, weights=spec.weights, device=device, dtype=spec.dtype, seed=spec.seed, progress=progress)
    prompts = build_prompts(spec.task(task, model), loaded.tokenizer)
    store = ShardStore(CacheKey.from_dict(key), root=shard_root)
    stored = []
    desc = f"{model.name} {task} layers {layers[0]}.." if len(layers) > 1 else f"{model.name} {task} layer {layers[0]}"
    if spec.algorithm == "attribution_ig":
        layer_scan = iter_ig_layers(loaded.bridge, prompts, spec.method, layers=layers, steps=spec.ig_steps,
                                    path=spec.ig_path, progress=progress, desc=desc)
    else:
        layer_scan = iter_batched_layers(loaded.bridge, prompts, spec.method, layers=layers, progress=progress, desc=desc)
    last = time.perf_counter()
    for layer, ablated, clean in layer_scan:
        now = time.perf_counter()
        store.save(layer, ablated.numpy(), clean.numpy(), seconds=now - last)
        last = now
        stored.append(layer)
        if on_saved is not None:
            on_saved(layer)
    return stored


def _run_local(model, task, run, todo, key, device, workers, progress, bar, load) -> None:
    if workers <= 1:
        scan_layers(model, task, run, todo, key, device=device, progress=progress, loaded=load() if load else None,
                    on_saved=lambda layer: bar.update(1))
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [
            pool.submit(scan_layers, model, task, run, chunk, key, device=device, threads=threads,
                        cache_root=str(cache_dir()), progress=False, shard_root=str(shard_root()))
            for chunk in _deal(todo, workers)
        ]
        for future in futures:
            bar.update(len(future.result()))


RAY_CONNECT_TIMEOUT_S = 10.0


def reachable(address: str | None, timeout: float = RAY_CONNECT_TIMEOUT_S) -> None:
    """ConnectionError (one line) when a Ray address HOST:PORT (or ray://HOST:PORT) takes no TCP
    connection within `timeout` seconds; ray.init itself would wait minutes. None, "auto" and
    "local" need no probe."""
    import socket

    if address in (None, "", "auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"--ray-address {address!r}: expected HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as err:
        raise ConnectionError(
            f"--ray-address {address}: no Ray cluster answers there within {timeout:g} s ({err.strerror or err}); "
            "start one (`ray start --head`) or leave --ray-address out for a local Ray"
        ) from None


def _run_ray(model, task, run, todo, key, device, workers, address, bar) -> None:
    reachable(address)
    try:
        import ray
    except ImportError:
        raise RuntimeError("--executor ray needs Ray: pip install 'ioi-head-claims[cluster]' (or ray)") from None
    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    gpus = 1 if device.startswith("cuda") else 0
    remote = ray.remote(num_gpus=gpus, num_cpus=1)(scan_layers)
    refs = [
        remote.remote(model, task, run, chunk, key, device=device, threads=1, cache_root=str(cache_dir()), progress=False)
        for chunk in _deal(todo, max(1, workers))
    ]
    pending = list(refs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        bar.update(len(ray.get(ready[0])))


def run_sharded(
    model: ModelSpec, task: str, run: Any, key: CacheKey, *, device: str = "auto", progress: bool = True,
    workers: int = 1, executor: str = "local", ray_address: str | None = None, load: Callable[[], Any] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any], dict[str, np.ndarray]]:
    """Scan every layer of `model` that has no shard under `key`, then merge: (table, meta, arrays).

    table: layer, head, delta, delta_norm and the two split halves' deltas (prompts [0, N/2) and
    [N/2, N)); arrays: per-prompt ablated and clean logit differences (float32) for resampling.
    `load` gives an already loaded model for an in-process scan (one load for both tasks of a table)."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    n_layers = model.n_layers
    store = ShardStore(key)
    done = store.done()
    todo = [layer for layer in range(n_layers) if layer not in done]
    started = time.perf_counter()
    with tqdm(total=n_layers, initial=len(done), desc=f"{model.name} {task} layers", unit="layer",
              disable=not progress, file=sys.stderr) as bar:
        if done:
            # stderr, like the bar: stdout may carry the table (`python -m harness scores` without --out)
            bar.write(f"resuming {model.name} {task}: {len(done)} of {n_layers} layers already scanned ({store.folder})",
                      file=sys.stderr)
        if todo:
            run_dict = asdict(run)
            if executor == "ray":
                _run_ray(model, task, run_dict, todo, key.as_dict(), device, workers, ray_address, bar)
            else:
                _run_local(model, task, run_dict, todo, key.as_dict(), device, workers, progress, bar, load)
    missing = [layer for layer in range(n_layers) if layer not in store.done()]
    if missing:
        raise RuntimeError(f"{model.name} {task}: layers {missing} have no shard after the scan; rerun to resume")
    ablated, clean = store.load(list(range(n_layers)))
    table = merged_table(ablated, clean)
    meta = {
        "clean_logit_diff": float(clean.mean()),
        "clean_accuracy": float((clean > 0).mean()),
        "n_prompts": int(clean.shape[0]),
        "split_halves": f"delta_a: prompts 0..{clean.shape[0] // 2 - 1}, delta_b: prompts {clean.shape[0] // 2}..{clean.shape[0] - 1}",
        "dtype": key.dtype,
        "workers": workers,
        "executor": executor,
        "resumed_layers": len(done),
        "seconds_this_run": round(time.perf_counter() - started, 2),
    }
    layer_seconds = store.seconds(list(range(n_layers)))
    if layer_seconds is not None:  # every layer's scan, over all the runs that stored its shards (process-seconds)
        meta["layer_seconds_all_runs"] = round(layer_seconds, 2)
    arrays = {"ablated": ablated.astype(np.float32), "clean": clean.astype(np.float32)}
    return table, meta, arrays


def merged_table(ablated: np.ndarray, clean: np.ndarray) -> pd.DataFrame:
    """The head table of per-prompt logit differences: ablated (L, H, N), clean (N,)."""
    n_layers, n_heads, n = ablated.shape
    half = n // 2

    def delta(rows: slice) -> np.ndarray:
        return (ablated[:, :, rows].mean(-1) - clean[rows].mean()).reshape(-1)

    full = delta(slice(None))
    return pd.DataFrame(
        {
            "layer": np.repeat(np.arange(n_layers, dtype=np.int64), n_heads),
            "head": np.tile(np.arange(n_heads, dtype=np.int64), n_layers),
            "delta": full,
            "delta_norm": full / clean.mean(),
            "delta_a": delta(slice(0, half)),
            "delta_b": delta(slice(half, n)),
        }
    )
