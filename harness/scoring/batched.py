"""The batched exact scan: the same deltas as the naive loop (to float rounding), with less work.

(a) one clean forward per "segment" (rows grouped by length, so little padding is computed) records
    the residual entering every block and the arguments the model passed to it (rotary embeddings,
    attention mask); ablating a head of layer L then re-runs blocks L.. only, starting from the
    recorded residual. The bridge's own `start_at_layer` cannot be used for this: it still executes
    blocks 0..L-1 and discards their output (see its docstring), which saves nothing. The blocks are
    the bridge's `BlockBridge` modules, so the ablation is the same TransformerLens hook
    (`blocks.L.attn.hook_z`) as in the naive loop;
(b) k heads of one layer are ablated in one forward: the rows are replicated k times along the batch
    axis and row-group j has head j ablated;
(c) the final norm runs on each row's last position only, followed by the readout's dot product
    (`readout.head_logit_diff`), instead of full-vocabulary logits (checked once per segment against
    the full logits of the clean forward, `readout.check_output_head`);
(d) k (and, when one head is too much, the rows) are chunked to fit `memory_budget_mb`
    (`memory.rows_per_forward`: on a CPU also a few thousand tokens per forward).

`iter_batched_layers` yields one layer at a time (what a resumable scan stores as a shard);
`scan_batched` is the whole scan as one ScanResult.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from harness.scoring.ablation import AblationValues
from harness.scoring.exact_inputs import exact_scan_inputs
from harness.scoring.geometry import geometry, z_name
from harness.scoring.memory import DEFAULT_MEMORY_BUDGET_MB, row_chunks, rows_per_forward
from harness.scoring.progress import bar
from harness.scoring.prompts import Prompts, as_prompts
from harness.scoring.readout import check_output_head, head_logit_diff, ld_from_residual
from harness.scoring.result import ScanResult, result_from_rows

# The batched scan groups prompts by length; a group smaller than this (rows x tokens) merges with
# the next length up rather than run as a batch too small to compute efficiently.
MIN_SEGMENT_TOKENS = 64


@dataclass
class _Segment:
    """Rows of similar length (right-padded to `length`), and what their clean forward recorded."""

    rows: torch.Tensor  # (n,) indices into the prompt set
    length: int
    last: torch.Tensor  # (n,) each row's last position
    resid_pre: dict[int, torch.Tensor]  # layer -> residual entering the block, (n, length, d_model)
    block_args: dict[int, tuple[tuple, dict]]  # layer -> the block's other positional/keyword args
    hidden_in_kwargs: dict[int, bool]  # layer -> the residual was passed as `hidden_states=`
    clean: torch.Tensor  # (n,) clean logit differences


def _record_segment(bridge: Any, p: Prompts, rows: torch.Tensor, first: int) -> _Segment:
    """Clean forward of `rows` (cut to their longest length), recording the input of blocks first..
    and the final residual; checks that the two-row unembedding reproduces the full logits."""
    n_layers = geometry(bridge)[0]
    resid_pre: dict[int, torch.Tensor] = {}
    block_args: dict[int, tuple[tuple, dict]] = {}
    hidden_in_kwargs: dict[int, bool] = {}
    final: dict[str, torch.Tensor] = {}

    def recorder(layer: int) -> Callable[..., None]:
        def pre_hook(module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
            if args:
                resid_pre[layer], block_args[layer] = args[0], (args[1:], dict(kwargs))
                hidden_in_kwargs[layer] = False
            else:
                rest = {k: v for k, v in kwargs.items() if k != "hidden_states"}
                resid_pre[layer], block_args[layer] = kwargs["hidden_states"], ((), rest)
                hidden_in_kwargs[layer] = True

        return pre_hook

    def keep_final(tensor: torch.Tensor, hook: Any) -> None:
        final["resid"] = tensor

    handles = [
        bridge.blocks[layer].register_forward_pre_hook(recorder(layer), with_kwargs=True)
        for layer in range(first, n_layers)
    ]
    last = p.last_pos[rows]
    length = int(last.max()) + 1
    tokens = p.tokens[rows, :length]
    try:
        logits = bridge.run_with_hooks(tokens, fwd_hooks=[("ln_final.hook_in", keep_final)], use_cache=False)
    finally:
        for handle in handles:
            handle.remove()
    correct, distractor = p.correct[rows], p.distractor[rows]
    clean = ld_from_residual(bridge, final["resid"], last, correct, distractor)
    check_output_head(clean, logits, last, correct, distractor)
    return _Segment(rows, length, last, resid_pre, block_args, hidden_in_kwargs, clean)


def segment_groups(p: Prompts) -> list[torch.Tensor]:
    """Rows grouped by length, shortest first: one group per distinct length, except that short
    groups merge with the next length up until they hold `MIN_SEGMENT_TOKENS` (small batches run
    inefficiently, padding wastes work; this trades the two)."""
    lengths = p.last_pos + 1
    groups: list[torch.Tensor] = []
    pending = lengths.new_empty(0)
    for length in torch.unique(lengths).tolist():
        pending = torch.cat([pending, torch.nonzero(lengths == length)[:, 0]])
        if pending.shape[0] * length >= MIN_SEGMENT_TOKENS:
            groups.append(pending)
            pending = lengths.new_empty(0)
    if pending.shape[0]:
        if groups:
            pending = torch.cat([groups.pop(), pending])
        groups.append(pending)
    return groups


def segment_rows(prompts: Any) -> list[list[int]]:
    """The row groups the batched scan runs together (rows of similar length, see `segment_groups`),
    for a PromptSet: what a cost model needs to know the padded width each row is computed at."""
    return [rows.tolist() for rows in segment_groups(as_prompts(prompts, torch.device("cpu")))]


def segments(bridge: Any, p: Prompts, first: int) -> list[_Segment]:
    """One recorded clean forward per segment of rows of similar length."""
    return [_record_segment(bridge, p, rows, first) for rows in segment_groups(p)]


def _expand_rows(value: Any, n: int, rows: slice, copies: int) -> Any:
    """`value` (a block argument recorded for n rows) for `rows` of them, repeated `copies` times
    along the batch axis. Tensors whose leading axis is the batch (size n > 1) are selected and
    repeated; others (rotary tables, position ids: leading size 1) broadcast and are kept."""
    if isinstance(value, torch.Tensor):
        if n > 1 and value.dim() > 0 and value.shape[0] == n:
            picked = value[rows]
            return picked.repeat(copies, *([1] * (picked.dim() - 1)))
        return value
    if isinstance(value, tuple):
        return tuple(_expand_rows(v, n, rows, copies) for v in value)
    if isinstance(value, list):
        return [_expand_rows(v, n, rows, copies) for v in value]
    if isinstance(value, dict):
        return {k: _expand_rows(v, n, rows, copies) for k, v in value.items()}
    return value


def _ablate_heads(values: torch.Tensor, heads: Sequence[int]) -> Callable[..., torch.Tensor]:
    """A hook_z hook for a batch of len(heads) row-groups of n rows: in row-group j, head heads[j]
    is replaced by `values` (n, T, n_heads, d_head) at every position."""
    n = values.shape[0]

    def hook(z: torch.Tensor, hook: Any) -> torch.Tensor:
        for j, head in enumerate(heads):
            z[j * n : (j + 1) * n, :, head] = values[:, :, head]
        return z

    return hook


def run_from(bridge: Any, seg: _Segment, layer: int, rows: slice, copies: int) -> torch.Tensor:
    """Run blocks layer.. on the recorded residual of `rows` of `seg`, repeated `copies` times;
    returns the final residual at each row's last position, (copies * n_rows, d_model)."""
    n = int(seg.rows.shape[0])
    resid = seg.resid_pre[layer][rows]
    resid = resid.repeat(copies, 1, 1)
    for block_index in range(layer, geometry(bridge)[0]):
        args, kwargs = _expand_rows(seg.block_args[block_index], n, rows, copies)
        if seg.hidden_in_kwargs[block_index]:
            out = bridge.blocks[block_index](*args, hidden_states=resid, **kwargs)
        else:
            out = bridge.blocks[block_index](resid, *args, **kwargs)
        resid = out[0] if isinstance(out, tuple) else out
    last = seg.last[rows].repeat(copies)
    return resid[torch.arange(last.shape[0], device=last.device), last]


