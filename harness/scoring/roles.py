"""Role diagnostics of every attention head: what a head does, from forwards only (no ablation).

One row per (layer, head), one column per score (`ROLE_COLUMNS`); GQA models get one pattern per
query head (the bridge's `hook_pattern` is per query head; a query head reads kv head h // group).

- `prev_token`, `duplicate_token`, `induction`: on seeded random token sequences of length L repeated
  twice (after BOS where the model uses one), the mean attention of the second half's queries on the
  key at offset 1, L and L-1 behind them. TransformerLens's `head_detector.detect_head` ("mul") sums
  the same entries over the whole pattern and divides by the number of query rows (T): on the
  second-half detection patterns it equals ours times L / T (tests/integration/test_roles.py).
- `attn_io`, `attn_s1`, `attn_s2`: on the IOI prompts, attention from the final position to the IO,
  the first S and the second S token (mean over prompts).
- `copy`, `neg_copy` (in the manner of Wang et al. 2022): the residual after block 0 at each distinct
  name of the prompts (first occurrence, IO or S1 slot; the first `copy_names` distinct names) through the head's OV circuit (its layer's
  input norm, the kv head's value, the query head's slice of the output projection, Gemma's
  post-attention norm applied to that head's output alone), the final norm and the unembedding; share
  of names whose own token is in the top 5 of the logits (copy) or of the negated logits (neg_copy).
- `dla_io_s`: direct logit attribution of the head's output at the final position to
  logit(IO) - logit(S), mean over prompts: the head's output times the final norm's scale of that
  prompt's residual (and, in Gemma, the post-attention norm's scale of the whole attention output,
  so that the heads of a layer sum to its normed output), dotted with the unembedding difference.
  Close to the outcome (delta_ioi): correspondences never read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from harness.scoring.progress import bar as _bar
from harness.scoring.readout import _stop

from harness.scoring.role_columns import COPY_COLUMNS, DLA_COLUMN, IOI_ATTENTION_COLUMNS, REPEAT_COLUMNS, ROLE_COLUMNS  # noqa: F401
COPY_TOP = 5  # Wang et al.'s top-5


@dataclass(frozen=True)
class RepeatSpec:
    """Seeded random sequences of `length` tokens, each repeated twice."""

    n_seqs: int = 32
    length: int = 40
    seed: int = 0

    def key(self) -> dict[str, int]:
        return {"n_seqs": int(self.n_seqs), "length": int(self.length), "seed": int(self.seed)}


def repeated_tokens(spec: RepeatSpec, tokenizer: Any, prepend_bos: bool) -> tuple[np.ndarray, int]:
    """(n_seqs, prefix + 2 * length) ids and the prefix length (1 with BOS, else 0). Tokens are drawn
    uniformly from the tokenizer's ids that are not special tokens, from a generator seeded by spec."""
    special = set(int(i) for i in getattr(tokenizer, "all_special_ids", []) or [])
    allowed = np.array([i for i in range(len(tokenizer)) if i not in special], dtype=np.int64)
    rng = np.random.default_rng(spec.seed)
    half = allowed[rng.integers(len(allowed), size=(spec.n_seqs, spec.length))]
    ids = np.concatenate([half, half], axis=1)
    bos = tokenizer.bos_token_id if prepend_bos else None
    if bos is None:
        return ids, 0
    return np.concatenate([np.full((spec.n_seqs, 1), bos, dtype=np.int64), ids], axis=1), 1


def diagonal_scores(pattern: torch.Tensor, length: int, prefix: int) -> torch.Tensor:
    """(3, H) mean attention of the second half's queries at offsets 1, L, L-1 (prev, duplicate,
    induction) from a (B, H, T, T) pattern of [prefix] + r + r sequences, summed over the batch
    (divide by the number of sequences x L)."""
    queries = torch.arange(prefix + length, prefix + 2 * length, device=pattern.device)
    out = []
    for offset in (1, length, length - 1):
        out.append(pattern[:, :, queries, queries - offset].sum(dim=(0, 2)))
    return torch.stack(out)


