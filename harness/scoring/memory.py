"""Memory planning: how many prompt rows one forward (or forward + backward) may hold within a budget.

The estimate is deliberately generous (`bytes_per_row`); on a CPU, forwards are also capped at a few
thousand tokens, which run faster per token.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from harness.scoring.geometry import geometry, param

DEFAULT_MEMORY_BUDGET_MB = 1024
# On a CPU, forwards beyond a few thousand tokens run slower per token (activations fall out of the
# caches: measured 105 us/token/block for SmolLM2 up to ~3000 tokens, 128 at 5760), so CPU forwards
# are capped here whatever the memory budget allows.
CPU_TOKENS_PER_FORWARD = 2048


def bytes_per_row(bridge: Any, length: int) -> int:
    """A generous estimate of the memory one prompt row of `length` tokens takes in one block's
    forward: residual copies, norms, q/k/v/z, attention scores and patterns, MLP activations."""
    cfg = bridge.cfg
    d_mlp = int(getattr(cfg, "d_mlp", None) or 4 * cfg.d_model)
    per_token = 12 * int(cfg.d_model) + 4 * d_mlp + 4 * int(cfg.n_heads) * length
    return length * per_token * param(bridge).element_size()


def rows_in_budget(bridge: Any, length: int, memory_budget_mb: float) -> int:
    """How many prompt rows of `length` tokens one block's forward may hold in the memory budget."""
    return int(memory_budget_mb * 2**20) // bytes_per_row(bridge, length)


def rows_per_forward(bridge: Any, length: int, memory_budget_mb: float) -> int:
    """How many prompt rows of `length` tokens one forward may hold within the memory budget
    (and, on a CPU, within `CPU_TOKENS_PER_FORWARD`)."""
    rows = rows_in_budget(bridge, length, memory_budget_mb)
    if param(bridge).device.type == "cpu":
        rows = min(rows, CPU_TOKENS_PER_FORWARD // length)
    return max(1, rows)


def rows_per_backward(bridge: Any, length: int, memory_budget_mb: float) -> int:
    """Rows per forward + backward: the backward keeps every block's activations alive."""
    return max(1, rows_in_budget(bridge, length, memory_budget_mb) // geometry(bridge)[0])


def row_chunks(n: int, size: int) -> Iterator[slice]:
    """Consecutive slices of at most `size` of range(n)."""
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))
