"""Attribution patching: a first-order estimate of every head's delta from one clean forward and one
backward (plus the corrupted forward the mean values need):
delta_hat(L, h) = mean over prompts of sum over positions and d_head of (replacement - clean z) * dLD/dz,
optionally with AtP*'s GradDrop correction (`scan_attribution(graddrop=True)`).

`tracked_forward` (a forward whose hook_z tensors can be differentiated against) and `first_order`
(the product summed per head) are the pieces another gradient-based scan reuses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from harness.scoring.ablation import AblationValues, ablation_values
from harness.scoring.geometry import geometry, param, z_name
from harness.scoring.memory import DEFAULT_MEMORY_BUDGET_MB, row_chunks, rows_per_backward
from harness.scoring.progress import bar
from harness.scoring.prompts import Prompts, as_prompts
from harness.scoring.readout import Hook, final_residual, ld_from_residual
from harness.scoring.result import ScanResult, result_from_deltas


def tracked_forward(
    bridge: Any, p: Prompts, rows: slice, extra_hooks: Sequence[Hook] = ()
) -> tuple[torch.Tensor, dict[int, torch.Tensor], torch.Tensor]:
    """One forward of `rows` with gradients on: per-prompt LDs (n,), every layer's hook_z (as the
    graph holds it, so gradients can be taken with respect to it) and the final residual."""
    n_layers = geometry(bridge)[0]
    zs: dict[int, torch.Tensor] = {}

    def track(layer: int) -> Callable[..., torch.Tensor]:
        def hook(z: torch.Tensor, hook: Any) -> torch.Tensor:
            if not z.requires_grad:  # nothing upstream needs gradients (layer 0 of a frozen model)
                z = z.detach().requires_grad_(True)
            zs[layer] = z
            return z

        return hook

    hooks = [(z_name(layer), track(layer)) for layer in range(n_layers)] + list(extra_hooks)
    resid = final_residual(bridge, p.tokens[rows], hooks)
    ld = ld_from_residual(bridge, resid, p.last_pos[rows], p.correct[rows], p.distractor[rows])
    return ld, zs, resid


def first_order(values: AblationValues, layer: int, rows: slice, z: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Per prompt and head of `layer`, sum over positions and d_head of (replacement - z) * grad: (n, n_heads)."""
    return ((values.rows(layer, rows) - z.detach()) * grad).double().sum(dim=(1, 3))


def _attribution_rows(
    bridge: Any, p: Prompts, rows: slice, values: AblationValues
) -> tuple[torch.Tensor, torch.Tensor]:
    """For `rows`: clean LDs (n,) and the summed first-order deltas (n_layers, n_heads) of one
    forward and one backward."""
    n_layers = geometry(bridge)[0]
    with torch.enable_grad():
        ld, zs, _ = tracked_forward(bridge, p, rows)
        grads = torch.autograd.grad(ld.sum(), [zs[layer] for layer in range(n_layers)])
    scores = torch.stack([first_order(values, layer, rows, zs[layer], grads[layer]).sum(0) for layer in range(n_layers)])
    return ld.detach(), scores


