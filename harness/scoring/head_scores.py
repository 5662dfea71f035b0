"""Scoring attention heads by ablation: every torch computation of a head scan lives here.

The score of head (L, h) is the origin's: replace the head's output at `blocks.L.attn.hook_z` (the
head's slice of the attention output before the output projection) at every position, and take
`delta = LD_ablated - LD_clean`, where LD is the mean over prompts of logit(correct) -
logit(distractor) at each prompt's last token. Negative delta: the head helps the task.

Replacement values (`ablation_values`): zeros (the origin's "zero" method) or, by default here,
"mean": the mean of hook_z over the ABC-corrupted prompts of the same template at the same position.

Three algorithms, one result type (`ScanResult`), dispatched by `score_heads`:

- `scan_naive`: the reference. One forward of the whole prompt set per head through
  `bridge.run_with_hooks` with a plain hook on `blocks.L.attn.hook_z`, full logits, LD read off them.
- `scan_batched`: exact (same numbers as the naive loop), less work:
  (a) one clean forward per "segment" (rows grouped by length, so little padding is computed)
      records the residual entering every block and the arguments the model passed to it (rotary
      embeddings, attention mask); ablating a head of layer L then re-runs blocks L.. only, starting
      from the recorded residual. The bridge's own `start_at_layer` cannot be used for this: it
      still executes blocks 0..L-1 and discards their output (see its docstring), which saves
      nothing. The blocks are the bridge's `BlockBridge` modules, so the ablation is the same
      TransformerLens hook (`blocks.L.attn.hook_z`) as in the naive loop;
  (b) k heads of one layer are ablated in one forward: the rows are replicated k times along the
      batch axis and row-group j has head j ablated;
  (c) the final norm runs on each row's last position only, followed by a dot product with
      W_U[:, correct] - W_U[:, distractor], instead of computing full-vocabulary logits
      (checked once per segment against the full logits of the clean forward);
  (d) k (and, when one head is too much, the rows) are chunked to fit `memory_budget_mb` (on a
      CPU also to a few thousand tokens per forward, which runs faster per token).
- `scan_attribution`: attribution patching, an approximation in one forward and one backward (plus
  the corrupted forward that the mean values need):
  delta_hat(L, h) = sum over positions and d_head of (replacement - clean z) * dLD/dz.

`scan_tl_patching` runs the same ablation through TransformerLens's patching helper, for the
benchmarks; `agreement` compares an approximate scan with an exact one.

Everything runs on the bridge's device and in its dtype; nothing here names a device.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn
from unittest import mock

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm
from transformer_lens.model_bridge.exceptions import StopAtLayerException

from harness.scoring.methods import ABLATION_METHODS as METHODS, SCAN_ALGORITHMS as ALGORITHMS

DEFAULT_MEMORY_BUDGET_MB = 1024
TOP_K_AGREEMENT = 20
# The clean LD computed from the final-position residual must match the full logits this closely (in
# float32; more in half precision); a larger gap means the model's output head is not "final norm,
# then a linear unembedding".
_HEAD_CHECK_ATOL = 1e-3
# The batched scan groups prompts by length; a group smaller than this (rows x tokens) merges with
# the next length up rather than run as a batch too small to compute efficiently.
_MIN_SEGMENT_TOKENS = 64
# On a CPU, forwards beyond a few thousand tokens run slower per token (activations fall out of the
# caches: measured 105 us/token/block for SmolLM2 up to ~3000 tokens, 128 at 5760), so CPU forwards
# are capped here whatever the memory budget allows.
_CPU_TOKENS_PER_FORWARD = 2048

Hook = tuple[str, Callable[..., Any]]


# ---------------------------------------------------------------------------------------------
# Result type


@dataclass
class ScanResult:
    """The scores of every scanned head, and how they were computed.

    `table` has one row per head (all heads of the model, or of the `layers` asked for): layer,
    head, delta (= LD_ablated - LD_clean) and delta_norm (= delta / LD_clean).
    """

    table: pd.DataFrame
    clean_logit_diff: float  # mean over prompts
    clean_accuracy: float  # share of prompts with logit(correct) > logit(distractor)
    method: str  # "zero" | "mean"
    algorithm: str  # "naive" | "batched" | "attribution" | "tl_patching"
    device: str
    dtype: str
    seconds: float
    n_prompts: int
    # Exact batched scans only: each prompt's logit difference with each head ablated,
    # (len(layers), n_heads, N), and the clean ones (N,) -- for split halves and resampling.
    ablated_per_prompt: np.ndarray | None = None
    clean_per_prompt: np.ndarray | None = None


# ---------------------------------------------------------------------------------------------
# Small helpers: geometry, prompts as tensors, hook names


def _param(bridge: Any) -> torch.Tensor:
    """A parameter of the wrapped model: its device and dtype are the ones everything uses."""
    return next(bridge.original_model.parameters())


def _geometry(bridge: Any) -> tuple[int, int, int]:
    """(n_layers, n_heads, d_head) of the bridge's model."""
    cfg = bridge.cfg
    return int(cfg.n_layers), int(cfg.n_heads), int(cfg.d_head)


