"""Multiply-add counts of the exact head scans, and the work any exact scan must at least do.

A head scan ablates every head (L, h) in turn and reads the logit difference at each prompt's last
token. Three amounts of work are counted here, each summed over the scanned heads and the prompts:

- `naive`: the naive loop (`naive.scan_naive`): per head, a full forward through all layers
  at all positions, then the full-vocabulary unembedding at all positions;
- `ours`: the batched exact scan as implemented (`batched.scan_batched`): per head of layer L,
  blocks L..N-1 at all positions from the recorded residual, then the final norm and a two-column
  unembedding (the correct and the distractor token) at the last position;
- `lower_bound`: what any exact method must recompute. Ablating a head of layer L changes that
  layer's attention output at every position, hence every later residual, and later attention reads
  every earlier position. So: the MLP of layer L at all positions, layers L+1..N-2 in full at all
  positions, and layer N-1 for the last position only (its keys and values at all positions, its
  query, attention, output projection and MLP at the last one), then the two unembedding columns.
  A head of the last layer needs only that layer's MLP at the last position. The ablated head's
  slice of the output projection is left out (it could be folded into recorded values), so the
  bound stays a bound.

Counted: matrix multiplies, as multiply-adds (one multiply-add = one "FLOP" here; double it for the
other convention, the ratios do not change). Query/key/value projections with grouped key-value
heads, attention scores and the weighted sum over the causal positions (position t attends to
t + 1 positions), the output projection, and the MLP: three d_model x d_mlp matrices when gated
(Llama: gate, up, down), two otherwise (GPT-2, Pythia, OPT). Not counted: norms, activations,
rotary embeddings, softmax, residual additions, embedding lookups, and the once-per-scan forwards
(clean run, mean-ablation values) that both exact scans share.

`naive_widths` / `scan_widths` let the naive loop and our scan run at padded widths (the naive loop
runs the whole right-padded batch at its longest length; the batched scan pads within its length
segments); the lower bound always uses the true lengths. Pure Python integers: no torch needed.

The zoo's architectures: grouped key-value heads (Qwen2.5, SmolLM2, Gemma 3), gated MLPs (all of
them: SwiGLU, Gemma's GeGLU) and a head width other than d_model / n_heads (Gemma 3 270m: 4 heads of
256 on a 640-wide residual) are in `Geometry`; `geometry_from_cfg` reads a bridge's config,
`geometry_from_hf_config` a Hugging Face config (the registry's `hf_config`), and `matmul_shapes`
gives the model's dense matmul shapes, on which the bench measures the machine's matmul peak.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

# Architectures whose MLP is gated (gate, up and down projections), for configs without a
# `gated_mlp` flag. TransformerBridge configs carry the flag (its adapters set it), so this list
# is only the fallback.
_GATED_ARCHITECTURES = (
    "llama",
    "mistral",
    "mixtral",
    "qwen",
    "gemma",
    "phi3",
    "olmo",
    "granite",
    "cohere",
    "stablelm",
)


@dataclass(frozen=True)
class Geometry:
    """The shape of a decoder-only transformer, as far as its matmul work goes."""

    n_layers: int
    n_heads: int  # query heads per layer
    d_head: int
    d_model: int
    d_mlp: int
    d_vocab: int  # columns of the unembedding
    n_kv_heads: int | None = None  # key/value heads per layer; None: as many as query heads
    gated: bool = False  # gated MLP (3 matrices) or plain (2)
    attn_only: bool = False  # no MLPs at all

    def __post_init__(self) -> None:
        for name in ("n_layers", "n_heads", "d_head", "d_model", "d_vocab"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if self.d_mlp < 0 or (self.n_kv_heads is not None and self.n_kv_heads <= 0):
            raise ValueError(f"bad geometry: {self!r}")

    @property
    def kv_heads(self) -> int:
        return self.n_heads if self.n_kv_heads is None else self.n_kv_heads

    # Per-token multiply-adds of each matmul.

    @property
    def q_proj(self) -> int:
        return self.d_model * self.n_heads * self.d_head

    @property
    def kv_proj(self) -> int:
        return 2 * self.d_model * self.kv_heads * self.d_head

    @property
    def o_proj(self) -> int:
        return self.n_heads * self.d_head * self.d_model

    @property
    def mlp(self) -> int:
        return 0 if self.attn_only else (3 if self.gated else 2) * self.d_model * self.d_mlp

    def attend(self, keys: int) -> int:
        """One query position over `keys` key positions, all heads: scores and weighted sum."""
        return 2 * self.n_heads * self.d_head * keys

    def block(self, length: int) -> int:
        """One block at every position of a causal sequence of `length` tokens."""
        dense = self.q_proj + self.kv_proj + self.o_proj + self.mlp
        return length * dense + self.n_heads * self.d_head * length * (length + 1)

    def last_block_last_position(self, length: int) -> int:
        """One block whose output is needed at the last position only: keys and values at all
        `length` positions, everything else at the last one."""
        return length * self.kv_proj + self.q_proj + self.attend(length) + self.o_proj + self.mlp


def _get(cfg: Any, name: str) -> Any:
    value = cfg.get(name) if isinstance(cfg, Mapping) else getattr(cfg, name, None)
    if value is None:
        return None
    if isinstance(value, bool | str):
        return value
    try:
        return int(value)  # plain ints, numpy and torch scalars
    except (TypeError, ValueError):
        return None


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _is_gated(cfg: Any) -> bool:
    flag = _get(cfg, "gated_mlp")
    if isinstance(flag, bool):
        return flag
    act = _get(cfg, "act_fn")
    if isinstance(act, str) and act.lower().endswith("glu"):
        return True
    for name in ("original_architecture", "architecture", "model_type"):
        arch = _get(cfg, name)
        if isinstance(arch, str) and arch.lower().startswith(_GATED_ARCHITECTURES):
            return True
    return False


def geometry_from_cfg(cfg: Any, **overrides: Any) -> Geometry:
    """The Geometry of a TransformerBridge / HookedTransformer config (`bridge.cfg`), or of a mapping
    with the same names: n_layers, n_heads, d_head, d_model, d_mlp, d_vocab (or d_vocab_out),
    n_key_value_heads, gated_mlp, attn_only.

    Fallbacks when a value is missing or unset (None, or TransformerLens's -1): n_heads = d_model //
    d_head, d_head = d_model // n_heads, d_mlp = 4 * d_model (TransformerLens's own default),
    n_key_value_heads = n_heads (the bridge leaves it None when there is no grouping), gated from
    act_fn ("...glu") or the architecture name when there is no gated_mlp flag. `overrides` (the
    Geometry field names) win over the config; a ValueError names what cannot be determined.
    """
    d_model = _positive(_get(cfg, "d_model"))
    n_heads = _positive(_get(cfg, "n_heads"))
    d_head = _positive(_get(cfg, "d_head"))
    if d_model and d_head and not n_heads:
        n_heads = d_model // d_head
    if d_model and n_heads and not d_head:
        d_head = d_model // n_heads
    values: dict[str, Any] = {
        "n_layers": _positive(_get(cfg, "n_layers")),
        "n_heads": n_heads,
        "d_head": d_head,
        "d_model": d_model,
        "d_mlp": _positive(_get(cfg, "d_mlp")) or (4 * d_model if d_model else None),
        "d_vocab": _positive(_get(cfg, "d_vocab_out")) or _positive(_get(cfg, "d_vocab")),
        "n_kv_heads": _positive(_get(cfg, "n_key_value_heads")) or _positive(_get(cfg, "n_kv_heads")),
        "gated": _is_gated(cfg),
        "attn_only": _get(cfg, "attn_only") is True,
    }
    values.update(overrides)
    missing = [k for k in ("n_layers", "n_heads", "d_head", "d_model", "d_mlp", "d_vocab") if values[k] is None]
    if missing:
        raise ValueError(f"the config does not give {', '.join(missing)}; pass them as overrides")
    return Geometry(**values)


def geometry_from_hf_config(hf: Mapping[str, Any], architecture: str | None = None) -> Geometry:
    """The Geometry of a Hugging Face config (a mapping with HF's names, e.g. a registry model's
    `hf_config`): hidden_size, num_hidden_layers, num_attention_heads, num_key_value_heads (GQA),
    head_dim (Gemma's 256 is not hidden_size / heads = 160), intermediate_size, vocab_size. Gated
    from `architecture` (e.g. "Gemma3ForCausalLM": its GeGLU MLP has gate, up and down projections)
    or model_type; the same geometry_from_cfg gives for the model's TransformerBridge."""
    names = {
        "d_model": "hidden_size", "n_layers": "num_hidden_layers", "n_heads": "num_attention_heads",
        "n_key_value_heads": "num_key_value_heads", "d_head": "head_dim", "d_mlp": "intermediate_size",
        "d_vocab": "vocab_size",
    }  # fmt: skip
    cfg: dict[str, Any] = {ours: hf.get(theirs) for ours, theirs in names.items()}
    cfg["architecture"] = architecture or hf.get("model_type") or ""
    if hf.get("hidden_act") or hf.get("hidden_activation"):
        cfg["act_fn"] = hf.get("hidden_act") or hf.get("hidden_activation")
    return geometry_from_cfg(cfg)


def matmul_shapes(g: Geometry, tokens: int) -> dict[str, tuple[int, int, int]]:
    """The (m, k, n) of the dense matmuls one block runs on `tokens` positions at once: the shapes a
    matmul-peak measurement should use for this model (the attention scores' small per-head
    matmuls are left out: they are a few percent of the work at IOI lengths)."""
    t, q = int(tokens), g.n_heads * g.d_head
    shapes = {
        "q_proj": (t, g.d_model, q),
        "kv_proj": (t, g.d_model, 2 * g.kv_heads * g.d_head),
        "o_proj": (t, q, g.d_model),
    }
    if not g.attn_only:
        shapes["mlp_up"] = (t, g.d_model, g.d_mlp)  # run twice when gated (gate and up)
        shapes["mlp_down"] = (t, g.d_mlp, g.d_model)
    return shapes


@dataclass(frozen=True)
class ScanFlops:
    """Multiply-adds of one whole head scan (summed over the scanned heads and the prompts)."""

    naive: int
    ours: int
    lower_bound: int

    @property
    def naive_over_ours(self) -> float:
        return self.naive / self.ours

    @property
    def naive_over_lower_bound(self) -> float:
        return self.naive / self.lower_bound

    def as_dict(self) -> dict[str, float]:
        return {
            **asdict(self),
            "naive_over_ours": self.naive_over_ours,
            "naive_over_lower_bound": self.naive_over_lower_bound,
        }


def naive_per_head(g: Geometry, width: int) -> int:
    """The naive loop, one head, one prompt run at `width` tokens."""
    return g.n_layers * g.block(width) + width * g.d_model * g.d_vocab


def ours_per_head(g: Geometry, layer: int, width: int) -> int:
    """The batched scan, one head of `layer`, one prompt run at `width` tokens."""
    return (g.n_layers - layer) * g.block(width) + 2 * g.d_model


def lower_bound_per_head(g: Geometry, layer: int, length: int) -> int:
    """Any exact scan, one head of `layer`, one prompt of `length` tokens."""
    unembed = 2 * g.d_model
    if layer == g.n_layers - 1:
        return g.mlp + unembed
    middle = (g.n_layers - 2 - layer) * g.block(length)
    return length * g.mlp + middle + g.last_block_last_position(length) + unembed


def _widths(name: str, widths: Sequence[int] | None, lengths: list[int]) -> list[int]:
    if widths is None:
        return lengths
    out = [int(w) for w in widths]
    if len(out) != len(lengths) or any(w < n for w, n in zip(out, lengths)):
        raise ValueError(f"{name} must give one width >= its length per prompt")
    return out


def scan_flops(
    geometry: Geometry,
    lengths: Sequence[int],
    *,
    layers: Sequence[int] | None = None,
    naive_widths: Sequence[int] | None = None,
    scan_widths: Sequence[int] | None = None,
) -> ScanFlops:
    """Multiply-adds of the naive loop, our batched scan and the exact lower bound, over every head
    of `layers` (default: all) and every prompt (`lengths`: each prompt's number of tokens, i.e.
    last_pos + 1). `naive_widths` / `scan_widths`: the width each prompt is actually run at by the
    naive loop / our scan when they pad (default: its length)."""
    g = geometry
    true = [int(n) for n in lengths]
    if not true or min(true) <= 0:
        raise ValueError(f"lengths must be a non-empty list of positive token counts, got {lengths!r}")
    naive_w = _widths("naive_widths", naive_widths, true)
    scan_w = _widths("scan_widths", scan_widths, true)
    chosen = range(g.n_layers) if layers is None else sorted({int(x) for x in layers})
    if not chosen or min(chosen) < 0 or max(chosen) >= g.n_layers:
        raise ValueError(f"layers must be a non-empty subset of 0..{g.n_layers - 1}, got {layers!r}")
    heads = g.n_heads
    return ScanFlops(
        naive=heads * len(chosen) * sum(naive_per_head(g, w) for w in naive_w),
        ours=heads * sum(ours_per_head(g, layer, w) for layer in chosen for w in scan_w),
        lower_bound=heads * sum(lower_bound_per_head(g, layer, n) for layer in chosen for n in true),
    )


def _dense_and_attention(g: Geometry, width: int) -> tuple[int, int]:
    """One block at every position of `width` tokens: (dense multiply-adds, attention ones)."""
    total = g.block(width)
    attention = g.n_heads * g.d_head * width * (width + 1)
    return total - attention, attention


def ig_flops(
    geometry: Geometry,
    widths: Sequence[int],
    *,
    steps: int,
    path: str,
    layers: Sequence[int] | None = None,
) -> int:
    """Multiply-adds of the IG screen (`integrated_gradients.scan_ig`) over every prompt run at
    `widths` tokens (the "all" path runs the whole right-padded batch at its longest width; the
    "layer" path runs length segments, like the batched scan).

    Per alpha a forward and a backward; the weights need no gradient, so the backward of a dense
    matmul is one matmul (the input's gradient) and that of attention two per forward one (queries
    and keys; pattern and values). "all": one clean forward, then `steps` x (forward + backward) of
    every block. "layer": the clean forward, then per scanned layer L `steps` x (forward + backward)
    of blocks L..N-1. Plus the last-position readout (two unembedding columns) per pass."""
    g = geometry
    chosen = range(g.n_layers) if layers is None else sorted({int(x) for x in layers})
    if path not in ("all", "layer"):
        raise ValueError(f"path must be 'all' or 'layer', got {path!r}")
    if int(steps) < 1:
        raise ValueError(f"steps must be >= 1, got {steps!r}")
    total = 0
    for width in (int(w) for w in widths):
        dense, attention = _dense_and_attention(g, width)
        forward, backward = dense + attention, dense + 2 * attention
        readout = 2 * g.d_model
        if path == "all":
            total += g.n_layers * forward + readout + steps * (g.n_layers * (forward + backward) + 2 * readout)
        else:
            blocks = sum(g.n_layers - layer for layer in chosen)
            total += g.n_layers * forward + readout + steps * (blocks * (forward + backward) + 2 * len(chosen) * readout)
    return total