def plan_forwards(bridge: Any, seg: _Segment, n_heads: int, memory_budget_mb: float) -> tuple[int, int]:
    """(heads per forward, rows per forward) for one segment within the memory budget."""
    budget_rows = rows_per_forward(bridge, seg.length, memory_budget_mb)
    n = int(seg.rows.shape[0])
    rows = min(n, budget_rows)
    return max(1, min(n_heads, budget_rows // rows)), rows


def _n_forwards(seg: _Segment, n_heads: int, plan: tuple[int, int]) -> int:
    heads_per, rows_per = plan
    return -(-n_heads // heads_per) * -(-int(seg.rows.shape[0]) // rows_per)


def _ablated_rows(
    bridge: Any, p: Prompts, seg: _Segment, layer: int, values: AblationValues, plan: tuple[int, int],
    out: torch.Tensor, bar: tqdm,
) -> None:
    """For each head of `layer`, the logit difference of each of the segment's rows with that head
    ablated, written into `out` (n_heads, N) at the segment's rows; `plan` says how many heads and
    rows go into one forward."""
    n_heads = geometry(bridge)[1]
    heads_per, rows_per = plan
    for rows in row_chunks(int(seg.rows.shape[0]), rows_per):
        seg_rows = seg.rows[rows]
        layer_values = values.rows(layer, seg_rows, seg.length)
        for first in range(0, n_heads, heads_per):
            heads = list(range(first, min(n_heads, first + heads_per)))
            with bridge.hooks(fwd_hooks=[(z_name(layer), _ablate_heads(layer_values, heads))]):
                resid_last = run_from(bridge, seg, layer, rows, len(heads))
            correct = p.correct[seg_rows].repeat(len(heads))
            distractor = p.distractor[seg_rows].repeat(len(heads))
            ablated = head_logit_diff(bridge, resid_last, correct, distractor)
            out[heads[0] : heads[-1] + 1, seg_rows] = ablated.view(len(heads), -1).double()
            bar.update()


def iter_batched_layers(
    bridge: Any,
    prompts: Any,
    method: str = "mean",
    *,
    layers: Sequence[int] | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    progress: bool = True,
    desc: str = "batched scan",
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """The batched exact scan one layer at a time: yields (layer, ablated, clean) where `ablated`
    (n_heads, N) float64 holds every prompt's logit difference with each head of the layer ablated
    and `clean` (N,) the clean ones. What a resumable scan stores as one shard per layer."""
    p, chosen, n_heads, values = exact_scan_inputs(bridge, prompts, method, layers, memory_budget_mb)
    with torch.no_grad():
        segs = segments(bridge, p, chosen[0])
        clean = torch.empty(len(p), dtype=torch.float64, device=p.tokens.device)
        for seg in segs:
            clean[seg.rows] = seg.clean.double()
        plans = [plan_forwards(bridge, seg, n_heads, memory_budget_mb) for seg in segs]
        total = len(chosen) * sum(_n_forwards(seg, n_heads, plan) for seg, plan in zip(segs, plans))
        with bar(total, desc, progress) as progress_bar:
            for layer in chosen:
                ablated = torch.empty(n_heads, len(p), dtype=torch.float64, device=p.tokens.device)
                for seg, plan in zip(segs, plans):
                    _ablated_rows(bridge, p, seg, layer, values, plan, ablated, progress_bar)
                yield layer, ablated.cpu(), clean.cpu()


def scan_batched(
    bridge: Any,
    prompts: Any,
    method: str = "mean",
    *,
    layers: Sequence[int] | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    progress: bool = True,
) -> ScanResult:
    """The exact scan, fast: same deltas as `scan_naive` (to float rounding), computed from recorded
    block inputs, many heads per forward, and the last-position logit difference only. The result
    keeps every prompt's ablated logit difference (`ablated_per_prompt`) for split halves and
    resampling over prompts."""
    started = time.perf_counter()
    done = list(iter_batched_layers(bridge, prompts, method, layers=layers, memory_budget_mb=memory_budget_mb, progress=progress))
    chosen = [layer for layer, _, _ in done]
    ablated = torch.stack([rows for _, rows, _ in done])
    return result_from_rows(bridge, chosen, ablated, done[0][2], method, "batched", started)
