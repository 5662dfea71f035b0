"""Runs of the faithfulness measurement and where their results live.

`measure(model, method, plan)` loads a zoo model once, builds its prompt set and ablation values,
and computes m (the mean logit difference over prompts) for every head set of `plan` (a frame with
the columns of harness.analysis.faithfulness.RESULT_COLUMNS but m; built there, from the committed
zoo tables' rankings, seeded random draws and mapped sets). Sets already in the stored results of
the same spec are not recomputed, so mapped sets can be added later at the cost of their forwards.

Prompts: the zoo style (the same sentences for all four models), `FaithRun.n_prompts` of them, with
a seed other than the zoo tables' (seed 0): the sets are ranked on the zoo tables' prompts and
judged on prompts the ranking never saw.

Results: fixtures/faithfulness/<model>/<method>.csv (one row per set: kind, ranking, k, draw,
label, heads, m) and <method>.json (spec, clean and all-ablated m, seconds, dtype, versions). They
are committed; `load_results(method)` reads them without any model.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.data.head_sets import parse_heads
from harness.models.registry import ModelSpec
from harness.paths import FIXTURES_DIR

log = logging.getLogger("harness.faithfulness")

RESULTS_DIR = FIXTURES_DIR / "faithfulness"
# Zoo tables to rank heads by, per faithfulness method: each method's own table (the claims judge a
# source's sets against that source's ranking: a set ranked on another method's table is stale there).
RANKING_METHOD = {"mean": "mean", "zero": "zero", "counterfactual": "counterfactual"}
KEY_COLUMNS = ("kind", "ranking", "k", "draw", "label", "heads")
# Rows measured between two writes of the results: a killed run loses at most this many.
CHUNK_ROWS = 24


@dataclass(frozen=True)
class FaithRun:
    """What decides a stored result besides the model and the sets: prompts and dtype."""

    method: str
    n_prompts: int
    prompt_seed: int
    style: str = "zoo"
    dtype: str = "float32"

    def task(self, model: ModelSpec):
        from harness.data.ioi_dataset import TaskSpec

        return TaskSpec("ioi", style=self.style, n_prompts=self.n_prompts, seed=self.prompt_seed,
                        prepend_bos=model.prepend_bos)


def run_for(model: str, method: str, n_prompts: int, prompt_seed: int) -> FaithRun:
    """The run of a zoo model: the zoo dtype of the registry (the one its zoo table was scanned in)."""
    from harness.data import designs

    return FaithRun(method=method, n_prompts=n_prompts, prompt_seed=prompt_seed,
                    dtype=designs.builtin("zoo").run_of(model)["dtype"])


def paths(model: str, method: str, root: Path | None = None) -> tuple[Path, Path]:
    folder = (root or RESULTS_DIR) / model
    return folder / f"{method}.csv", folder / f"{method}.json"


def per_prompt_path(model: str, method: str, root: Path | None = None) -> Path:
    """<method>.npz: `ld` (rows of the CSV, prompts), each set's per-prompt logit differences."""
    return paths(model, method, root)[0].with_suffix(".npz")


def stored_per_prompt(model: str, method: str, root: Path | None = None) -> np.ndarray | None:
    """The per-prompt logit differences aligned with the stored CSV's rows, or None. `measure` writes
    them before the CSV and only appends rows, so a run killed between the two writes leaves rows here
    that the CSV does not name yet: they are cut off."""
    path = per_prompt_path(model, method, root)
    if not path.is_file():
        return None
    with np.load(path) as data:
        ld = data["ld"].astype(np.float64)
    table_path = paths(model, method, root)[0]
    if table_path.is_file():
        with table_path.open() as handle:
            n_rows = sum(1 for _ in handle) - 1
        if 0 <= n_rows < len(ld):
            log.warning("%s %s: %d per-prompt rows beyond the %d stored sets (a run stopped between two writes): cut off",
                        model, method, len(ld) - n_rows, n_rows)
            ld = ld[:n_rows]
    return ld


def stored(model: str, method: str, root: Path | None = None) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """A model's stored results under `method` and their meta, or None."""
    table_path, meta_path = paths(model, method, root)
    if not table_path.is_file() or not meta_path.is_file():
        return None
    table = pd.read_csv(table_path, keep_default_na=False, na_values={"m": [""]},
                        dtype={"heads": str, "label": str, "ranking": str})
    return table, json.loads(meta_path.read_text())


def load_results(method: str, root: Path | None = None, design: Any = None) -> pd.DataFrame:
    """Every stored result under `method` of the models of `design` (default the zoo's), concatenated
    (empty frame when none)."""
    from harness.data import designs

    models = (design or designs.builtin("zoo")).models
    parts = [hit[0] for model in models if (hit := stored(model, method, root)) is not None]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def with_per_prompt(results: pd.DataFrame, method: str, root: Path | None = None) -> pd.DataFrame:
    """`results` with an "ld" column: each set's per-prompt logit differences (an array per row, from
    <method>.npz; None for a model without them), so the claims can put intervals over prompts on f
    and on transfer efficiency."""
    if not len(results):
        return results
    out = results.copy()
    out["ld"] = None
    for model, rows in out.groupby("model", sort=False).groups.items():
        ld = stored_per_prompt(model, method, root)
        if ld is not None and len(ld) == len(rows) and np.isfinite(ld).all():
            out.loc[rows, "ld"] = pd.Series(list(ld), index=rows, dtype=object)
    return out


def _key(frame: pd.DataFrame) -> pd.Series:
    return frame[list(KEY_COLUMNS)].astype(str).agg("|".join, axis=1)