def _z_name(layer: int) -> str:
    return f"blocks.{layer}.attn.hook_z"


@dataclass
class _Prompts:
    """The parts of a PromptSet a scan reads, as tensors on the model's device."""

    tokens: torch.Tensor  # (N, T) long, right-padded
    corrupt_tokens: torch.Tensor  # (N, T) long
    last_pos: torch.Tensor  # (N,) long
    correct: torch.Tensor  # (N,) long
    distractor: torch.Tensor  # (N,) long
    group: torch.Tensor  # (N,) long: template index in 0..G-1
    n_groups: int

    def __len__(self) -> int:
        return int(self.tokens.shape[0])


def _prompts(prompts: Any, device: torch.device) -> _Prompts:
    """Tensors of `prompts` (a harness.ioi_dataset.PromptSet) on `device`, checked for right padding:
    the scans pass no attention mask, which is exact only when padding follows the real tokens."""
    mask = np.asarray(prompts.attention_mask)
    last_pos = np.asarray(prompts.last_pos)
    expected = np.arange(mask.shape[1])[None, :] <= last_pos[:, None]
    if not np.array_equal(mask.astype(bool), expected):
        raise ValueError("prompts must be right-padded: attention_mask == (position <= last_pos)")
    _, group = np.unique(np.asarray(prompts.template_id), return_inverse=True)

    def as_long(a: Any) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a), dtype=torch.long, device=device)

    return _Prompts(
        tokens=as_long(prompts.tokens),
        corrupt_tokens=as_long(prompts.corrupt_tokens),
        last_pos=as_long(last_pos),
        correct=as_long(prompts.correct_id),
        distractor=as_long(prompts.distractor_id),
        group=as_long(group),
        n_groups=int(group.max()) + 1,
    )


def _bar(total: int, desc: str, progress: bool) -> tqdm:
    return tqdm(total=total, desc=desc, disable=not progress, file=sys.stderr, leave=False)


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def _row_chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


# ---------------------------------------------------------------------------------------------
# Logit differences


def _stop(tensor: torch.Tensor, hook: Any) -> NoReturn:
    """A hook that ends the forward and makes it return `tensor` (the bridge catches this)."""
    raise StopAtLayerException(tensor)


def final_residual(bridge: Any, tokens: torch.Tensor, fwd_hooks: Sequence[Hook] = ()) -> torch.Tensor:
    """The residual stream entering the final norm, (n, T, d_model), without computing logits."""
    hooks = [*fwd_hooks, ("ln_final.hook_in", _stop)]
    return bridge.run_with_hooks(tokens, fwd_hooks=hooks, use_cache=False)


def head_logit_diff(
    bridge: Any, resid_last: torch.Tensor, correct: torch.Tensor, distractor: torch.Tensor
) -> torch.Tensor:
    """logit(correct) - logit(distractor) from last-position residuals (n, d_model): the final norm,
    then a dot product with the difference of the two unembedding rows (plus their bias)."""
    normed = bridge.ln_final(resid_last[:, None, :])[:, 0, :]
    lm_head = bridge.unembed.original_component
    direction = lm_head.weight[correct] - lm_head.weight[distractor]
    diff = (normed * direction).sum(-1)
    bias = getattr(lm_head, "bias", None)
    if bias is not None:
        diff = diff + bias[correct] - bias[distractor]
    return diff


