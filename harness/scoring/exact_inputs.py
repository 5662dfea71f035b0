"""What every exact scan starts from: the prompts as tensors, the layers to scan, the heads per layer
and the replacement values of the method."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.scoring.ablation import AblationValues, ablation_values
from harness.scoring.geometry import chosen_layers, geometry, param
from harness.scoring.prompts import Prompts, as_prompts


def exact_scan_inputs(
    bridge: Any, prompts: Any, method: str, layers: Sequence[int] | None, memory_budget_mb: float
) -> tuple[Prompts, list[int], int, AblationValues]:
    """(prompts as tensors, layers to scan, n_heads, replacement values of `method`)."""
    p = as_prompts(prompts, param(bridge).device)
    chosen = chosen_layers(bridge, layers)
    values = ablation_values(bridge, p, method, memory_budget_mb=memory_budget_mb)
    return p, chosen, geometry(bridge)[1], values
