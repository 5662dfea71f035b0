"""Head tables recomputed from model weights: datasets + models + head scans + cache, glued.

`head_table(model)` scores every head of a model on the IOI task and on the control (anti-repeat) task
and returns a table in the published schema (so every transfer function and claim test takes it),
with extra columns: normalised deltas and the clean logit difference and accuracy of each task.
Each task's scan is cached by content (harness.cache); a model is loaded only when a scan is missing.
Look-ups try the user cache, then the scores committed with the repository (fixtures/recomputed/,
matched by the same content key), so the default SmolLM2 table needs no scan on a fresh clone.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pandas as pd

from harness import HARNESS_VERSION, sizes
from harness.data import designs
from harness.data.designs import Design
from harness.models import registry
from harness.models.registry import ModelSpec
from harness.runs.cache import CacheKey, ScoreCache, committed_cache, fallback_cache
from harness.data.head_table import categorize, with_derived_columns
from harness.runs.sharded_scan import run_sharded
from harness.runs.shards import ShardStore
from harness.runs.run_spec import RunSpec
from harness.scoring.methods import ABLATION_METHODS, LAYERED_ALGORITHMS

log = logging.getLogger("harness.recompute")

TASKS = ("ioi", "anti")


class _LazyModel:
    """Loads the model on first use only, so a fully cached head table never touches the weights."""

    def __init__(self, spec: ModelSpec, run: RunSpec, device: str):
        self.spec, self.run, self.device = spec, run, device
        self._loaded = None

    def get(self):
        if self._loaded is None:
            from harness.models.loaders import load_model

            self._loaded = load_model(
                self.spec, weights=self.run.weights, device=self.device, dtype=self.run.dtype, seed=self.run.seed
            )
        return self._loaded


def key_weights(run: RunSpec) -> str:
    """The weights a cache key records: a perturbed twin's "requant:SCHEME", else "pretrained" (a seeded
    architecture twin is told apart by its fingerprint, so existing keys stay as they were)."""
    return run.weights if run.weights not in ("pretrained", "twin") else "pretrained"


def cache_key(model: ModelSpec, task: str, run: RunSpec) -> CacheKey:
    """The content key of one task's scan of `model` under `run` (WeightsNotFound when the
    pretrained weights are absent: their fingerprint is part of the key)."""
    from harness.models.weights import weights_fingerprint

    fingerprint = weights_fingerprint(model, run.weights, run.seed)
    weights = key_weights(run)
    return CacheKey.make(model.name, fingerprint, run.task(task, model).key(), run.method, run.algorithm_key, run.dtype, weights)


def cached_scores(
    key: CacheKey, cache: ScoreCache, *, use_committed: bool = True
) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """A task's scores under exactly `key`: from the committed layer (what the repository vouches for;
    a corrupt committed entry is an error, CommittedEntryCorrupt), else from the user cache, else None.
    The metadata's "entry" says which entry answered (`entry_origin`)."""
    for layer in ((committed_cache(),) if use_committed else ()) + (cache,):
        hit = layer.get(key)
        if hit is not None:
            log.info("%s scores %s %s", "committed" if layer.read_only else "cached", key.model, key.digest)
            return hit[0], {**hit[1], "entry": entry_origin(layer, key)}
    return None