def _slot(frame: pd.DataFrame) -> pd.Series:
    """Which place of the plan a row fills, whatever its heads: kind, ranking, k, draw, label (a mapped
    set's place is its label alone: its size is that of the mapping)."""
    k = frame["k"].astype(str).where(frame["kind"] != "mapped", "")
    return frame["kind"].astype(str) + "|" + frame["ranking"].astype(str) + "|" + k + "|" + frame["draw"].astype(str) + "|" + frame["label"].astype(str)


def _write(model: str, method: str, table: pd.DataFrame, meta: dict[str, Any], root: Path | None) -> Path:
    table_path, meta_path = paths(model, method, root)
    table_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = table_path.with_suffix(".csv.tmp")
    table.to_csv(tmp, index=False, float_format="%.6f")
    tmp.replace(table_path)
    meta_path.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return table_path


def measure(
    model: ModelSpec,
    run: FaithRun,
    plan: pd.DataFrame,
    *,
    device: str = "cpu",
    root: Path | None = None,
    progress: bool = True,
    loaded: Any = None,
    prompts: Any = None,
    chunk: int = CHUNK_ROWS,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """m of every set of `plan` for `model` under `run`, merged with the stored results of the same
    run (sets already there are kept, not recomputed), written back after every `chunk` rows (a
    killed run keeps what it finished), and returned with the meta. `loaded` (a LoadedModel) and
    `prompts` (a PromptSet) stand in for loading `model` and for `run`'s prompts (tests pass a twin)."""
    from harness.scoring.ablation import ablation_values
    from harness.scoring.faithfulness import keep_mask, set_logit_diffs

    name = model.name
    old = stored(name, run.method, root)
    if old is not None and old[1].get("run") != asdict(run):
        log.warning("%s %s: stored results were made under %s; replacing them", name, run.method, old[1].get("run"))
        old = None
    plan = plan.assign(model=name, method=run.method)
    meta = dict(old[1]) if old is not None else {"run": asdict(run), "model": name, "seconds": 0.0, "forward_sets": 0}
    table = old[0] if old is not None else plan.iloc[:0].assign(m=pd.Series(dtype=float))
    per_prompt = stored_per_prompt(name, run.method, root) if old is not None else None
    if old is not None:
        # a stored set the plan names differently (the same kind, ranking, k, draw, label; other heads)
        # was ranked on another head table: it is replaced, never kept beside the plan's
        replaced = _slot(table).isin(set(_slot(plan))) & ~_key(table).isin(set(_key(plan)))
        if replaced.any():
            log.warning("%s %s: %d stored sets were ranked on another head table; measuring the plan's instead",
                        name, run.method, int(replaced.sum()))
            if per_prompt is not None and len(per_prompt) == len(table):
                per_prompt = per_prompt[~replaced.to_numpy()]
            table = table[~replaced].reset_index(drop=True)
    todo = plan if old is None else plan[~_key(plan).isin(set(_key(table)))]
    if not len(todo):
        return table[[c for c in _columns() if c in table]], meta
    if loaded is None:
        from harness.models.loaders import load_model

        loaded = load_model(model, device=device, dtype=run.dtype, progress=progress)
    from harness.data.ioi_dataset import build_prompts

    started = time.perf_counter()
    prompts = prompts if prompts is not None else build_prompts(run.task(model), loaded.tokenizer)
    bridge = loaded.bridge
    n_layers, n_heads = int(bridge.cfg.n_layers), int(bridge.cfg.n_heads)
    values = ablation_values(bridge, prompts, run.method)
    if per_prompt is None or len(per_prompt) != len(table):
        per_prompt = np.full((len(table), len(prompts)), np.nan)  # older rows without per-prompt values
    for first in range(0, len(todo), chunk):
        part = todo.iloc[first : first + chunk]
        # one forward per distinct mask (the two rankings' top-1 sets often coincide, say);
        # necessity keeps every head but C (C alone ablated)
        wanted = list(zip(part["heads"], part["kind"].to_numpy() == "necessity"))
        distinct = list(dict.fromkeys(wanted))
        masks = np.stack([keep_mask(n_layers, n_heads, parse_heads(h)) ^ inverted for h, inverted in distinct])
        ld = set_logit_diffs(bridge, prompts, masks, run.method, values=values, progress=progress,
                             desc=f"{name} {run.method} sets {first + 1}-{first + len(part)} of {len(todo)}")
        position = {key: i for i, key in enumerate(distinct)}
        rows_ld = ld[[position[key] for key in wanted]]
        table = pd.concat([table, part.assign(m=rows_ld.mean(axis=1))], ignore_index=True)
        per_prompt = np.concatenate([per_prompt, rows_ld])
        meta.update(
            seconds=round(float(meta.get("seconds", 0.0)) + time.perf_counter() - started, 1),
            forward_sets=int(meta.get("forward_sets", 0)) + len(distinct),
            n_prompts=len(prompts),
            device=str(loaded.device),
            dtype=str(loaded.dtype).removeprefix("torch."),
            fingerprint=getattr(loaded, "fingerprint", "unknown"),
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            versions=_versions(),
        )
        started = time.perf_counter()
        table = table[[c for c in _columns() if c in table]]
        # the per-prompt values first, atomically: a run killed between the two writes leaves extra rows
        # there (cut off when read), never CSV rows without their values
        target = per_prompt_path(name, run.method, root)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.stem + ".tmp.npz")
        np.savez_compressed(tmp, ld=per_prompt.astype(np.float32))
        tmp.replace(target)
        _write(name, run.method, table, meta, root)
        log.info("%s %s: %d of %d sets stored", name, run.method, first + len(part), len(todo))
    return table, meta


def _columns() -> tuple[str, ...]:
    return ("model", "method", *KEY_COLUMNS, "m")


def _versions() -> dict[str, str]:
    from harness.runs.recompute import _versions as versions

    return versions()