def _graddrop_rows(
    bridge: Any, p: Prompts, rows: slice, values: AblationValues
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For `rows`: clean LDs (n,), the plain first-order deltas (n_layers, n_heads) summed over the
    rows, and the GradDrop magnitudes (n_layers, n_heads) summed over the rows.

    GradDrop (AtP*, Kramar et al. 2024, section 3.1.2): for each layer l, the attribution estimate
    with the gradient through layer l's own contribution to the residual stream set to zero; a
    head's score is the mean over prompts of sum_l |estimate_l| / (L - 1). Computed from one forward:
    dropping layer l leaves the gradient at layer l's output unchanged and makes the gradient at its
    input equal to it (only the skip path remains), so estimate_l of the heads below l is one backward
    from `blocks.l.hook_resid_pre` with the plain gradient of `blocks.l+1.hook_resid_pre` (or of the
    final residual); heads at or above l are unaffected by dropping l, except those of layer l itself,
    whose estimate_l is 0. The partial backwards cost about L/2 full ones."""
    n_layers = geometry(bridge)[0]
    resid_pre: dict[int, torch.Tensor] = {}

    def keep_resid(layer: int) -> Callable[..., None]:
        def hook(resid: torch.Tensor, hook: Any) -> None:
            resid_pre[layer] = resid

        return hook

    keep = [(f"blocks.{layer}.hook_resid_pre", keep_resid(layer)) for layer in range(1, n_layers)]
    with torch.enable_grad():
        ld, zs, resid = tracked_forward(bridge, p, rows, keep)
        outputs = [resid_pre[layer] for layer in range(1, n_layers)] + [resid]
        grads = torch.autograd.grad(ld.sum(), [zs[layer] for layer in range(n_layers)] + outputs, retain_graph=True)
        z_grads, out_grads = grads[:n_layers], grads[n_layers:]  # out_grads[l]: gradient at layer l's output
        plain = [first_order(values, layer, rows, zs[layer], z_grads[layer]) for layer in range(n_layers)]
        # layers below k drop nothing k depends on: k copies of |plain|; dropping k itself gives 0
        magnitude = [layer * plain[layer].abs() for layer in range(n_layers)]
        for dropped in range(1, n_layers):
            below = [zs[layer] for layer in range(dropped)]
            partial = torch.autograd.grad(resid_pre[dropped], below, grad_outputs=out_grads[dropped], retain_graph=True)
            for layer, grad in enumerate(partial):
                magnitude[layer] = magnitude[layer] + first_order(values, layer, rows, zs[layer], grad).abs()
    scale = 1.0 / max(1, n_layers - 1)
    plain_sum = torch.stack([x.sum(0) for x in plain])
    magnitude_sum = torch.stack([x.sum(0) for x in magnitude]) * scale
    return ld.detach(), plain_sum, magnitude_sum


def scan_attribution(
    bridge: Any,
    prompts: Any,
    method: str = "mean",
    *,
    graddrop: bool = False,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    progress: bool = True,
) -> ScanResult:
    """Attribution patching: the first-order estimate of every head's delta from one clean forward
    and backward (chunked over prompts to fit the memory budget):
    delta_hat(L, h) = mean over prompts of sum over positions and d_head of
    (replacement - clean z) * dLD/dz.

    `graddrop=True` is AtP*'s GradDrop correction (`_graddrop_rows`): the size of each head's score
    is the GradDrop magnitude, its sign that of the plain estimate (GradDrop itself is unsigned).
    AtP*'s other correction, the QK fix, does not apply here: it recomputes the softmax of a head
    whose queries or keys are patched, and these scans patch a head's output z, after its softmax."""
    started = time.perf_counter()
    p = as_prompts(prompts, param(bridge).device)
    values = ablation_values(bridge, p, method, memory_budget_mb=memory_budget_mb)
    chunk = rows_per_backward(bridge, p.tokens.shape[1], memory_budget_mb)
    n_layers, n_heads, _ = geometry(bridge)
    total = torch.zeros(n_layers, n_heads, dtype=torch.float64, device=p.tokens.device)
    magnitude = torch.zeros_like(total)
    clean_parts = []
    chunks = list(row_chunks(len(p), chunk))
    name = "attribution_graddrop" if graddrop else "attribution"
    with bar(len(chunks), name, progress) as progress_bar:
        for rows in chunks:
            if graddrop:
                clean_rows, scores, sizes = _graddrop_rows(bridge, p, rows, values)
                magnitude += sizes
            else:
                clean_rows, scores = _attribution_rows(bridge, p, rows, values)
            clean_parts.append(clean_rows)
            total += scores
            progress_bar.update()
    deltas = total / len(p)
    if graddrop:
        deltas = torch.where(deltas < 0, -1.0, 1.0).to(deltas) * magnitude / len(p)
    return result_from_deltas(bridge, list(range(n_layers)), deltas.cpu(), torch.cat(clean_parts), method, name, started)
