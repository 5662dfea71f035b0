"""The naive reference scan: one forward of the whole prompt set per head through
`bridge.run_with_hooks`, a plain hook on `blocks.L.attn.hook_z` replacing head h at every position,
and the logit difference read off the full logits."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from harness.scoring.exact_inputs import exact_scan_inputs
from harness.scoring.geometry import z_name
from harness.scoring.memory import DEFAULT_MEMORY_BUDGET_MB
from harness.scoring.progress import bar
from harness.scoring.readout import logit_diff
from harness.scoring.result import ScanResult, result_from_deltas


def _replace_head(values: torch.Tensor, head: int) -> Callable[..., torch.Tensor]:
    """A hook_z hook that sets head `head` to `values` (rows, T, n_heads, d_head) at every position."""

    def hook(z: torch.Tensor, hook: Any) -> torch.Tensor:
        z[:, :, head] = values[:, : z.shape[1], head]
        return z

    return hook


def scan_naive(
    bridge: Any,
    prompts: Any,
    method: str = "mean",
    *,
    layers: Sequence[int] | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    progress: bool = True,
) -> ScanResult:
    """The reference scan: one forward of all prompts per head, with a plain hook on
    `blocks.L.attn.hook_z` replacing head h at every position, and LD read off the full logits."""
    started = time.perf_counter()
    p, chosen, n_heads, values = exact_scan_inputs(bridge, prompts, method, layers, memory_budget_mb)
    deltas = torch.zeros(len(chosen), n_heads, dtype=torch.float64)
    with torch.no_grad():
        clean = logit_diff(bridge, p, full_logits=True)
        with bar(len(chosen) * n_heads, "naive scan", progress) as b:
            for i, layer in enumerate(chosen):
                layer_values = values.rows(layer, slice(None))
                for head in range(n_heads):
                    hook = (z_name(layer), _replace_head(layer_values, head))
                    ablated = logit_diff(bridge, p, fwd_hooks=[hook], full_logits=True)
                    deltas[i, head] = ablated.double().mean() - clean.double().mean()
                    b.update()
    return result_from_deltas(bridge, chosen, deltas, clean, method, "naive", started)
