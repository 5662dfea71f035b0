"""Head tables recomputed from model weights: datasets + models + head scans + cache, glued.

`head_table(model)` scores every head of a model on the IOI task and on the control (anti-repeat) task
and returns a table in the published schema (so every transfer function and claim test takes it),
with extra columns: normalised deltas and the clean logit difference and accuracy of each task.
Each task's scan is cached by content (harness.cache); a model is loaded only when a scan is missing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from . import registry
from .cache import CacheKey, ScoreCache
from .head_table import DEFAULT_TAU, categorize, with_derived_columns
from .ioi_dataset import TaskSpec

log = logging.getLogger("harness.recompute")

DEFAULT_N_PROMPTS = 200
DEFAULT_SEED = 0
TASKS = ("ioi", "anti")


@dataclass(frozen=True)
class RunSpec:
    """Everything that decides a head table besides the model."""

    method: str = "mean"  # zero (the origin's) | mean (over the ABC distribution; our default)
    algorithm: str = "batched"  # batched (exact) | naive (exact, slow) | attribution (approximate)
    style: str = "wang"
    n_prompts: int = DEFAULT_N_PROMPTS
    seed: int = DEFAULT_SEED
    weights: str = "pretrained"
    rule: str = "signed"  # category rule (origin code); "absolute" = origin draft
    tau: float = DEFAULT_TAU

    def task(self, task: str) -> TaskSpec:
        return TaskSpec(task=task, style=self.style, n_prompts=self.n_prompts, seed=self.seed)


class _LazyModel:
    """Loads the model on first use only, so a fully cached head table never touches the weights."""

    def __init__(self, name: str, run: RunSpec, device: str):
        self.name, self.run, self.device = name, run, device
        self._loaded = None

    def get(self):
        if self._loaded is None:
            from .models import load_model

            self._loaded = load_model(self.name, weights=self.run.weights, device=self.device, seed=self.run.seed)
        return self._loaded


def task_scores(
    model: str,
    task: str,
    run: RunSpec = RunSpec(),
    *,
    device: str = "auto",
    refresh: bool = False,
    cache: ScoreCache | None = None,
    progress: bool = True,
    _lazy: _LazyModel | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per-head scores (layer, head, delta, delta_norm) of one task, from the cache or computed."""
    from .models import weights_fingerprint

    cache = cache or ScoreCache()
    spec = run.task(task)
    key = CacheKey.make(model, weights_fingerprint(model, run.weights, run.seed), spec.key(), run.method, run.algorithm)
    if not refresh:
        hit = cache.get(key)
        if hit is not None:
            log.info("cache hit %s %s %s", model, task, key.digest)
            return hit
    lazy = _lazy or _LazyModel(model, run, device)
    loaded = lazy.get()
    from .head_scores import score_heads
    from .ioi_dataset import build_prompts

    prompts = build_prompts(spec, loaded.tokenizer)
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
    }
    table = result.table[["layer", "head", "delta", "delta_norm"]]
    cache.put(key, table, meta)
    return table, {**meta, "key": key.as_dict()}


def head_table(
    model: str,
    run: RunSpec = RunSpec(),
    *,
    device: str = "auto",
    refresh: bool = False,
    cache: ScoreCache | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """The model's full head table (all heads) in the published schema, plus extra columns."""
    spec = registry.get(model)
    lazy = _LazyModel(model, run, device)
    per_task = {t: task_scores(model, t, run, device=device, refresh=refresh, cache=cache, progress=progress, _lazy=lazy) for t in TASKS}
    ioi, anti = per_task["ioi"][0], per_task["anti"][0]
    merged = ioi.merge(anti, on=["layer", "head"], suffixes=("_ioi", "_anti"), validate="one_to_one")
    table = pd.DataFrame(
        {
            "family": spec.family,
            "model": model,
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
    return table


def scores_table(
    model: str,
    *,
    task: str = "ioi",
    method: str = "mean",
    n_prompts: int = DEFAULT_N_PROMPTS,
    seed: int = DEFAULT_SEED,
    style: str = "wang",
    device: str = "auto",
    weights: str = "pretrained",
    refresh: bool = False,
    algorithm: str = "batched",
) -> pd.DataFrame:
    """What `python -m harness scores` prints: one task's scores, or with task='both' the head table."""
    run = RunSpec(method=method, algorithm=algorithm, style=style, n_prompts=n_prompts, seed=seed, weights=weights)
    if task == "both":
        return head_table(model, run, device=device, refresh=refresh)
    table, meta = task_scores(model, task, run, device=device, refresh=refresh)
    return table.assign(clean_logit_diff=meta["clean_logit_diff"], clean_accuracy=meta["clean_accuracy"])


def seed_models() -> list[str]:
    """The models of the seed's pairs, in registry order."""
    names = {m for pair in registry.SEED_PAIRS for m in pair}
    return [m for m in registry.MODELS if m in names]


def recomputed_tables(method: str, *, compute: bool = True, device: str = "auto") -> tuple[pd.DataFrame, list[str]]:
    """Head tables of the seed's models for a recomputed source: cached ones, and (when `compute`)
    freshly computed ones for every model whose weights are here. Notes say what is absent and why."""
    from .models import weights_available

    tables, notes = [], []
    run = RunSpec(method=method)
    cache = ScoreCache()
    for model in seed_models():
        available, why = weights_available(model)
        if not available:
            notes.append(f"{model}: weights absent ({why.splitlines()[0]})")
            continue
        if not compute and not _fully_cached(model, run, cache):
            notes.append(f"{model}: not cached (run `python -m harness scores --model {model} --task both --method {method}`)")
            continue
        tables.append(head_table(model, run, device=device, cache=cache))
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    return table, notes


def _fully_cached(model: str, run: RunSpec, cache: ScoreCache) -> bool:
    from .models import weights_fingerprint

    fp = weights_fingerprint(model, run.weights, run.seed)
    return all(cache.get(CacheKey.make(model, fp, run.task(t).key(), run.method, run.algorithm)) for t in TASKS)