def logit_diff(bridge: Any, prompts: Any, *, fwd_hooks: Sequence[Hook] = (), full_logits: bool = False) -> torch.Tensor:
    """Per-prompt logit(correct) - logit(distractor) at each prompt's last token, (N,).

    `prompts` is a PromptSet. By default only the two unembedding rows are used (the final norm on
    the last position, then a dot product); `full_logits=True` computes the full-vocabulary logits
    and reads the two entries off them, as a plain forward would.
    """
    p = prompts if isinstance(prompts, _Prompts) else _prompts(prompts, _param(bridge).device)
    rows = torch.arange(len(p), device=p.tokens.device)
    if full_logits:
        logits = bridge.run_with_hooks(p.tokens, fwd_hooks=list(fwd_hooks), use_cache=False)
        last = logits[rows, p.last_pos]
        return last.gather(1, p.correct[:, None])[:, 0] - last.gather(1, p.distractor[:, None])[:, 0]
    resid = final_residual(bridge, p.tokens, fwd_hooks)
    return head_logit_diff(bridge, resid[rows, p.last_pos], p.correct, p.distractor)


# ---------------------------------------------------------------------------------------------
# Ablation values


@dataclass
class AblationValues:
    """Per-layer replacement values for hook_z, stored per template ("group").

    `by_group[L]` is (G, T, n_heads, d_head): the value that replaces hook_z of layer L at each
    position for prompts of group g; `group[i]` is the group of prompt i. The zero method has one
    all-zero group.
    """

    method: str
    by_group: list[torch.Tensor]
    group: torch.Tensor  # (N,) long

    def rows(self, layer: int, rows: torch.Tensor | slice, length: int | None = None) -> torch.Tensor:
        """The replacement values of `rows` at layer `layer`, (n, T or length, n_heads, d_head)."""
        values = self.by_group[layer][self.group[rows]]
        return values if length is None else values[:, :length]


def _mean_by_group(bridge: Any, p: _Prompts, memory_budget_mb: float) -> list[torch.Tensor]:
    """Per layer, the mean of hook_z over the corrupted prompts of each group, at every position."""
    n_layers, n_heads, d_head = _geometry(bridge)
    param = _param(bridge)
    width = p.corrupt_tokens.shape[1]
    sums = torch.zeros(n_layers, p.n_groups, width, n_heads, d_head, device=param.device, dtype=torch.float32)

    def accumulate(layer: int, rows: slice) -> Callable[..., None]:
        def hook(z: torch.Tensor, hook: Any) -> None:
            sums[layer].index_add_(0, p.group[rows], z.float())

        return hook

    chunk = _rows_per_forward(bridge, width, memory_budget_mb)
    for rows in _row_chunks(len(p), chunk):
        hooks = [(_z_name(layer), accumulate(layer, rows)) for layer in range(n_layers)]
        final_residual(bridge, p.corrupt_tokens[rows], hooks)
    counts = torch.bincount(p.group, minlength=p.n_groups).to(sums)
    means = (sums / counts[None, :, None, None, None]).to(param.dtype)
    return list(means.unbind(0))


def ablation_values(
    bridge: Any, prompts: Any, method: str, *, memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB
) -> AblationValues:
    """The values that replace hook_z under `method`.

    "zero": zeros (the origin's method). "mean": the mean of hook_z over the ABC-corrupted prompts,
    taken per (template_id, position), so each prompt gets the mean at its own template's positions.
    """
    _check_method(method)
    param = _param(bridge)
    p = prompts if isinstance(prompts, _Prompts) else _prompts(prompts, param.device)
    n_layers, n_heads, d_head = _geometry(bridge)
    with torch.no_grad():
        if method == "zero":
            zeros = torch.zeros(1, p.tokens.shape[1], n_heads, d_head, device=param.device, dtype=param.dtype)
            return AblationValues(method, [zeros] * n_layers, torch.zeros_like(p.group))
        return AblationValues(method, _mean_by_group(bridge, p, memory_budget_mb), p.group)


# ---------------------------------------------------------------------------------------------
# Shared pieces of the scans


