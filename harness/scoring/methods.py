"""The one list of ablation methods and scan algorithms. The CLI's choices, the claims sources
(`recomputed:<method>`) and the scans' argument checks all read these tuples; adding a method or an
algorithm starts here (README, "How to add an ablation method").

Imports nothing, so every subpackage may read it without pulling in torch.
"""

from __future__ import annotations

# Replacement value of an ablated head's output: "mean" over the ABC-corrupted prompts of the same
# template and position (the harness default, first), "zero" (the origin's method), or
# "counterfactual": the head's own output on the prompt's paired ABC-corrupted prompt (MIB's most
# faithful ablation; per prompt, no averaging).
ABLATION_METHODS: tuple[str, ...] = ("mean", "zero", "counterfactual")
DEFAULT_METHOD = ABLATION_METHODS[0]
# The methods the gate's zoo verdicts are recorded under (zoo:mean, zoo:zero in claims/verdicts.toml):
# what a design scans unless its [run] names others, and what a plain `python -m harness zoo` scans.
GATE_METHODS: tuple[str, ...] = ("mean", "zero")

# How the per-head deltas are computed: "batched" (exact, the default, first), "naive" (exact, one
# forward per head), "attribution" (attribution patching, an approximation), "attribution_graddrop"
# (attribution patching with AtP*'s GradDrop correction: about L/2 more backward passes) or
# "attribution_ig" (integrated gradients from the clean to the ablated z, m midpoint steps: the screen).
SCAN_ALGORITHMS: tuple[str, ...] = ("batched", "naive", "attribution", "attribution_graddrop", "attribution_ig")
# Scans that yield one layer at a time, so a resumable scan stores them as layer shards.
LAYERED_ALGORITHMS: tuple[str, ...] = ("batched", "attribution_ig")

# attribution_ig: which heads move along the path ("layer": one layer's heads at a time, the default;
# "all": every head of every layer together, m passes of the whole model) and the number of midpoint
# steps m. Chosen by measurement (docs/screen.md, 16 zoo prompts against the committed exact arrays):
# "layer" m=1 agrees far better than "all" at any m tried (Gemma: Spearman 0.952, 18/20 vs 0.56-0.66;
# SmolLM2 "all" 0.54-0.71 against attribution's 0.914), at about 1.9x fewer multiply-adds than exact.
IG_PATHS: tuple[str, ...] = ("layer", "all")
DEFAULT_IG_PATH = IG_PATHS[0]
DEFAULT_IG_STEPS = 1
DEFAULT_ALGORITHM = SCAN_ALGORITHMS[0]
