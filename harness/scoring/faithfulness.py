"""Logit differences of a model with whole sets of heads ablated: the torch half of faithfulness.

A *head set* is given as a boolean keep-mask (n_layers, n_heads): True = the head keeps its clean
output, False = its output at `blocks.L.attn.hook_z` is replaced, at every position, by the ablation
values of the method (`harness.scoring.ablation.ablation_values`: zero, the per-template mean over
the ABC-corrupted prompts, or the paired corrupted prompt's own value). So

- m(C), "C alone is left": keep = C (every head outside C ablated);
- m(empty): keep nothing (all heads ablated); m(full): keep everything (the clean model);
- necessity of C: keep = not C (C alone ablated).

`set_logit_diffs` computes each prompt's logit difference under many masks at once: rows of one
length run together (little padding), and several masks share a forward by replicating the rows
along the batch axis (mask j on row-group j), as many as fit a few thousand tokens per forward on a
CPU (the memory budget elsewhere). The pure arithmetic on the results (f, curves, CPR, CMD, nulls,
transfer efficiency) is harness.analysis.faithfulness.

Everything runs on the bridge's device and in its dtype.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from harness.scoring.ablation import ablation_values
from harness.scoring.geometry import geometry, param, z_name
from harness.scoring.memory import DEFAULT_MEMORY_BUDGET_MB, rows_in_budget
from harness.scoring.progress import bar
from harness.scoring.prompts import as_prompts
from harness.scoring.readout import final_residual, head_logit_diff

# On a CPU a forward of about this many tokens runs at the best speed per token (head_scores measures
# the same cap for its scans); masks are packed into one forward up to it.
_CPU_TOKENS_PER_FORWARD = 2048


def keep_mask(n_layers: int, n_heads: int, heads: Sequence[tuple[int, int]]) -> np.ndarray:
    """The keep-mask (n_layers, n_heads) with True exactly at `heads` ((layer, head) pairs); a pair
    outside the geometry is a ValueError (callers drop and count such heads first)."""
    mask = np.zeros((n_layers, n_heads), dtype=bool)
    for layer, head in heads:
        if not (0 <= layer < n_layers and 0 <= head < n_heads):
            raise ValueError(f"head ({layer}, {head}) is outside the geometry {n_layers} x {n_heads}")
        mask[layer, head] = True
    return mask


def _length_groups(p: Any) -> list[torch.Tensor]:
    """Row indices grouped by exact length (prompts of one template share a length)."""
    lengths = p.last_pos + 1
    return [torch.nonzero(lengths == length)[:, 0] for length in torch.unique(lengths).tolist()]


def _replace_outside(layer: int, keep: torch.Tensor, values: torch.Tensor, n: int):
    """hook_z hook for `len(keep)` row-groups of n rows: in row-group j, the heads where keep[j]
    (n_heads,) is False take `values` (n, T, n_heads, d_head)."""
    mask = keep.repeat_interleave(n, dim=0)[:, None, :, None]  # (s * n, 1, n_heads, 1)
    replacement = values.repeat(keep.shape[0], 1, 1, 1)

    def hook(z: torch.Tensor, hook: Any) -> torch.Tensor:
        return torch.where(mask, z, replacement[:, : z.shape[1]])

    return hook


def set_logit_diffs(
    bridge: Any,
    prompts: Any,
    masks: np.ndarray | torch.Tensor,
    method: str = "mean",
    *,
    values: Any = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    progress: bool = True,
    desc: str = "head sets",
) -> np.ndarray:
    """Per-prompt logit differences (S, N) float64 with every head outside each keep-mask ablated.

    `masks` is (S, n_layers, n_heads) bool; `values` (an AblationValues of `method`) is computed from
    the prompts when not given. One forward runs several masks on one length group of rows."""
    par = param(bridge)
    p = as_prompts(prompts, par.device)
    n_layers, n_heads, _ = geometry(bridge)
    keep = torch.as_tensor(np.asarray(masks), dtype=torch.bool, device=par.device)
    if keep.dim() != 3 or tuple(keep.shape[1:]) != (n_layers, n_heads):
        raise ValueError(f"masks must be (S, {n_layers}, {n_heads}) booleans, got shape {tuple(keep.shape)}")
    n_sets = int(keep.shape[0])
    out = torch.empty(n_sets, len(p), dtype=torch.float64)
    with torch.no_grad():
        if values is None:
            values = ablation_values(bridge, p, method, memory_budget_mb=memory_budget_mb)
        groups = _length_groups(p)
        plans = []
        for rows in groups:
            length = int(p.last_pos[rows[0]]) + 1
            fit = rows_in_budget(bridge, length, memory_budget_mb)
            if par.device.type == "cpu":
                fit = min(fit, _CPU_TOKENS_PER_FORWARD // length)
            per = max(1, fit // int(rows.shape[0]))  # masks per forward (all rows of the group each)
            plans.append((rows, length, per))
        total = sum(-(-n_sets // per) for _, _, per in plans)
        with bar(total, desc, progress) as pbar:
            for rows, length, per in plans:
                n = int(rows.shape[0])
                tokens = p.tokens[rows, :length]
                layer_values = [values.rows(layer, rows, length) for layer in range(n_layers)]
                for first in range(0, n_sets, per):
                    chunk = keep[first : first + per]
                    s = int(chunk.shape[0])
                    hooks = [
                        (z_name(layer), _replace_outside(layer, chunk[:, layer], layer_values[layer], n))
                        for layer in range(n_layers)
                        if not bool(chunk[:, layer].all())
                    ]
                    resid = final_residual(bridge, tokens.repeat(s, 1), hooks)
                    last = p.last_pos[rows].repeat(s)
                    index = torch.arange(s * n, device=last.device)
                    ld = head_logit_diff(bridge, resid[index, last], p.correct[rows].repeat(s), p.distractor[rows].repeat(s))
                    out[first : first + s][:, rows.cpu()] = ld.view(s, n).double().cpu()
                    pbar.update()
    return out.numpy()