def _layers(bridge: Any, layers: Sequence[int] | None) -> list[int]:
    n_layers = _geometry(bridge)[0]
    chosen = list(range(n_layers)) if layers is None else sorted({int(x) for x in layers})
    if not chosen or chosen[0] < 0 or chosen[-1] >= n_layers:
        raise ValueError(f"layers must be a non-empty subset of 0..{n_layers - 1}, got {layers!r}")
    return chosen


def _exact_scan_inputs(
    bridge: Any, prompts: Any, method: str, layers: Sequence[int] | None, memory_budget_mb: float
) -> tuple[_Prompts, list[int], int, AblationValues]:
    """What every exact scan starts from: the prompts as tensors, the layers to scan, the number of
    heads per layer, and the replacement values of `method`."""
    p = _prompts(prompts, _param(bridge).device)
    chosen = _layers(bridge, layers)
    values = ablation_values(bridge, p, method, memory_budget_mb=memory_budget_mb)
    return p, chosen, _geometry(bridge)[1], values


def _result(
    bridge: Any,
    layers: Sequence[int],
    deltas: torch.Tensor,
    clean: torch.Tensor,
    method: str,
    algorithm: str,
    started: float,
) -> ScanResult:
    """Assemble a ScanResult from per-head deltas (len(layers), n_heads) and per-prompt clean LDs."""
    n_heads = deltas.shape[1]
    clean_mean = float(clean.double().mean())
    delta = deltas.double().cpu().numpy().reshape(-1)
    table = pd.DataFrame(
        {
            "layer": np.repeat(np.asarray(layers, dtype=np.int64), n_heads),
            "head": np.tile(np.arange(n_heads, dtype=np.int64), len(layers)),
            "delta": delta,
            "delta_norm": delta / clean_mean,
        }
    )
    param = _param(bridge)
    return ScanResult(
        table=table,
        clean_logit_diff=clean_mean,
        clean_accuracy=float((clean > 0).double().mean()),
        method=method,
        algorithm=algorithm,
        device=str(param.device),
        dtype=str(param.dtype).removeprefix("torch."),
        seconds=time.perf_counter() - started,
        n_prompts=int(clean.shape[0]),
    )


def _bytes_per_row(bridge: Any, length: int) -> int:
    """A generous estimate of the memory one prompt row of `length` tokens takes in one block's
    forward: residual copies, norms, q/k/v/z, attention scores and patterns, MLP activations."""
    cfg = bridge.cfg
    d_mlp = int(getattr(cfg, "d_mlp", None) or 4 * cfg.d_model)
    per_token = 12 * int(cfg.d_model) + 4 * d_mlp + 4 * int(cfg.n_heads) * length
    return length * per_token * _param(bridge).element_size()


def _rows_in_budget(bridge: Any, length: int, memory_budget_mb: float) -> int:
    """How many prompt rows of `length` tokens one block's forward may hold in the memory budget."""
    return int(memory_budget_mb * 2**20) // _bytes_per_row(bridge, length)


