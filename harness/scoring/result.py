"""The one result type of every scan (`ScanResult`) and the two ways to build it: from per-head
deltas (`result_from_deltas`) or from per-prompt ablated logit differences (`result_from_rows`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from harness.scoring.geometry import param


@dataclass
class ScanResult:
    """The scores of every scanned head, and how they were computed.

    `table` has one row per head (all heads of the model, or of the `layers` asked for): layer,
    head, delta (= LD_ablated - LD_clean) and delta_norm (= delta / LD_clean).
    """

    table: pd.DataFrame
    clean_logit_diff: float  # mean over prompts
    clean_accuracy: float  # share of prompts with logit(correct) > logit(distractor)
    method: str  # one of methods.ABLATION_METHODS
    algorithm: str  # one of methods.SCAN_ALGORITHMS, or "tl_patching"
    device: str
    dtype: str
    seconds: float
    n_prompts: int
    # Exact batched scans only: each prompt's logit difference with each head ablated,
    # (len(layers), n_heads, N), and the clean ones (N,) -- for split halves and resampling.
    ablated_per_prompt: np.ndarray | None = None
    clean_per_prompt: np.ndarray | None = None


def result_from_deltas(
    bridge: Any,
    layers: Sequence[int],
    deltas: torch.Tensor,
    clean: torch.Tensor,
    method: str,
    algorithm: str,
    started: float,
) -> ScanResult:
    """Assemble a ScanResult from per-head deltas (len(layers), n_heads) and per-prompt clean LDs;
    `started` is the scan's time.perf_counter() at its start."""
    n_heads = deltas.shape[1]
    clean_mean = float(clean.double().mean())
    delta = deltas.double().cpu().numpy().reshape(-1)
    table = pd.DataFrame(
        {
            "layer": np.repeat(np.asarray(layers, dtype=np.int64), n_heads),
            "head": np.tile(np.arange(n_heads, dtype=np.int64), len(layers)),
            "delta": delta,
            "delta_norm": delta / clean_mean,
        }
    )
    par = param(bridge)
    return ScanResult(
        table=table,
        clean_logit_diff=clean_mean,
        clean_accuracy=float((clean > 0).double().mean()),
        method=method,
        algorithm=algorithm,
        device=str(par.device),
        dtype=str(par.dtype).removeprefix("torch."),
        seconds=time.perf_counter() - started,
        n_prompts=int(clean.shape[0]),
    )


def result_from_rows(
    bridge: Any, layers: Sequence[int], ablated: torch.Tensor, clean: torch.Tensor, method: str, algorithm: str, started: float
) -> ScanResult:
    """A ScanResult from per-prompt ablated logit differences (len(layers), n_heads, N) and clean
    ones (N,): delta = mean over prompts of ablated - mean of clean (exactly what the sums gave)."""
    deltas = ablated.double().mean(-1) - clean.double().mean()
    result = result_from_deltas(bridge, layers, deltas, clean, method, algorithm, started)
    result.ablated_per_prompt = ablated.double().numpy()
    result.clean_per_prompt = clean.double().numpy()
    return result
