"""Integrated gradients (IG) of the logit difference with respect to each head's output z: a screen
that estimates every head's ablation effect from a few forward+backward passes.

For head (L, h) with clean output z and replacement v (`ablation.ablation_values`: zero or mean), the
exact effect is LD(z_h -> v_h) - LD(clean). IG integrates the gradient along the straight path from
the clean to the ablated value and multiplies by the difference (Sundararajan et al. 2017; EAP-IG,
Hanna et al. 2024), with the midpoint rule over m steps (alpha_j = (j + 1/2) / m):

    est(L, h) = sum over positions and d_head of (v - z) * (1/m) sum_j dLD/dz at z + alpha_j (v - z)

Which heads move along the path (`IG_PATHS` in harness.scoring.methods):

- "all": every head of every layer moves together (z_L -> z_L + alpha (v_L - z_L clean) at each layer,
  on top of what the shifted layers below give): all heads from m forward+backward passes of the whole
  model. m = 1 is the gradient at the midpoint, not attribution patching's gradient at the clean point.
- "layer": the heads of one layer move together, the other layers stay clean: per layer, m passes
  through blocks L.. only, from the residual recorded in a clean forward (the batched scan's
  segments); about n_layers / 2 times the work of "all".

Where LD is linear in z (a one-layer model read out linearly) every m gives the exact effect; where a
layer has one head, "layer" tends to the exact effect as m grows (the fundamental theorem of calculus
along the path). Per prompt, `ablated` = clean + est, so the result has the batched scan's shape
(per-prompt arrays, split halves) and a resumable scan stores it as one shard per layer.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from harness.scoring.ablation import AblationValues
from harness.scoring.batched import run_from, segments
from harness.scoring.exact_inputs import exact_scan_inputs
from harness.scoring.geometry import geometry, z_name
from harness.scoring.memory import DEFAULT_MEMORY_BUDGET_MB, row_chunks, rows_per_backward
from harness.scoring.methods import DEFAULT_IG_PATH, DEFAULT_IG_STEPS, IG_PATHS
from harness.scoring.progress import bar
from harness.scoring.prompts import Prompts
from harness.scoring.readout import final_residual, head_logit_diff, ld_from_residual
from harness.scoring.result import ScanResult, result_from_rows


def midpoints(steps: int) -> torch.Tensor:
    """The midpoint rule's alphas (j + 1/2) / m, j = 0..m-1, float64."""
    if int(steps) < 1:
        raise ValueError(f"IG steps must be >= 1, got {steps!r}")
    return (torch.arange(int(steps), dtype=torch.float64) + 0.5) / int(steps)


def check_path(path: str) -> None:
    if path not in IG_PATHS:
        raise ValueError(f"IG path must be one of {IG_PATHS}, got {path!r}")