def entry_origin(cache: ScoreCache, key: CacheKey) -> str:
    """Which entry a table came from, as reports print it: 'committed fixtures/recomputed/M/D' or
    'user cache PATH (harness VERSION)'."""
    from harness.paths import REPO_ROOT

    folder = cache.entry_dir(key)
    if cache.read_only:
        try:
            return f"committed {folder.relative_to(REPO_ROOT)}"
        except ValueError:
            return f"committed {folder}"
    return f"user cache {folder} (harness {key.harness_version})"


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ("torch", "transformers", "transformer-lens"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "absent"
    return out


def _device_used(device: str, executor: str) -> str:
    """The device a local scan ran on ("auto" resolved); Ray tasks resolve it on their own nodes."""
    if executor != "local":
        return f"{device} (resolved on each {executor} node)"
    from harness.models.loaders import resolve_device

    return str(resolve_device(device))


def task_scores(
    model: ModelSpec,
    task: str,
    run: RunSpec = RunSpec(),
    *,
    device: str = "auto",
    refresh: bool = False,
    cache: ScoreCache | None = None,
    progress: bool = True,
    use_committed: bool = True,
    workers: int = 1,
    executor: str = "local",
    ray_address: str | None = None,
    _lazy: _LazyModel | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per-head scores (layer, head, delta, delta_norm) of one task, from a cache or computed.
    `refresh` recomputes; `use_committed=False` ignores the scores committed in fixtures/recomputed/.
    The exact batched scan runs as resumable layer shards (harness.sharded_scan), on `workers`
    local processes or Ray tasks (`executor`), and keeps split-half deltas and per-prompt arrays."""
    cache = cache or ScoreCache()
    key = cache_key(model, task, run)
    if not refresh:
        hit = cached_scores(key, cache, use_committed=use_committed)
        if hit is not None:
            log.info("cache hit %s %s %s", model.name, task, key.digest)
            return hit
    sizes.check_scan(model.name, model.n_layers, model.n_heads, run.n_prompts)  # before a shard, a model or a prompt
    if executor == "local":
        _device_used(device, executor)  # a device this machine lacks: one line, before --refresh clears a shard
    if run.algorithm in LAYERED_ALGORITHMS:
        with ShardStore(key).scan_lock():  # one scan per key at a time: a second one waits here
            if not refresh:  # ... and then reads the first one's table instead of clearing its shards
                hit = cached_scores(key, cache, use_committed=use_committed)
                if hit is not None:
                    log.info("computed meanwhile by another scan: %s %s %s", model.name, task, key.digest)
                    return hit
            else:
                ShardStore(key).clear()
            started = time.perf_counter()
            table, meta, arrays = run_sharded(
                model, task, run, key, device=device, progress=progress, workers=workers, executor=executor,
                ray_address=ray_address, load=(_lazy or _LazyModel(model, run, device)).get,
            )
            meta.update(
                seconds=round(time.perf_counter() - started, 2),
                created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                versions=_versions(),
                device=_device_used(device, executor),
            )
            folder = cache.put(key, table, meta, arrays)
            ShardStore(key).clear()
        return table, {**meta, "key": key.as_dict(), "entry": f"computed now, stored in {folder}"}
    lazy = _lazy or _LazyModel(model, run, device)
    loaded = lazy.get()
    from harness.scoring.head_scores import score_heads
    from harness.data.ioi_dataset import build_prompts

    prompts = build_prompts(run.task(task, model), loaded.tokenizer)
    started = time.perf_counter()
    result = score_heads(loaded.bridge, prompts, method=run.method, algorithm=run.algorithm, progress=progress)
    meta = {
        "clean_logit_diff": result.clean_logit_diff,
        "clean_accuracy": result.clean_accuracy,
        "n_prompts": len(prompts),
        "n_dropped_words": len(prompts.dropped),
        "device": result.device,
        "dtype": result.dtype,
        "seconds": round(time.perf_counter() - started, 2),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": _versions(),
    }
    table = result.table[["layer", "head", "delta", "delta_norm"]]
    folder = cache.put(key, table, meta)
    return table, {**meta, "key": key.as_dict(), "entry": f"computed now, stored in {folder}"}


def head_table(
    model: ModelSpec,
    run: RunSpec = RunSpec(),
    *,
    device: str = "auto",
    refresh: bool = False,
    cache: ScoreCache | None = None,
    progress: bool = True,
    use_committed: bool = True,
    **scan: Any,
) -> pd.DataFrame:
    """The model's full head table (all heads) in the published schema, plus extra columns;
    `table.attrs["tasks"]` holds each task's metadata (cache key, clean LD, device, seconds)."""
    lazy = _LazyModel(model, run, device)
    per_task = {
        t: task_scores(
            model, t, run, device=device, refresh=refresh, cache=cache, progress=progress, use_committed=use_committed,
            _lazy=lazy, **scan,
        )
        for t in TASKS
    }
    return assemble_head_table(model, run, per_task)


def assemble_head_table(
    model: ModelSpec, run: RunSpec, per_task: dict[str, tuple[pd.DataFrame, dict[str, Any]]]
) -> pd.DataFrame:
    """The head table of `model` from its per-task scores and metadata ({"ioi": ..., "anti": ...})."""
    ioi, anti = per_task["ioi"][0], per_task["anti"][0]
    merged = ioi.merge(anti, on=["layer", "head"], suffixes=("_ioi", "_anti"), validate="one_to_one")
    table = pd.DataFrame(
        {
            "family": model.family,
            "model": model.name,
            "layer": merged["layer"].astype(int),
            "head": merged["head"].astype(int),
            "delta_ioi": merged["delta_ioi"],
            "delta_anti": merged["delta_anti"],
        }
    )
    table = with_derived_columns(table)
    table["category"] = categorize(table["delta_ioi"], table["delta_anti"], run.tau, run.rule)
    table["delta_norm_ioi"] = merged["delta_norm_ioi"]
    table["delta_norm_anti"] = merged["delta_norm_anti"]
    for task, (_, meta) in per_task.items():
        table[f"clean_logit_diff_{task}"] = meta["clean_logit_diff"]
        table[f"clean_accuracy_{task}"] = meta["clean_accuracy"]
    table.attrs["tasks"] = {task: meta for task, (_, meta) in per_task.items()}
    return table


def committed_head_table(model: ModelSpec, run: RunSpec = RunSpec()) -> pd.DataFrame:
    """The head table committed in fixtures/recomputed/ for `model` under `run`, read without the
    weights (matched on everything in the key but the weights fingerprint and harness version, which
    the metadata records; the newest entry wins). FileNotFoundError, naming the command that writes
    it, when a task is missing."""
    per_task = {}
    for task in TASKS:
        found = stored_scores(model, task, run, caches=(committed_cache(),))
        if found is None:
            raise FileNotFoundError(
                f"no committed {task} scores for {model.name} under {run}; write them with "
                f"`python -m harness scores --model {model.name} --task both --method {run.method} --commit`"
            )
        per_task[task] = found[:2]
    return assemble_head_table(model, run, per_task)


def stored_scores(
    model: ModelSpec, task: str, run: RunSpec, *, caches: tuple[ScoreCache, ...] | None = None
) -> tuple[pd.DataFrame, dict[str, Any], dict[str, Any] | None] | None:
    """The stored scores of `model`'s `task` under `run`, found without the weights (matched on
    everything in the key but the weights fingerprint and harness version): (table, meta, per-prompt
    arrays or None), or None. Precedence: the committed layer first (its newest entry; a corrupt one is
    an error, never skipped), then the user cache, whose entries count only when this harness version
    wrote them (an entry of another version never replaces a committed table, nor answers for one).
    The metadata's "entry" says which entry answered (`entry_origin`)."""
    layers = caches or (committed_cache(), ScoreCache(), *fallback_cache())
    for cache in sorted(layers, key=lambda c: not c.read_only):  # committed layers first
        found = []
        for meta in cache.entries(model.name):
            stored = meta.get("key", {})
            if not _same_run(stored, model, task, run):
                continue
            if not cache.read_only and stored.get("harness_version") != HARNESS_VERSION:
                log.info("ignored %s: written by harness %s, this is %s", cache.root, stored.get("harness_version"), HARNESS_VERSION)
                continue
            found.append((str(meta.get("created", "")), meta))
        for _, meta in sorted(found, key=lambda item: item[0], reverse=True):
            key = CacheKey.from_dict(meta["key"])
            hit = cache.get(key)
            if hit is not None:
                return hit[0], {**hit[1], "entry": entry_origin(cache, key)}, cache.arrays(key)
    return None


def _same_run(stored_key: dict[str, Any], model: ModelSpec, task: str, run: RunSpec) -> bool:
    """Whether a stored cache key is `model`'s `task` under `run`, whatever weights and harness
    version it was computed with; a seeded twin's fingerprint needs no weights, so it must match too
    (a design whose twin changed its config or tokenizer never reads the old twin's table)."""
    wanted = {"model": model.name, "dataset": run.task(task, model).key(), "method": run.method, "algorithm": run.algorithm_key}
    if run.weights == "twin":
        from harness.models.weights import weights_fingerprint

        wanted["fingerprint"] = weights_fingerprint(model, "twin", run.seed)
    same = {k: stored_key.get(k) for k in wanted} == json.loads(json.dumps(wanted))  # tuples read back as lists
    weights = key_weights(run)
    return same and stored_key.get("dtype", "float32") == run.dtype and stored_key.get("weights", "pretrained") == weights


def design_run(
    design: Design, model: str, method: str, dtype: str | None = None, weights: str | None = None, n_prompts: int | None = None
) -> RunSpec:
    """The RunSpec of `model`'s tables in `design` (its [run] table and the model's overrides:
    prompt style, prompt count, dtype, weights); `dtype`, `weights` ("requant:SCHEME" for the table of
    a perturbed twin, registry.ZOO_WEIGHTS_TWIN) and `n_prompts` override the design's."""
    run = design.run_of(model)
    counts = run["n_prompts"]
    if isinstance(counts, dict) and set(counts) - set(ABLATION_METHODS):
        raise designs.DesignError(
            f"design file {design.path}, models.{model!r}: n_prompts names no method "
            f"{', '.join(sorted(set(counts) - set(ABLATION_METHODS)))} (methods: {', '.join(ABLATION_METHODS)})"
        )
    weights = weights or run["weights"]
    return RunSpec(
        method=method, style=run["style"], n_prompts=n_prompts or design.n_prompts_of(model, method, weights),
        dtype=dtype or run["dtype"], weights=weights, seed=run.get("prompt_seed", 0),
    )


def zoo_run(model: str, method: str, dtype: str | None = None, weights: str = "pretrained") -> RunSpec:
    """The RunSpec of a zoo table (claims/designs/zoo.toml): the zoo prompt style (the same sentences
    for all four models), IOI only, the design's prompt count and dtype for the model; `weights`
    "requant:SCHEME" for the table of its perturbed twin."""
    return design_run(designs.builtin("zoo"), model, method, dtype, weights)


def commit_scores(
    model: ModelSpec, run: RunSpec = RunSpec(), *, cache: ScoreCache | None = None, tasks: tuple[str, ...] = TASKS
) -> list[str]:
    """Copy `model`'s scores for `tasks` under `run` from the user cache into fixtures/recomputed/
    (to be committed), with their per-prompt arrays, replacing committed entries of the same run
    computed from other weights or by another harness version. Returns the written folders."""

    from harness.paths import FIXTURES_DIR

    cache = cache or ScoreCache()
    target = ScoreCache(FIXTURES_DIR / "recomputed")
    written = []
    for task in tasks:
        key = cache_key(model, task, run)
        hit = cache.get(key)
        if hit is None and committed_cache().get(key) is not None:
            log.warning("%s %s scores under this key are committed already", model.name, task)
            continue
        if hit is None:
            raise FileNotFoundError(f"{model.name} {task} scores under {run} are not in the cache {cache.root}; compute them first")
        for meta in target.entries(model.name):
            stored = meta.get("key", {})
            if _same_run(stored, model, task, run) and stored != key.as_dict():
                target.remove(stored)
        table, meta = hit
        kept = {k: v for k, v in meta.items() if k not in ("key", "table_sha256", "arrays_sha256", "entry")}
        folder = target.put(key, table, kept, cache.arrays(key))
        target.unlock(key)
        written.append(str(folder))
    return written


def scores_table(
    model: ModelSpec, run: RunSpec, *, task: str = "ioi", device: str = "auto", refresh: bool = False, **scan: Any
) -> pd.DataFrame:
    """What `python -m harness scores` prints: one task's scores, or with task='both' the head table.
    `scan` goes to the sharded scan (workers, executor, ray_address)."""
    if task == "both":
        table = head_table(model, run, device=device, refresh=refresh, **scan)
        table.attrs["entries"] = [meta.get("entry", "?") for meta in table.attrs["tasks"].values()]
        return table
    table, meta = task_scores(model, task, run, device=device, refresh=refresh, **scan)
    out = table.assign(clean_logit_diff=meta["clean_logit_diff"], clean_accuracy=meta["clean_accuracy"])
    out.attrs["entries"] = [meta.get("entry", "?")]
    return out


def seed_models() -> list[ModelSpec]:
    """The models of the seed's design (claims/designs/seed.toml), in registry order."""
    return in_registry_order(designs.builtin("seed").specs)


def in_registry_order(specs: tuple[ModelSpec, ...]) -> list[ModelSpec]:
    """`specs` in the registry's order (the order of the combined tables)."""
    order = {name: i for i, name in enumerate(registry.MODELS)}
    return sorted(specs, key=lambda spec: order[spec.name])


def recomputed_tables(method: str, *, compute: bool = True, device: str = "auto") -> tuple[pd.DataFrame, list[str]]:
    """Head tables of the seed design's models for a recomputed source (`design_tables`)."""
    return design_tables(designs.builtin("seed"), method, compute=compute, device=device)


def design_tables(
    design: Design, method: str, *, compute: bool = True, device: str = "auto"
) -> tuple[pd.DataFrame, list[str]]:
    """Head tables (both tasks) of a design's models under its run spec: cached ones, and (when
    `compute`) freshly computed ones for every model whose weights are here. Notes say, one short line
    each, what is absent and why (`python -m harness models` gives the full story per model)."""
    from harness.models.weights import weights_available

    tables, absent, uncached = [], [], []
    cache = ScoreCache()
    models = in_registry_order(design.specs)
    for model in models:
        run = design_run(design, model.name, method)
        if run.weights == "pretrained" and not weights_available(model)[0]:
            absent.append(model.name)
            continue
        if not compute and not _fully_cached(model, run, cache):
            uncached.append(model.name)
            continue
        table = head_table(model, run, device=device, cache=cache)
        # which stored entry each task's scores came from, for the reports (the metadata keeps it too)
        table["entry"] = "; ".join(f"{task} {meta.get('entry', '?')}" for task, meta in table.attrs["tasks"].items())
        tables.append(table)
    notes = []
    if absent:
        notes.append(
            f"pretrained weights absent from the local Hugging Face cache for {len(absent)} of "
            f"{len(models)} {design.name} models ({', '.join(absent)}); `python -m harness models` says where "
            "the harness looked and how to get them"
        )
    if uncached:
        notes.append(
            f"not cached and --no-compute given: {', '.join(uncached)} "
            f"(run `python -m harness scores --model NAME --task both --method {method}`)"
        )
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    return table, notes


def scan_missing_ioi(design: Design, method: str, *, device: str = "auto") -> list[str]:
    """Scan (resumably, cached) the IOI table of every model of an IOI-only design that has none stored
    and whose weights are here; returns the models scanned."""
    from harness.models.weights import weights_available

    scanned = []
    for model in design.specs:
        run = design_run(design, model.name, method)
        if stored_scores(model, "ioi", run) is not None:
            continue
        if run.weights == "pretrained" and not weights_available(model)[0]:
            continue
        task_scores(model, "ioi", run, device=device)
        scanned.append(model.name)
    return scanned


def _fully_cached(model: ModelSpec, run: RunSpec, cache: ScoreCache) -> bool:
    return all(cached_scores(cache_key(model, t, run), cache) is not None for t in TASKS)