def _norm_gain(norm: Callable[[torch.Tensor], torch.Tensor], d_model: int, like: torch.Tensor) -> torch.Tensor:
    """The elementwise gain g of an RMS norm (norm(x) = g * x / rms(x)): its output on a vector of
    ones, whose rms is 1 (up to the norm's eps, below 1e-5 here)."""
    ones = torch.ones(1, 1, d_model, dtype=like.dtype, device=like.device)
    return norm(ones)[0, 0]


def _rms(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    return torch.sqrt(x.float().pow(2).mean(-1, keepdim=True) + eps).to(x.dtype)


def _post_attention_norm(bridge: Any, layer: int) -> Any | None:
    """Gemma's norm on the attention output before it joins the residual (None in llama / qwen2)."""
    return getattr(bridge.blocks[layer], "ln1_post", None)


def _o_weight(bridge: Any, layer: int) -> torch.Tensor:
    """(n_heads, d_head, d_model) slices of the output projection per query head."""
    weight = bridge.blocks[layer].attn.o.original_component.weight  # (d_model, n_heads * d_head)
    n_heads, d_head = int(bridge.cfg.n_heads), int(bridge.cfg.d_head)
    return weight.T.reshape(n_heads, d_head, -1)


def _n_kv(bridge: Any) -> int:
    return int(getattr(bridge.cfg, "n_key_value_heads", None) or bridge.cfg.n_heads)


@torch.inference_mode()
def repeat_scores(bridge: Any, tokens: np.ndarray, length: int, prefix: int, *, batch: int = 16, progress: bool = True) -> np.ndarray:
    """(3, L_layers, H): prev_token, duplicate_token, induction of every head."""
    n_layers, n_heads = int(bridge.cfg.n_layers), int(bridge.cfg.n_heads)
    device = next(bridge.original_model.parameters()).device
    sums = torch.zeros(3, n_layers, n_heads, dtype=torch.float64)

    def keep(layer: int) -> Callable[..., None]:
        def hook(pattern: torch.Tensor, hook: Any) -> None:
            sums[:, layer] += diagonal_scores(pattern.float(), length, prefix).double().cpu()

        return hook

    hooks = [(f"blocks.{l}.attn.hook_pattern", keep(l)) for l in range(n_layers)] + [("ln_final.hook_in", _stop)]
    ids = torch.as_tensor(tokens, dtype=torch.long, device=device)
    bar = _bar(len(ids), "roles: repeated tokens", progress)
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        bridge.run_with_hooks(chunk, fwd_hooks=hooks, use_cache=False)
        bar.update(len(chunk))
    bar.close()
    return (sums / (len(ids) * length)).numpy()


@dataclass
class _IoiCapture:
    attn: torch.Tensor  # (3, L, H) summed attention of the last position on IO, S1, S2
    dla: torch.Tensor  # (L, H) summed direct logit attribution
    name_resid: dict[int, torch.Tensor]  # token id -> residual after block 0 (first occurrence)


def _positions(prompts: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IO, S1, S2 positions per prompt from the name slots (A, B, C) and the order."""
    pos = np.asarray(prompts.name_pos)
    abba = np.array([o == "ABBA" for o in prompts.order])
    io = np.where(abba, pos[:, 0], pos[:, 1])
    s1 = np.where(abba, pos[:, 1], pos[:, 0])
    return io, s1, pos[:, 2]


@torch.inference_mode()
def ioi_capture(bridge: Any, prompts: Any, *, batch: int = 16, progress: bool = True) -> _IoiCapture:
    """One pass over the IOI prompts: attention of the final position, per-head DLA, name residuals."""
    n_layers, n_heads, d_model = int(bridge.cfg.n_layers), int(bridge.cfg.n_heads), int(bridge.cfg.d_model)
    param = next(bridge.original_model.parameters())
    io, s1, s2 = _positions(prompts)
    lm_head = bridge.unembed.original_component
    final_gain = _norm_gain(bridge.ln_final, d_model, param)
    post_gains = {l: _norm_gain(n, d_model, param) for l in range(n_layers) if (n := _post_attention_norm(bridge, l)) is not None}
    o_weights = [_o_weight(bridge, l) for l in range(n_layers)]
    attn = torch.zeros(3, n_layers, n_heads, dtype=torch.float64)
    dla = torch.zeros(n_layers, n_heads, dtype=torch.float64)
    name_resid: dict[int, torch.Tensor] = {}
    tokens = torch.as_tensor(np.asarray(prompts.tokens), dtype=torch.long, device=param.device)
    bar = _bar(len(tokens), "roles: IOI prompts", progress)
    for start in range(0, len(tokens), batch):
        rows = slice(start, min(len(tokens), start + batch))
        n = rows.stop - rows.start
        r = torch.arange(n, device=param.device)
        last = torch.as_tensor(np.asarray(prompts.last_pos)[rows], device=param.device)
        where = [torch.as_tensor(p[rows], device=param.device) for p in (io, s1, s2)]
        z_last: dict[int, torch.Tensor] = {}
        out_last: dict[int, torch.Tensor] = {}
        got: dict[str, torch.Tensor] = {}

        def pattern_hook(layer: int) -> Callable[..., None]:
            def hook(pattern: torch.Tensor, hook: Any) -> None:
                rows_last = pattern[r, :, last]  # (n, H, T)
                for i, p in enumerate(where):
                    attn[i, layer] += rows_last[r, :, p].double().sum(0).cpu()

            return hook

        def z_hook(layer: int) -> Callable[..., None]:
            def hook(z: torch.Tensor, hook: Any) -> None:
                z_last[layer] = z[r, last].clone()  # (n, H, d_head)

            return hook

        def out_hook(layer: int) -> Callable[..., None]:
            def hook(out: torch.Tensor, hook: Any) -> None:
                out_last[layer] = out[r, last].clone()

            return hook

        def keep(name: str) -> Callable[..., None]:
            def hook(x: torch.Tensor, hook: Any) -> None:
                got[name] = x.clone()

            return hook

        hooks = [(f"blocks.{l}.attn.hook_pattern", pattern_hook(l)) for l in range(n_layers)]
        hooks += [(f"blocks.{l}.attn.hook_z", z_hook(l)) for l in range(n_layers)]
        hooks += [(f"blocks.{l}.attn.hook_out", out_hook(l)) for l in post_gains]
        hooks += [("blocks.0.hook_resid_post", keep("resid0")), ("ln_final.hook_in", keep("final")), ("ln_final.hook_in", _stop)]
        bridge.run_with_hooks(tokens[rows], fwd_hooks=hooks, use_cache=False)
        correct = torch.as_tensor(np.asarray(prompts.correct_id)[rows], device=param.device)
        wrong = torch.as_tensor(np.asarray(prompts.distractor_id)[rows], device=param.device)
        direction = lm_head.weight[correct] - lm_head.weight[wrong]  # (n, d_model)
        final_scale = final_gain / _rms(got["final"][r, last])  # (n, d_model)
        for layer in range(n_layers):
            head_out = torch.einsum("nhd,hdm->nhm", z_last[layer], o_weights[layer])  # (n, H, d_model)
            if layer in post_gains:
                head_out = head_out * (post_gains[layer] / _rms(out_last[layer]))[:, None, :]
            dla[layer] += (head_out * (final_scale * direction)[:, None, :]).sum(-1).double().sum(0).cpu()
        ids = np.asarray(prompts.tokens)[rows]
        for i in range(n):
            for p in (where[0][i], where[1][i]):
                token = int(ids[i, int(p)])
                if token not in name_resid:
                    name_resid[token] = got["resid0"][i, int(p)].clone()
        bar.update(n)
    bar.close()
    return _IoiCapture(attn / len(tokens), dla / len(tokens), name_resid)


@torch.inference_mode()
def copy_scores(
    bridge: Any, name_resid: dict[int, torch.Tensor], *, top: int = COPY_TOP, max_names: int = 48,
    memory_mb: float = 768.0, progress: bool = True,
) -> np.ndarray:
    """(2, L, H): share of names whose token is in the top `top` of the head's OV logits (copy) and of
    their negation (neg_copy), over the first `max_names` distinct names (in order of appearance).
    All heads of a layer go through the unembedding in one product (it is read once per chunk of
    `memory_mb` of logits, not once per head: the per-head product is bound by memory bandwidth)."""
    n_layers, n_heads = int(bridge.cfg.n_layers), int(bridge.cfg.n_heads)
    d_head, n_kv = int(bridge.cfg.d_head), _n_kv(bridge)
    group = n_heads // n_kv
    chosen = list(name_resid)[:max_names]
    x = torch.stack([name_resid[t] for t in chosen])  # (N, d_model)
    tokens = torch.tensor(chosen, dtype=torch.long, device=x.device)
    lm_head = bridge.unembed.original_component
    vocab = int(lm_head.weight.shape[0])
    chunk = max(1, int(memory_mb * 2**20 / (4 * vocab)))
    out = np.zeros((2, n_layers, n_heads))
    bar = _bar(n_layers, "roles: copy scores", progress)
    for layer in range(n_layers):
        block = bridge.blocks[layer]
        v = block.attn.v(block.ln1(x[:, None, :]))[:, 0].reshape(len(x), n_kv, d_head)
        o = _o_weight(bridge, layer)
        v_per_head = v[:, torch.arange(n_heads, device=v.device) // group]  # (N, H, d_head)
        head_out = torch.einsum("nhd,hdm->hnm", v_per_head, o).reshape(n_heads * len(x), -1)
        post = _post_attention_norm(bridge, layer)
        if post is not None:  # Gemma: the post-attention norm on this head's output alone
            head_out = post(head_out[:, None, :])[:, 0]
        normed = bridge.ln_final(head_out[:, None, :])[:, 0]
        want = tokens.repeat(n_heads)
        hits = torch.zeros(2, n_heads * len(x), dtype=torch.bool)
        for start in range(0, len(normed), chunk):
            logits = lm_head(normed[start : start + chunk])
            for i, sign in enumerate((1.0, -1.0)):
                best = torch.topk(sign * logits, top, dim=-1).indices
                hits[i, start : start + chunk] = (best == want[start : start + chunk, None]).any(-1).cpu()
        out[:, layer] = hits.reshape(2, n_heads, len(x)).float().mean(-1).numpy()
        bar.update(1)
    bar.close()
    return out


def role_table(
    bridge: Any, ioi_prompts: Any, repeat: RepeatSpec, prepend_bos: bool, *, copy_names: int = 48, progress: bool = True
) -> pd.DataFrame:
    """Every head's role scores (`ROLE_COLUMNS`), one row per (layer, head)."""
    n_layers, n_heads = int(bridge.cfg.n_layers), int(bridge.cfg.n_heads)
    ids, prefix = repeated_tokens(repeat, bridge.tokenizer, prepend_bos)
    rep = repeat_scores(bridge, ids, repeat.length, prefix, progress=progress)
    cap = ioi_capture(bridge, ioi_prompts, progress=progress)
    cp = copy_scores(bridge, cap.name_resid, max_names=copy_names, progress=progress)
    layer, head = np.meshgrid(np.arange(n_layers), np.arange(n_heads), indexing="ij")
    columns = {
        "layer": layer.ravel(),
        "head": head.ravel(),
        **{c: rep[i].ravel() for i, c in enumerate(REPEAT_COLUMNS)},
        **{c: cap.attn[i].numpy().ravel() for i, c in enumerate(IOI_ATTENTION_COLUMNS)},
        **{c: cp[i].ravel() for i, c in enumerate(COPY_COLUMNS)},
        DLA_COLUMN: cap.dla.numpy().ravel(),
    }
    table = pd.DataFrame(columns)
    table.attrs["n_names"] = min(copy_names, len(cap.name_resid))
    return table
