"""The offline zoo's head tables: four real models (harness.models.registry.ZOO_MODELS), IOI scored
on the very same prompts (the "zoo" prompt style), read from the score caches without the weights.

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
from harness.models import registry
from harness.runs.recompute import stored_scores, zoo_run

ZOO_TASK = "ioi"


def zoo_entry(
    model: str, method: str, weights: str = "pretrained"
) -> tuple[pd.DataFrame, dict[str, Any], dict[str, Any] | None] | None:
    """A zoo model's stored IOI scores under `method` (user cache or committed), or None; `weights`
    "requant:SCHEME" for its perturbed twin's."""
    return stored_scores(model, ZOO_TASK, zoo_run(model, method, weights=weights))


def scan_command(model: str, method: str, weights: str = "pretrained") -> str:
    extra = "" if weights == "pretrained" else f" --weights {weights}"
    return f"python -m harness zoo --model {model} --method {method}{extra}"


def zoo_head_table(method: str, tau: float = DEFAULT_TAU) -> tuple[pd.DataFrame, list[str]]:
    """The zoo's combined head table under `method`, and one note per model without stored scores."""
    tables, notes = [], []
    for model in registry.ZOO_MODELS:
        entry = zoo_entry(model, method)
        if entry is None:
            notes.append(f"{model}: no {method}-ablation zoo scores stored; compute them with `{scan_command(model, method)}`")
            continue
        scores, meta, _ = entry
        table = pd.DataFrame(
            {
                "family": registry.get(model).family,
                "model": model,
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
        tables.append(table)
    if not tables:
        return pd.DataFrame(), notes
    return pd.concat(tables, ignore_index=True), notes


def zoo_arrays(model: str, method: str, weights: str = "pretrained") -> tuple[np.ndarray, np.ndarray] | None:
    """(ablated (L, H, N), clean (N,)) per-prompt logit differences of a zoo model (or of its
    perturbed twin, `weights`), or None."""
    entry = zoo_entry(model, method, weights)
    if entry is None or entry[2] is None:
        return None
    arrays = entry[2]
    return arrays["ablated"].astype(np.float64), arrays["clean"].astype(np.float64)