def _rows_per_forward(bridge: Any, length: int, memory_budget_mb: float) -> int:
    """How many prompt rows of `length` tokens one forward may hold within the memory budget
    (and, on a CPU, within `_CPU_TOKENS_PER_FORWARD`)."""
    rows = _rows_in_budget(bridge, length, memory_budget_mb)
    if _param(bridge).device.type == "cpu":
        rows = min(rows, _CPU_TOKENS_PER_FORWARD // length)
    return max(1, rows)


# ---------------------------------------------------------------------------------------------
# The naive reference


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
    p, chosen, n_heads, values = _exact_scan_inputs(bridge, prompts, method, layers, memory_budget_mb)
    deltas = torch.zeros(len(chosen), n_heads, dtype=torch.float64)
    with torch.no_grad():
        clean = logit_diff(bridge, p, full_logits=True)
        with _bar(len(chosen) * n_heads, "naive scan", progress) as bar:
            for i, layer in enumerate(chosen):
                layer_values = values.rows(layer, slice(None))
                for head in range(n_heads):
                    hook = (_z_name(layer), _replace_head(layer_values, head))
                    ablated = logit_diff(bridge, p, fwd_hooks=[hook], full_logits=True)
                    deltas[i, head] = ablated.double().mean() - clean.double().mean()
                    bar.update()
    return _result(bridge, chosen, deltas, clean, method, "naive", started)


# ---------------------------------------------------------------------------------------------
# The batched exact scan


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


def _record_segment(bridge: Any, p: _Prompts, rows: torch.Tensor, first: int) -> _Segment:
    """Clean forward of `rows` (cut to their longest length), recording the input of blocks first..
    and the final residual; checks that the two-row unembedding reproduces the full logits."""
    n_layers = _geometry(bridge)[0]
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
    index = torch.arange(rows.shape[0], device=rows.device)
    clean = head_logit_diff(bridge, final["resid"][index, last], correct, distractor)
    _check_output_head(clean, logits[index, last], correct, distractor)
    return _Segment(rows, length, last, resid_pre, block_args, hidden_in_kwargs, clean)


def _check_output_head(
    clean: torch.Tensor, logits_last: torch.Tensor, correct: torch.Tensor, distractor: torch.Tensor
) -> None:
    """Raise unless the two-row logit differences `clean` match the full logits (n, vocab) at the
    last positions: they differ when the model does more than "final norm, then linear unembedding"
    (a logit soft-cap or scale, say). The tolerance allows for rounding in the model's dtype."""
    reference = logits_last.gather(1, correct[:, None])[:, 0] - logits_last.gather(1, distractor[:, None])[:, 0]
    scale = float(logits_last.abs().max())
    tolerance = max(_HEAD_CHECK_ATOL, 4 * torch.finfo(logits_last.dtype).eps * scale)
    gap = float((clean - reference).abs().max())
    if gap > tolerance:
        raise RuntimeError(
            f"the last-position logit difference differs from the full logits by {gap:.3g} "
            f"(tolerance {tolerance:.3g}): this model's output head is not 'final norm, then linear "
            "unembedding'; use algorithm='naive'"
        )


def _segment_rows(p: _Prompts) -> list[torch.Tensor]:
    """Rows grouped by length, shortest first: one group per distinct length, except that short
    groups merge with the next length up until they hold `_MIN_SEGMENT_TOKENS` (small batches run
    inefficiently, padding wastes work; this trades the two)."""
    lengths = p.last_pos + 1
    groups: list[torch.Tensor] = []
    pending = lengths.new_empty(0)
    for length in torch.unique(lengths).tolist():
        pending = torch.cat([pending, torch.nonzero(lengths == length)[:, 0]])
        if pending.shape[0] * length >= _MIN_SEGMENT_TOKENS:
            groups.append(pending)
            pending = lengths.new_empty(0)
    if pending.shape[0]:
        if groups:
            pending = torch.cat([groups.pop(), pending])
        groups.append(pending)
    return groups


def segment_rows(prompts: Any) -> list[list[int]]:
    """The row groups the batched scan runs together (rows of similar length, see `_segment_rows`),
    for a PromptSet: what a cost model needs to know the padded width each row is computed at."""
    return [rows.tolist() for rows in _segment_rows(_prompts(prompts, torch.device("cpu")))]


def _segments(bridge: Any, p: _Prompts, first: int) -> list[_Segment]:
    """One recorded clean forward per segment of rows of similar length."""
    return [_record_segment(bridge, p, rows, first) for rows in _segment_rows(p)]


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


def _run_from(bridge: Any, seg: _Segment, layer: int, rows: slice, copies: int) -> torch.Tensor:
    """Run blocks layer.. on the recorded residual of `rows` of `seg`, repeated `copies` times;
    returns the final residual at each row's last position, (copies * n_rows, d_model)."""
    n = int(seg.rows.shape[0])
    resid = seg.resid_pre[layer][rows]
    resid = resid.repeat(copies, 1, 1)
    for block_index in range(layer, _geometry(bridge)[0]):
        args, kwargs = _expand_rows(seg.block_args[block_index], n, rows, copies)
        if seg.hidden_in_kwargs[block_index]:
            out = bridge.blocks[block_index](*args, hidden_states=resid, **kwargs)
        else:
            out = bridge.blocks[block_index](resid, *args, **kwargs)
        resid = out[0] if isinstance(out, tuple) else out
    last = seg.last[rows].repeat(copies)
    return resid[torch.arange(last.shape[0], device=last.device), last]


def _plan(bridge: Any, seg: _Segment, n_heads: int, memory_budget_mb: float) -> tuple[int, int]:
    """(heads per forward, rows per forward) for one segment within the memory budget."""
    budget_rows = _rows_per_forward(bridge, seg.length, memory_budget_mb)
    n = int(seg.rows.shape[0])
    rows = min(n, budget_rows)
    return max(1, min(n_heads, budget_rows // rows)), rows


def _n_forwards(seg: _Segment, n_heads: int, plan: tuple[int, int]) -> int:
    heads_per, rows_per = plan
    return -(-n_heads // heads_per) * -(-int(seg.rows.shape[0]) // rows_per)


def _ablated_rows(
    bridge: Any, p: _Prompts, seg: _Segment, layer: int, values: AblationValues, plan: tuple[int, int],
    out: torch.Tensor, bar: tqdm,
) -> None:
    """For each head of `layer`, the logit difference of each of the segment's rows with that head
    ablated, written into `out` (n_heads, N) at the segment's rows; `plan` says how many heads and
    rows go into one forward."""
    n_heads = _geometry(bridge)[1]
    heads_per, rows_per = plan
    for rows in _row_chunks(int(seg.rows.shape[0]), rows_per):
        seg_rows = seg.rows[rows]
        layer_values = values.rows(layer, seg_rows, seg.length)
        for first in range(0, n_heads, heads_per):
            heads = list(range(first, min(n_heads, first + heads_per)))
            with bridge.hooks(fwd_hooks=[(_z_name(layer), _ablate_heads(layer_values, heads))]):
                resid_last = _run_from(bridge, seg, layer, rows, len(heads))
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
    p, chosen, n_heads, values = _exact_scan_inputs(bridge, prompts, method, layers, memory_budget_mb)
    with torch.no_grad():
        segments = _segments(bridge, p, chosen[0])
        clean = torch.empty(len(p), dtype=torch.float64, device=p.tokens.device)
        for seg in segments:
            clean[seg.rows] = seg.clean.double()
        plans = [_plan(bridge, seg, n_heads, memory_budget_mb) for seg in segments]
        total = len(chosen) * sum(_n_forwards(seg, n_heads, plan) for seg, plan in zip(segments, plans))
        with _bar(total, desc, progress) as bar:
            for layer in chosen:
                ablated = torch.empty(n_heads, len(p), dtype=torch.float64, device=p.tokens.device)
                for seg, plan in zip(segments, plans):
                    _ablated_rows(bridge, p, seg, layer, values, plan, ablated, bar)
                yield layer, ablated.cpu(), clean.cpu()


def result_from_rows(
    bridge: Any, layers: Sequence[int], ablated: torch.Tensor, clean: torch.Tensor, method: str, algorithm: str, started: float
) -> ScanResult:
    """A ScanResult from per-prompt ablated logit differences (len(layers), n_heads, N) and clean
    ones (N,): delta = mean over prompts of ablated - mean of clean (exactly what the sums gave)."""
    deltas = ablated.double().mean(-1) - clean.double().mean()
    result = _result(bridge, layers, deltas, clean, method, algorithm, started)
    result.ablated_per_prompt = ablated.double().numpy()
    result.clean_per_prompt = clean.double().numpy()
    return result


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


# ---------------------------------------------------------------------------------------------
# Attribution patching


def _tracked_forward(
    bridge: Any, p: _Prompts, rows: slice, extra_hooks: Sequence[Hook] = ()
) -> tuple[torch.Tensor, dict[int, torch.Tensor], torch.Tensor]:
    """One forward of `rows` with gradients on: per-prompt LDs (n,), every layer's hook_z (as the
    graph holds it, so gradients can be taken with respect to it) and the final residual."""
    n_layers = _geometry(bridge)[0]
    zs: dict[int, torch.Tensor] = {}

    def track(layer: int) -> Callable[..., torch.Tensor]:
        def hook(z: torch.Tensor, hook: Any) -> torch.Tensor:
            if not z.requires_grad:  # nothing upstream needs gradients (layer 0 of a frozen model)
                z = z.detach().requires_grad_(True)
            zs[layer] = z
            return z

        return hook

    tokens = p.tokens[rows]
    hooks = [(_z_name(layer), track(layer)) for layer in range(n_layers)] + list(extra_hooks)
    resid = final_residual(bridge, tokens, hooks)
    index = torch.arange(tokens.shape[0], device=tokens.device)
    ld = head_logit_diff(bridge, resid[index, p.last_pos[rows]], p.correct[rows], p.distractor[rows])
    return ld, zs, resid


def _first_order(values: AblationValues, layer: int, rows: slice, z: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Per prompt and head of `layer`, sum over positions and d_head of (replacement - z) * grad: (n, n_heads)."""
    return ((values.rows(layer, rows) - z.detach()) * grad).double().sum(dim=(1, 3))


def _attribution_rows(
    bridge: Any, p: _Prompts, rows: slice, values: AblationValues
) -> tuple[torch.Tensor, torch.Tensor]:
    """For `rows`: clean LDs (n,) and the summed first-order deltas (n_layers, n_heads) of one
    forward and one backward."""
    n_layers = _geometry(bridge)[0]
    with torch.enable_grad():
        ld, zs, _ = _tracked_forward(bridge, p, rows)
        grads = torch.autograd.grad(ld.sum(), [zs[layer] for layer in range(n_layers)])
    scores = torch.stack([_first_order(values, layer, rows, zs[layer], grads[layer]).sum(0) for layer in range(n_layers)])
    return ld.detach(), scores


def _graddrop_rows(
    bridge: Any, p: _Prompts, rows: slice, values: AblationValues
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
    n_layers = _geometry(bridge)[0]
    resid_pre: dict[int, torch.Tensor] = {}

    def keep_resid(layer: int) -> Callable[..., None]:
        def hook(resid: torch.Tensor, hook: Any) -> None:
            resid_pre[layer] = resid

        return hook

    keep = [(f"blocks.{layer}.hook_resid_pre", keep_resid(layer)) for layer in range(1, n_layers)]
    with torch.enable_grad():
        ld, zs, resid = _tracked_forward(bridge, p, rows, keep)
        outputs = [resid_pre[layer] for layer in range(1, n_layers)] + [resid]
        grads = torch.autograd.grad(ld.sum(), [zs[layer] for layer in range(n_layers)] + outputs, retain_graph=True)
        z_grads, out_grads = grads[:n_layers], grads[n_layers:]  # out_grads[l]: gradient at layer l's output
        plain = [_first_order(values, layer, rows, zs[layer], z_grads[layer]) for layer in range(n_layers)]
        # layers below k drop nothing k depends on: k copies of |plain|; dropping k itself gives 0
        magnitude = [layer * plain[layer].abs() for layer in range(n_layers)]
        for dropped in range(1, n_layers):
            below = [zs[layer] for layer in range(dropped)]
            partial = torch.autograd.grad(resid_pre[dropped], below, grad_outputs=out_grads[dropped], retain_graph=True)
            for layer, grad in enumerate(partial):
                magnitude[layer] = magnitude[layer] + _first_order(values, layer, rows, zs[layer], grad).abs()
    scale = 1.0 / max(1, n_layers - 1)
    plain_sum = torch.stack([x.sum(0) for x in plain])
    magnitude_sum = torch.stack([x.sum(0) for x in magnitude]) * scale
    return ld.detach(), plain_sum, magnitude_sum


def _attribution_rows_per_pass(bridge: Any, length: int, memory_budget_mb: float) -> int:
    """Rows per forward+backward: the backward keeps every block's activations alive."""
    return max(1, _rows_in_budget(bridge, length, memory_budget_mb) // _geometry(bridge)[0])


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
    p = _prompts(prompts, _param(bridge).device)
    values = ablation_values(bridge, p, method, memory_budget_mb=memory_budget_mb)
    chunk = _attribution_rows_per_pass(bridge, p.tokens.shape[1], memory_budget_mb)
    n_layers, n_heads, _ = _geometry(bridge)
    total = torch.zeros(n_layers, n_heads, dtype=torch.float64, device=p.tokens.device)
    magnitude = torch.zeros_like(total)
    clean_parts = []
    chunks = list(_row_chunks(len(p), chunk))
    name = "attribution_graddrop" if graddrop else "attribution"
    with _bar(len(chunks), name, progress) as bar:
        for rows in chunks:
            if graddrop:
                clean_rows, scores, sizes = _graddrop_rows(bridge, p, rows, values)
                magnitude += sizes
            else:
                clean_rows, scores = _attribution_rows(bridge, p, rows, values)
            clean_parts.append(clean_rows)
            total += scores
            bar.update()
    deltas = total / len(p)
    if graddrop:
        deltas = torch.where(deltas < 0, -1.0, 1.0).to(deltas) * magnitude / len(p)
    return _result(bridge, list(range(n_layers)), deltas.cpu(), torch.cat(clean_parts), method, name, started)


def scan_tl_patching(
    bridge: Any,
    prompts: Any,
    method: str = "mean",
    *,
    layers: Sequence[int] | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    progress: bool = True,
) -> ScanResult:
    """The same scan through TransformerLens's own patching helper
    (`transformer_lens.patching.get_act_patch_attn_head_out_all_pos`), for comparison.

    The helper patches a "clean cache" into a run on "corrupted tokens"; ablation is that with the
    replacement values as the cache and the clean prompts as the tokens. It runs one full forward
    per head, like `scan_naive`, plus one unpatched forward for the baseline (`baseline=True`).
    """
    from transformer_lens import patching

    started = time.perf_counter()
    p, chosen, n_heads, values = _exact_scan_inputs(bridge, prompts, method, layers, memory_budget_mb)
    cache = {_z_name(layer): values.rows(layer, slice(None)) for layer in chosen}
    index = pd.DataFrame([(layer, head) for layer in chosen for head in range(n_heads)], columns=["layer", "head"])
    rows = torch.arange(len(p), device=p.tokens.device)

    def per_prompt_ld(logits: torch.Tensor) -> torch.Tensor:
        last = logits[rows, p.last_pos]
        return last.gather(1, p.correct[:, None])[:, 0] - last.gather(1, p.distractor[:, None])[:, 0]

    quiet = functools.partial(tqdm, disable=not progress, file=sys.stderr, leave=False)
    with torch.no_grad(), mock.patch.object(patching, "tqdm", quiet):
        result = patching.get_act_patch_attn_head_out_all_pos(
            bridge, p.tokens, cache, per_prompt_ld, index_df=index, index_axis_names=None, reduce="none", baseline=True
        )
    clean = result.baseline
    deltas = (result.values.double().mean(-1) - clean.double().mean()).view(len(chosen), n_heads)
    return _result(bridge, chosen, deltas.cpu(), clean, method, "tl_patching", started)


def agreement(exact: ScanResult, approx: ScanResult, k: int = TOP_K_AGREEMENT) -> dict[str, float]:
    """How well `approx` ranks the heads of `exact`: Spearman correlation of delta over the heads
    both scanned, and how many of the top-k heads by |delta| the two share."""
    from scipy.stats import spearmanr

    merged = exact.table.merge(approx.table, on=["layer", "head"], suffixes=("_exact", "_approx"))
    rho = spearmanr(merged["delta_exact"], merged["delta_approx"]).statistic
    k = min(k, len(merged))

    def top(column: str) -> set[tuple[int, int]]:
        ranked = merged.reindex(merged[column].abs().sort_values(ascending=False, kind="stable").index)
        return set(zip(ranked["layer"].head(k), ranked["head"].head(k)))

    return {
        "spearman": float(rho),
        "top_k": k,
        "top_k_overlap": len(top("delta_exact") & top("delta_approx")),
        "n_heads": len(merged),
    }


# ---------------------------------------------------------------------------------------------
# Dispatcher


def score_heads(
    model_or_bridge: Any, prompts: Any, method: str = "mean", algorithm: str = "batched", **kw: Any
) -> ScanResult:
    """Score every head of a model (a harness LoadedModel or a TransformerBridge) on `prompts`,
    with `method` ("mean" | "zero") and `algorithm` ("batched" | "naive" | "attribution");
    keyword arguments go to the scan (memory_budget_mb, progress, layers for the exact ones)."""
    bridge = getattr(model_or_bridge, "bridge", model_or_bridge)
    scans = {
        "naive": scan_naive,
        "batched": scan_batched,
        "attribution": scan_attribution,
        "attribution_graddrop": functools.partial(scan_attribution, graddrop=True),
    }
    if algorithm not in scans:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    _check_method(method)
    return scans[algorithm](bridge, prompts, method, **kw)
