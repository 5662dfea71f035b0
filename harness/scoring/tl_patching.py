"""The ablation scan through TransformerLens's own patching helper
(`transformer_lens.patching.get_act_patch_attn_head_out_all_pos`), for the benchmarks: the same
numbers as the naive loop, one full forward per head."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Sequence
from typing import Any
from unittest import mock

import pandas as pd
import torch
from tqdm.auto import tqdm

from harness.scoring.exact_inputs import exact_scan_inputs
from harness.scoring.geometry import z_name
from harness.scoring.memory import DEFAULT_MEMORY_BUDGET_MB
from harness.scoring.readout import ld_from_logits
from harness.scoring.result import ScanResult, result_from_deltas


def scan_tl_patching(
    bridge: Any,
    prompts: Any,
    method: str = "mean",
    *,
    layers: Sequence[int] | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    progress: bool = True,
) -> ScanResult:
    """The same scan through TransformerLens's own patching helper, for comparison.

    The helper patches a "clean cache" into a run on "corrupted tokens"; ablation is that with the
    replacement values as the cache and the clean prompts as the tokens. It runs one full forward
    per head, like `scan_naive`, plus one unpatched forward for the baseline (`baseline=True`).
    """
    from transformer_lens import patching

    started = time.perf_counter()
    p, chosen, n_heads, values = exact_scan_inputs(bridge, prompts, method, layers, memory_budget_mb)
    cache = {z_name(layer): values.rows(layer, slice(None)) for layer in chosen}
    index = pd.DataFrame([(layer, head) for layer in chosen for head in range(n_heads)], columns=["layer", "head"])

    def per_prompt_ld(logits: torch.Tensor) -> torch.Tensor:
        return ld_from_logits(logits, p.last_pos, p.correct, p.distractor)

    quiet = functools.partial(tqdm, disable=not progress, file=sys.stderr, leave=False)
    with torch.no_grad(), mock.patch.object(patching, "tqdm", quiet):
        result = patching.get_act_patch_attn_head_out_all_pos(
            bridge, p.tokens, cache, per_prompt_ld, index_df=index, index_axis_names=None, reduce="none", baseline=True
        )
    clean = result.baseline
    deltas = (result.values.double().mean(-1) - clean.double().mean()).view(len(chosen), n_heads)
    return result_from_deltas(bridge, chosen, deltas.cpu(), clean, method, "tl_patching", started)
