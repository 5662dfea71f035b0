"""The one ablation-values function: what replaces a head's output z under each ablation method.

"zero": zeros (the origin's method). "mean" (the default here): the mean of hook_z over the
ABC-corrupted prompts of the same template, at the same position. "counterfactual": hook_z of each
prompt's own paired ABC-corrupted prompt (one "group" per prompt). Every scan, and any new use of
ablation, asks `ablation_values` and reads rows of the result (`AblationValues.rows`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from harness.scoring.geometry import geometry, param, z_name
from harness.scoring.memory import DEFAULT_MEMORY_BUDGET_MB, row_chunks, rows_per_forward
from harness.scoring.methods import ABLATION_METHODS
from harness.scoring.prompts import Prompts, as_prompts
from harness.scoring.readout import final_residual


@dataclass
class AblationValues:
    """Per-layer replacement values for hook_z, stored per template ("group").

    `by_group[L]` is (G, T, n_heads, d_head): the value that replaces hook_z of layer L at each
    position for prompts of group g; `group[i]` is the group of prompt i. The zero method has one
    all-zero group.
    """

    method: str
    by_group: list[torch.Tensor]
    group: torch.Tensor  # (N,) long

    def rows(self, layer: int, rows: torch.Tensor | slice, length: int | None = None) -> torch.Tensor:
        """The replacement values of `rows` at layer `layer`, (n, T or length, n_heads, d_head)."""
        values = self.by_group[layer][self.group[rows]]
        return values if length is None else values[:, :length]


def check_method(method: str) -> None:
    if method not in ABLATION_METHODS:
        raise ValueError(f"method must be one of {ABLATION_METHODS}, got {method!r}")


def _mean_by_group(bridge: Any, p: Prompts, memory_budget_mb: float) -> list[torch.Tensor]:
    """Per layer, the mean of hook_z over the corrupted prompts of each group, at every position."""
    n_layers, n_heads, d_head = geometry(bridge)
    par = param(bridge)
    width = p.corrupt_tokens.shape[1]
    sums = torch.zeros(n_layers, p.n_groups, width, n_heads, d_head, device=par.device, dtype=torch.float32)

    def accumulate(layer: int, rows: slice) -> Callable[..., None]:
        def hook(z: torch.Tensor, hook: Any) -> None:
            sums[layer].index_add_(0, p.group[rows], z.float())

        return hook

    chunk = rows_per_forward(bridge, width, memory_budget_mb)
    for rows in row_chunks(len(p), chunk):
        hooks = [(z_name(layer), accumulate(layer, rows)) for layer in range(n_layers)]
        final_residual(bridge, p.corrupt_tokens[rows], hooks)
    counts = torch.bincount(p.group, minlength=p.n_groups).to(sums)
    means = (sums / counts[None, :, None, None, None]).to(par.dtype)
    return list(means.unbind(0))


def _per_prompt_corrupt(bridge: Any, p: Prompts, memory_budget_mb: float) -> list[torch.Tensor]:
    """Per layer, hook_z of each prompt's own ABC-corrupted prompt at every position, (N, T, n_heads, d_head)."""
    n_layers, n_heads, d_head = geometry(bridge)
    par = param(bridge)
    width = p.corrupt_tokens.shape[1]
    out = torch.empty(n_layers, len(p), width, n_heads, d_head, device=par.device, dtype=par.dtype)

    def keep(layer: int, rows: slice) -> Callable[..., None]:
        def hook(z: torch.Tensor, hook: Any) -> None:
            out[layer, rows] = z

        return hook

    chunk = rows_per_forward(bridge, width, memory_budget_mb)
    for rows in row_chunks(len(p), chunk):
        final_residual(bridge, p.corrupt_tokens[rows], [(z_name(layer), keep(layer, rows)) for layer in range(n_layers)])
    return list(out.unbind(0))


def ablation_values(
    bridge: Any, prompts: Any, method: str, *, memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB
) -> AblationValues:
    """The values that replace hook_z under `method`.

    "zero": zeros (the origin's method). "mean": the mean of hook_z over the ABC-corrupted prompts,
    taken per (template_id, position), so each prompt gets the mean at its own template's positions.
    """
    check_method(method)
    par = param(bridge)
    p = as_prompts(prompts, par.device)
    n_layers, n_heads, d_head = geometry(bridge)
    with torch.no_grad():
        if method == "zero":
            zeros = torch.zeros(1, p.tokens.shape[1], n_heads, d_head, device=par.device, dtype=par.dtype)
            return AblationValues(method, [zeros] * n_layers, torch.zeros_like(p.group))
        if method == "counterfactual":
            rows = torch.arange(len(p), device=p.group.device)
            return AblationValues(method, _per_prompt_corrupt(bridge, p, memory_budget_mb), rows)
        return AblationValues(method, _mean_by_group(bridge, p, memory_budget_mb), p.group)
