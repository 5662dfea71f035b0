"""IOI-only head tables of a design's models, read from the score caches without the weights: by
default the offline zoo (claims/designs/zoo.toml: four real models, IOI scored on the very same
prompts, the "zoo" prompt style), or any design whose [run] tasks are ["ioi"].

`zoo_head_table(method)` gives the combined head table (published schema) a claims source needs, and
`zoo_arrays(model, method)` each model's per-prompt logit differences (noise floor, intervals). The
zoo scans the IOI task only: the control (anti-repeat) task is not scanned (it would double hours of
CPU, and SmolLM2 does not even do it: accuracy 0.57), so `delta_anti` is 0 and a head is IOI-like
when ablating it lowers the IOI logit difference by tau or more (the signed rule, the origin's).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.data.head_table import DEFAULT_TAU, categorize, with_derived_columns
from harness.data import designs
from harness.data.designs import Design
from harness.models.registry import ModelSpec
from harness.runs.recompute import design_run, stored_scores

ZOO_TASK = "ioi"


def _design(design: Design | None) -> Design:
    return design or designs.builtin("zoo")


def zoo_entry(
    model: ModelSpec, method: str, design: Design | None = None, weights: str | None = None, n_prompts: int | None = None
) -> tuple[pd.DataFrame, dict[str, Any], dict[str, Any] | None] | None:
    """A design model's stored IOI scores under `method` (user cache or committed), or None; `weights`
    "requant:SCHEME" for its perturbed twin's, `n_prompts` for another prompt count than the design's."""
    return stored_scores(model, ZOO_TASK, design_run(_design(design), model.name, method, weights=weights, n_prompts=n_prompts))


def scan_command(model: str, method: str, design: Design | None = None, weights: str | None = None) -> str:
    design = _design(design)
    where = "" if design.name == "zoo" else f" --design {design.path}"
    extra = "" if weights in (None, "pretrained") else f" --weights {weights}"
    return f"python -m harness zoo{where} --model {model} --method {method}{extra}"


def zoo_head_table(method: str, tau: float = DEFAULT_TAU, design: Design | None = None) -> tuple[pd.DataFrame, list[str]]:
    """A design's (default: the zoo's) combined IOI head table under `method`, and one note per model
    without stored scores, naming the command that computes them."""
    tables, notes = [], []
    design = _design(design)
    for model in design.specs:
        entry = zoo_entry(model, method, design)
        if entry is None:
            notes.append(f"{model.name}: no {method}-ablation {design.name} scores stored; compute them with `{scan_command(model.name, method, design)}`")
            continue
        scores, meta, _ = entry
        table = pd.DataFrame(
            {
                "family": model.family,
                "model": model.name,
                "layer": scores["layer"].astype(int),
                "head": scores["head"].astype(int),
                "delta_ioi": scores["delta"].astype(float),
                "delta_anti": 0.0,
            }
        )
        table = with_derived_columns(table)
        table["category"] = categorize(table["delta_ioi"], table["delta_anti"], tau, "signed")
        for column in ("delta_a", "delta_b"):
            if column in scores:
                table[column] = scores[column].to_numpy(float)
        table["clean_logit_diff_ioi"] = meta["clean_logit_diff"]
        table["clean_accuracy_ioi"] = meta["clean_accuracy"]
        table["n_prompts"] = meta.get("n_prompts")
        table["dtype"] = meta.get("key", {}).get("dtype", "float32")
        table["entry"] = meta.get("entry", "?")  # which stored entry this model's table came from
        notes.append(f"{model.name}: {method} table from {meta.get('entry', '?')}")
        tables.append(table)
    if not tables:
        return pd.DataFrame(), notes
    return pd.concat(tables, ignore_index=True), notes


def zoo_arrays(
    model: ModelSpec, method: str, design: Design | None = None, weights: str | None = None, n_prompts: int | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """(ablated (L, H, N), clean (N,)) per-prompt logit differences of a design's model (or of its
    perturbed twin, `weights`; at `n_prompts` prompts when given), or None."""
    entry = zoo_entry(model, method, design, weights, n_prompts)
    if entry is None or entry[2] is None:
        return None
    arrays = entry[2]
    return arrays["ablated"].astype(np.float64), arrays["clean"].astype(np.float64)
