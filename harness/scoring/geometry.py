"""What a scan reads off a TransformerBridge: the parameter that fixes device and dtype, the geometry
(n_layers, n_heads, d_head), the hook name of a head's output, and the layers a scan covers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def param(bridge: Any) -> torch.Tensor:
    """A parameter of the wrapped model: its device and dtype are the ones everything uses."""
    return next(bridge.original_model.parameters())


def geometry(bridge: Any) -> tuple[int, int, int]:
    """(n_layers, n_heads, d_head) of the bridge's model."""
    cfg = bridge.cfg
    return int(cfg.n_layers), int(cfg.n_heads), int(cfg.d_head)


def z_name(layer: int) -> str:
    """The hook on a layer's per-head attention output before the output projection."""
    return f"blocks.{layer}.attn.hook_z"


def chosen_layers(bridge: Any, layers: Sequence[int] | None) -> list[int]:
    """`layers` sorted and deduplicated (every layer when None); a ValueError when out of range."""
    n_layers = geometry(bridge)[0]
    chosen = list(range(n_layers)) if layers is None else sorted({int(x) for x in layers})
    if not chosen or chosen[0] < 0 or chosen[-1] >= n_layers:
        raise ValueError(f"layers must be a non-empty subset of 0..{n_layers - 1}, got {layers!r}")
    return chosen
