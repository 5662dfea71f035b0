"""The one list of ablation methods and scan algorithms. The CLI's choices, the claims sources
(`recomputed:<method>`) and the scans' argument checks all read these tuples; adding a method or an
algorithm starts here (README, "How to add an ablation method").

Imports nothing, so every subpackage may read it without pulling in torch.
"""

from __future__ import annotations

# Replacement value of an ablated head's output: "mean" over the ABC-corrupted prompts of the same
# template and position (the harness default, first), or "zero" (the origin's method).
ABLATION_METHODS: tuple[str, ...] = ("mean", "zero")
DEFAULT_METHOD = ABLATION_METHODS[0]

# How the per-head deltas are computed: "batched" (exact, the default, first), "naive" (exact, one
# forward per head), "attribution" (attribution patching, an approximation) or "attribution_graddrop"
# (attribution patching with AtP*'s GradDrop correction: about L/2 more backward passes).
SCAN_ALGORITHMS: tuple[str, ...] = ("batched", "naive", "attribution", "attribution_graddrop")
DEFAULT_ALGORITHM = SCAN_ALGORITHMS[0]