def _plan(bridge: Any, length: int, steps: int, memory_budget_mb: float) -> tuple[int, int]:
    """(alphas per pass, rows per pass): alphas are stacked along the batch axis like rows."""
    budget = rows_per_backward(bridge, length, memory_budget_mb)
    per_pass = max(1, min(steps, budget))
    return per_pass, max(1, budget // per_pass)


def _estimate(delta: torch.Tensor, grad: torch.Tensor, n_alphas: int) -> torch.Tensor:
    """Sum over alphas of sum over positions and d_head of delta * grad, per row and head:
    (n_alphas * n, T, H, D) -> (n, H), float64."""
    per_copy = (delta.double() * grad.double()).sum(dim=(1, 3))  # the product in float64: bf16 scans too
    return per_copy.view(n_alphas, -1, per_copy.shape[-1]).sum(0)


def _layer_path_rows(
    bridge: Any, p: Prompts, values: AblationValues, layers: list[int], alphas: torch.Tensor, memory_budget_mb: float
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Path "layer": per layer, (layer, est (H, N), clean (N,)) from passes through blocks L.. only."""
    n_heads = geometry(bridge)[1]
    with torch.no_grad():
        segs = segments(bridge, p, layers[0])
    clean = torch.empty(len(p), dtype=torch.float64, device=p.tokens.device)
    for seg in segs:
        clean[seg.rows] = seg.clean.double()
    steps = alphas.shape[0]
    for layer in layers:
        est = torch.zeros(n_heads, len(p), dtype=torch.float64, device=p.tokens.device)
        for seg in segs:
            per_pass, rows_per = _plan(bridge, seg.length, steps, memory_budget_mb)
            for rows in row_chunks(int(seg.rows.shape[0]), rows_per):
                seg_rows = seg.rows[rows]
                target = values.rows(layer, seg_rows, seg.length)
                for first in range(0, steps, per_pass):
                    chunk = alphas[first : first + per_pass]
                    est[:, seg_rows] += _layer_pass(bridge, p, seg, layer, rows, seg_rows, target, chunk).T
        yield layer, est / steps, clean


def _layer_pass(
    bridge: Any, p: Prompts, seg: Any, layer: int, rows: slice, seg_rows: torch.Tensor, target: torch.Tensor,
    alphas: torch.Tensor,
) -> torch.Tensor:
    """One forward+backward of blocks layer.. for `rows` of `seg`, one copy per alpha: (n, H)."""
    copies = alphas.shape[0]
    kept: dict[str, torch.Tensor] = {}

    def interpolate(z: torch.Tensor, hook: Any) -> torch.Tensor:
        clean_z = z.detach()
        delta = target.to(clean_z.dtype).repeat(copies, 1, 1, 1) - clean_z
        a = alphas.to(clean_z).repeat_interleave(target.shape[0])[:, None, None, None]
        moved = (clean_z + a * delta).requires_grad_(True)
        kept["z"], kept["delta"] = moved, delta
        return moved

    with torch.enable_grad(), bridge.hooks(fwd_hooks=[(z_name(layer), interpolate)]):
        resid_last = run_from(bridge, seg, layer, rows, copies)
        ld = head_logit_diff(bridge, resid_last, p.correct[seg_rows].repeat(copies), p.distractor[seg_rows].repeat(copies))
        (grad,) = torch.autograd.grad(ld.sum(), [kept["z"]])
    return _estimate(kept["delta"], grad, copies)


def _all_path_rows(
    bridge: Any, p: Prompts, values: AblationValues, alphas: torch.Tensor, memory_budget_mb: float, progress_bar: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """Path "all": est (n_layers, H, N) and clean (N,) from m passes of the whole model."""
    n_layers, n_heads, _ = geometry(bridge)
    width = p.tokens.shape[1]
    steps = alphas.shape[0]
    per_pass, rows_per = _plan(bridge, width, steps, memory_budget_mb)
    est = torch.zeros(n_layers, n_heads, len(p), dtype=torch.float64, device=p.tokens.device)
    clean = torch.empty(len(p), dtype=torch.float64, device=p.tokens.device)
    for rows in row_chunks(len(p), rows_per):
        n = rows.stop - rows.start
        clean_z: dict[int, torch.Tensor] = {}

        def record(layer: int) -> Any:
            def hook(z: torch.Tensor, hook: Any) -> None:
                clean_z[layer] = z.detach().clone()

            return hook

        with torch.no_grad():
            resid = final_residual(bridge, p.tokens[rows], [(z_name(layer), record(layer)) for layer in range(n_layers)])
            clean[rows] = ld_from_residual(bridge, resid, p.last_pos[rows], p.correct[rows], p.distractor[rows]).double()
        deltas = {layer: values.rows(layer, rows).to(clean_z[layer].dtype) - clean_z[layer] for layer in range(n_layers)}
        for first in range(0, steps, per_pass):
            chunk = alphas[first : first + per_pass]
            copies = chunk.shape[0]
            moved: dict[int, torch.Tensor] = {}
            repeated = {layer: d.repeat(copies, 1, 1, 1) for layer, d in deltas.items()}

            def shift(layer: int) -> Any:
                def hook(z: torch.Tensor, hook: Any) -> torch.Tensor:
                    a = chunk.to(z.dtype).repeat_interleave(n)[:, None, None, None]
                    out = z + a * repeated[layer]
                    if not out.requires_grad:  # nothing upstream needs gradients (layer 0 of a frozen model)
                        out = out.detach().requires_grad_(True)
                    moved[layer] = out
                    return out

                return hook

            tokens = p.tokens[rows].repeat(copies, 1)
            with torch.enable_grad():
                resid = final_residual(bridge, tokens, [(z_name(layer), shift(layer)) for layer in range(n_layers)])
                last = p.last_pos[rows].repeat(copies)
                ld = ld_from_residual(bridge, resid, last, p.correct[rows].repeat(copies), p.distractor[rows].repeat(copies))
                grads = torch.autograd.grad(ld.sum(), [moved[layer] for layer in range(n_layers)])
            for layer in range(n_layers):
                est[layer, :, rows] += _estimate(repeated[layer], grads[layer], copies).T
            if progress_bar is not None:
                progress_bar.update()
    return est / steps, clean


def ig_estimates(
    bridge: Any, p: Prompts, values: AblationValues, layers: list[int], *, steps: int, path: str,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB, progress_bar: Any = None,
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """(layer, est (n_heads, N), clean (N,)) per layer of `layers`, from prompts already as tensors and
    replacement values already computed (e.g. on a larger prompt set than the rows scored here):
    the core both `iter_ig_layers` and a benchmark over prompt subsets call."""
    check_path(path)
    alphas = midpoints(steps)
    if path == "layer":
        for item in _layer_path_rows(bridge, p, values, layers, alphas, memory_budget_mb):
            yield item
            if progress_bar is not None:
                progress_bar.update()
        return
    est, clean = _all_path_rows(bridge, p, values, alphas, memory_budget_mb, progress_bar)
    for layer in layers:
        yield layer, est[layer], clean


def iter_ig_layers(
    bridge: Any,
    prompts: Any,
    method: str = "mean",
    *,
    layers: Sequence[int] | None = None,
    steps: int = DEFAULT_IG_STEPS,
    path: str = DEFAULT_IG_PATH,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    progress: bool = True,
    desc: str = "IG scan",
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """The IG screen one layer at a time, shaped like `batched.iter_batched_layers`: yields (layer,
    ablated, clean) with `ablated` (n_heads, N) = clean + each prompt's IG estimate, float64 on the
    CPU. Path "layer" computes layer by layer (a killed scan keeps the layers it stored); "all"
    computes every layer in its m passes, then yields them."""
    check_path(path)
    midpoints(steps)  # refuse a bad m before any forward
    p, chosen, _, values = exact_scan_inputs(bridge, prompts, method, layers, memory_budget_mb)
    if path == "layer":
        total = len(chosen)
    else:
        per_pass, rows_per = _plan(bridge, p.tokens.shape[1], int(steps), memory_budget_mb)
        total = -(-len(p) // rows_per) * -(-int(steps) // per_pass)
    with bar(total, desc, progress) as progress_bar:
        for layer, est, clean in ig_estimates(bridge, p, values, chosen, steps=steps, path=path,
                                              memory_budget_mb=memory_budget_mb, progress_bar=progress_bar):
            yield layer, (clean[None, :] + est).cpu(), clean.cpu()


def scan_ig(
    bridge: Any,
    prompts: Any,
    method: str = "mean",
    *,
    layers: Sequence[int] | None = None,
    steps: int = DEFAULT_IG_STEPS,
    path: str = DEFAULT_IG_PATH,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    progress: bool = True,
) -> ScanResult:
    """The IG screen as one ScanResult (algorithm "attribution_ig"): delta = mean over prompts of
    the IG estimate; the per-prompt arrays are clean + estimate, like the exact scan's."""
    started = time.perf_counter()
    done = list(iter_ig_layers(bridge, prompts, method, layers=layers, steps=steps, path=path,
                               memory_budget_mb=memory_budget_mb, progress=progress))
    chosen = [layer for layer, _, _ in done]
    ablated = torch.stack([rows for _, rows, _ in done])
    return result_from_rows(bridge, chosen, ablated, done[0][2], method, "attribution_ig", started)
