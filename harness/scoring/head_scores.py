"""Scoring attention heads by ablation: the one entry point (`score_heads`) and its registry of scans.

The score of head (L, h) is the origin's: replace the head's output at `blocks.L.attn.hook_z` (the
head's slice of the attention output before the output projection) at every position, and take
`delta = LD_ablated - LD_clean`, where LD is the mean over prompts of logit(correct) -
logit(distractor) at each prompt's last token. Negative delta: the head helps the task.

The pieces live in modules of their own (see the package docstring): the replacement values in
`ablation`, the logit-difference readout in `readout`, the result type in `result`, and one module per
scan (`naive`, `batched`, `attribution`, `integrated_gradients`, `tl_patching`). A new scan is a new module registered in
`SCANS` (and named in `methods.SCAN_ALGORITHMS`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from harness.scoring.ablation import check_method
from harness.scoring.attribution import scan_attribution
from harness.scoring.batched import scan_batched
from harness.scoring.integrated_gradients import scan_ig
from harness.scoring.methods import SCAN_ALGORITHMS
from harness.scoring.naive import scan_naive
from harness.scoring.result import ScanResult

SCANS: dict[str, Callable[..., ScanResult]] = {
    "naive": scan_naive,
    "batched": scan_batched,
    "attribution": scan_attribution,
    "attribution_graddrop": functools.partial(scan_attribution, graddrop=True),
    "attribution_ig": scan_ig,
}


def score_heads(
    model_or_bridge: Any, prompts: Any, method: str = "mean", algorithm: str = "batched", **kw: Any
) -> ScanResult:
    """Score every head of a model (a harness LoadedModel or a TransformerBridge) on `prompts`,
    with `method` (one of methods.ABLATION_METHODS) and `algorithm` (one of
    methods.SCAN_ALGORITHMS); keyword arguments go to the scan (memory_budget_mb, progress, layers
    for the exact ones and IG, steps and path for IG)."""
    bridge = getattr(model_or_bridge, "bridge", model_or_bridge)
    if algorithm not in SCANS:
        raise ValueError(f"algorithm must be one of {SCAN_ALGORITHMS}, got {algorithm!r}")
    check_method(method)
    return SCANS[algorithm](bridge, prompts, method, **kw)
