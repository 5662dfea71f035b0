"""Transforms of a model's weights whose effect on every head is known by construction (known-answer
controls, docs/controls.md). Each is applied to the Hugging Face model before it is wrapped in a bridge,
as a function of its config and state dict, and each says where every base head went (its TRUE MAP).

- `permute-heads(seed)`: the heads of every layer permuted (Q/K/V rows and O columns moved together; with
  grouped-query attention the KV groups are permuted and the query heads within each group, so every
  query head keeps its key and value head). The function is unchanged; every head moves to another index.
- `insert-identity(at)`: an inert block inserted before each base layer listed in `at` (base indices,
  `n_layers` = after the last): every projection zero, norms copied from its neighbour. In a pre-norm
  residual model it adds nothing to the residual stream, so the function is unchanged and base layer l
  becomes layer l + (number of insertions at or before l).
- `knockout(heads)`: the O columns of the listed heads ("L.H") zeroed: those heads write nothing.
- `none`: the weights as they are (a prompt twin: the same model under another name, scored on an
  independent prompt draw, the design's `prompt_seed`).

A true map is a frame like a correspondence's (harness.analysis.correspondence): one row per base head,
layer, head -> tgt_layer, tgt_head (nullable Int64; NA = the head is gone). Maps and parameter checks are
numpy-only; torch is imported by `apply` alone (the claims gate imports this module without torch).

Supported architectures: those whose blocks are `model.layers.{L}` with `self_attn.{q,k,v,o}_proj` and
`mlp.down_proj` (Llama / SmolLM2, Qwen2, Gemma 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np
import pandas as pd
from harness.errors import InputError

if TYPE_CHECKING:
    from harness.models.registry import ModelSpec

Geometry = tuple[int, int, int]  # (n_layers, n_heads, n_kv_heads)
Params = tuple[tuple[str, Any], ...]  # sorted (name, value) items, hashable (lists as tuples)

_ATTN = "model.layers.{layer}.self_attn.{proj}_proj.{kind}"
_LAYER_PREFIX = "model.layers.{layer}."
_MAX_DRAWS = 10_000


@dataclass(frozen=True)
class Transform:
    """One transform: its parameters (name -> type), the derived geometry, the true map and the weights."""

    name: str
    params: Mapping[str, type]
    description: str
    geometry: Callable[[Geometry, Mapping[str, Any]], Geometry]
    true_map: Callable[[Geometry, Mapping[str, Any]], pd.DataFrame]
    apply: Callable[[dict, dict, Geometry, Mapping[str, Any]], tuple[dict, dict]]


# ---------------------------------------------------------------------------------------------
# maps (numpy only)


def _frame(src_layer, src_head, tgt_layer, tgt_head) -> pd.DataFrame:
    out = pd.DataFrame({"layer": np.asarray(src_layer, int), "head": np.asarray(src_head, int),
                        "tgt_layer": pd.array(tgt_layer, dtype="Int64"), "tgt_head": pd.array(tgt_head, dtype="Int64")})
    return out.sort_values(["layer", "head"], ignore_index=True)


def head_sources(geometry: Geometry, seed: int) -> list[np.ndarray]:
    """Per layer, `src`: derived head p holds base head src[p]. KV groups are permuted (derived group G
    takes a base group) and the query heads within each group; every query head moves (layers are
    redrawn, in order, from one seeded generator until no head keeps its index)."""
    n_layers, n_heads, n_kv = geometry
    if n_heads < 2:
        raise InputError("permute-heads needs at least 2 heads per layer")
    group = n_heads // n_kv
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_layers):
        for _ in range(_MAX_DRAWS):
            groups = rng.permutation(n_kv)
            src = np.concatenate([g * group + rng.permutation(group) for g in groups])
            if not np.any(src == np.arange(n_heads)):
                break
        else:  # pragma: no cover - a group of one head in a single KV group cannot move
            raise ValueError(f"permute-heads: no permutation of {n_heads} heads in {n_kv} KV groups moves every head")
        out.append(src)
    return out


def kv_sources(src: np.ndarray, n_heads: int, n_kv: int) -> np.ndarray:
    """The KV head each derived KV group takes, read off a layer's query-head sources."""
    group = n_heads // n_kv
    return src[::group] // group


def _permute_map(geometry: Geometry, params: Mapping[str, Any]) -> pd.DataFrame:
    rows = []
    for layer, src in enumerate(head_sources(geometry, params["seed"])):
        rows += [(layer, int(base), layer, p) for p, base in enumerate(src)]
    return _frame(*zip(*rows))


def layer_targets(n_layers: int, at: tuple[int, ...]) -> np.ndarray:
    """Derived layer of each base layer when inert blocks are inserted before the base layers in `at`."""
    base = np.arange(n_layers)
    return base + np.array([sum(a <= layer for a in at) for layer in base], dtype=int)


def _insert_map(geometry: Geometry, params: Mapping[str, Any]) -> pd.DataFrame:
    n_layers, n_heads, _ = geometry
    targets = layer_targets(n_layers, params["at"])
    rows = [(layer, head, int(targets[layer]), head) for layer in range(n_layers) for head in range(n_heads)]
    return _frame(*zip(*rows))


def _knockout_map(geometry: Geometry, params: Mapping[str, Any]) -> pd.DataFrame:
    n_layers, n_heads, _ = geometry
    gone = set(params["heads"])
    rows = [(layer, head, pd.NA if (layer, head) in gone else layer, pd.NA if (layer, head) in gone else head)
            for layer in range(n_layers) for head in range(n_heads)]
    return _frame(*zip(*rows))


# ---------------------------------------------------------------------------------------------
# weights (torch, imported here only)


def _require(state: Mapping[str, Any], key: str) -> Any:
    if key not in state:
        raise InputError(f"the model has no tensor {key}: the transforms support models with model.layers.N.self_attn."
                         "{q,k,v,o}_proj and mlp.down_proj (Llama, Qwen2, Gemma 3)")
    return state[key]


def _permute_blocks(tensor, src: np.ndarray, blocks: int, dim: int):
    """`tensor` with its `dim` axis cut into `blocks` equal blocks, reordered so block p is old block src[p]."""
    import torch

    shape = list(tensor.shape)
    size = shape[dim] // blocks
    split = shape[:dim] + [blocks, size] + shape[dim + 1:]
    index = torch.as_tensor(np.asarray(src), dtype=torch.long)
    return tensor.reshape(split).index_select(dim, index).reshape(shape).clone()


def _apply_permute(config: dict, state: dict, geometry: Geometry, params: Mapping[str, Any]) -> tuple[dict, dict]:
    n_layers, n_heads, n_kv = geometry
    out = dict(state)
    for layer, src in enumerate(head_sources(geometry, params["seed"])):
        kv = kv_sources(src, n_heads, n_kv)
        for proj, order, blocks in (("q", src, n_heads), ("k", kv, n_kv), ("v", kv, n_kv)):
            for kind in ("weight", "bias"):
                key = _ATTN.format(layer=layer, proj=proj, kind=kind)
                if kind == "weight" or key in state:
                    out[key] = _permute_blocks(_require(state, key), order, blocks, 0)
        key = _ATTN.format(layer=layer, proj="o", kind="weight")
        out[key] = _permute_blocks(_require(state, key), src, n_heads, 1)
    return config, out


_OUTPUT_PROJECTIONS = ("self_attn.o_proj.", "mlp.down_proj.")


def _inert_block(state: Mapping[str, Any], neighbour: int, layer: int) -> dict:
    """The tensors of an inert block at derived index `layer`: the neighbour's shapes, every weight of a
    projection zero (so attention and MLP write zero), norms copied (their values cannot matter)."""
    prefix = _LAYER_PREFIX.format(layer=neighbour)
    out = {}
    for key, tensor in state.items():
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix):]
        is_norm = "norm" in rest.rsplit(".", 2)[-2]
        out[_LAYER_PREFIX.format(layer=layer) + rest] = tensor.clone() if is_norm else tensor.new_zeros(tensor.shape)
    return out


def _apply_insert(config: dict, state: dict, geometry: Geometry, params: Mapping[str, Any]) -> tuple[dict, dict]:
    n_layers = geometry[0]
    at = params["at"]
    for layer in range(n_layers):
        for name in _OUTPUT_PROJECTIONS:
            _require(state, _LAYER_PREFIX.format(layer=layer) + name + "weight")
    targets = layer_targets(n_layers, at)
    out = {key: value for key, value in state.items() if not key.startswith("model.layers.")}
    for layer in range(n_layers):
        prefix, new = _LAYER_PREFIX.format(layer=layer), _LAYER_PREFIX.format(layer=int(targets[layer]))
        out.update({new + key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)})
    derived = n_layers + len(at)
    inserted = sorted(set(range(derived)) - set(int(t) for t in targets))
    for position, base_at in zip(inserted, sorted(at)):
        out.update(_inert_block(state, min(base_at, n_layers - 1), position))
    new_config = dict(config, num_hidden_layers=derived)
    types = config.get("layer_types")
    if isinstance(types, list):
        # a base layer keeps its own type (sliding or full attention); an inert block takes its neighbour's
        derived_types = [None] * derived
        for layer, target in enumerate(targets):
            derived_types[int(target)] = types[layer]
        for position, base_at in zip(inserted, sorted(at)):
            derived_types[position] = types[min(base_at, n_layers - 1)]
        new_config["layer_types"] = derived_types
    return new_config, out


def _apply_knockout(config: dict, state: dict, geometry: Geometry, params: Mapping[str, Any]) -> tuple[dict, dict]:
    n_heads = geometry[1]
    out = dict(state)
    for layer, head in params["heads"]:
        key = _ATTN.format(layer=layer, proj="o", kind="weight")
        weight = _require(out, key).clone()
        size = weight.shape[1] // n_heads
        weight[:, head * size:(head + 1) * size] = 0
        out[key] = weight
    return config, out


# ---------------------------------------------------------------------------------------------
# the registry


def _same(geometry: Geometry, params: Mapping[str, Any]) -> Geometry:
    return geometry


def _inserted(geometry: Geometry, params: Mapping[str, Any]) -> Geometry:
    return geometry[0] + len(params["at"]), geometry[1], geometry[2]


def _identity_map(geometry: Geometry, params: Mapping[str, Any]) -> pd.DataFrame:
    n_layers, n_heads, _ = geometry
    rows = [(layer, head, layer, head) for layer in range(n_layers) for head in range(n_heads)]
    return _frame(*zip(*rows))


def _apply_none(config: dict, state: dict, geometry: Geometry, params: Mapping[str, Any]) -> tuple[dict, dict]:
    return config, state


TRANSFORMS: dict[str, Transform] = {
    t.name: t
    for t in (
        Transform("none", {}, "the base's weights as they are (a prompt twin: the same model on other prompts)",
                  _same, _identity_map, _apply_none),
        Transform("permute-heads", {"seed": int}, "heads permuted within each layer (KV groups, then heads in a group)",
                  _same, _permute_map, _apply_permute),
        Transform("insert-identity", {"at": list}, "inert blocks (every projection zero) inserted before base layers",
                  _inserted, _insert_map, _apply_insert),
        Transform("knockout", {"heads": list}, "the O columns of the listed heads zeroed", _same, _knockout_map,
                  _apply_knockout),
    )
}


def get(name: str) -> Transform:
    try:
        return TRANSFORMS[name]
    except KeyError:
        raise InputError(f"unknown transform {name!r}; the registry has {', '.join(TRANSFORMS)}") from None


def check_params(name: str, params: Mapping[str, Any], geometry: Geometry) -> Params:
    """`params` of transform `name` validated against `geometry` (ValueError, one line, otherwise), as
    sorted hashable items: `at` sorted base layer indices in [0, n_layers]; `heads` sorted (layer, head)
    pairs from "L.H" strings, distinct, inside the geometry."""
    transform = get(name)
    missing, unknown = set(transform.params) - set(params), set(params) - set(transform.params)
    if missing or unknown:
        wanted = ", ".join(f"{k} ({v.__name__})" for k, v in transform.params.items())
        raise InputError(f"transform {name} takes {wanted}; "
                         + (f"missing {', '.join(sorted(missing))}" if missing else f"unknown {', '.join(sorted(unknown))}"))
    out: dict[str, Any] = {}
    n_layers, n_heads, n_kv = geometry
    for key, value in params.items():
        want = transform.params[key]
        if not isinstance(value, want) or isinstance(value, bool):
            raise InputError(f"transform {name}: {key} must be {want.__name__}, got {value!r}")
        out[key] = value
    if name == "permute-heads":
        if n_kv < 1 or n_heads % n_kv:
            raise InputError(f"transform {name}: {n_heads} heads do not split into {n_kv} KV groups")
        if n_heads // n_kv < 2 and n_kv < 2:
            raise InputError(f"transform {name}: one head per layer cannot move")
    if name == "insert-identity":
        at = out["at"]
        if not at or not all(isinstance(a, int) and not isinstance(a, bool) and 0 <= a <= n_layers for a in at):
            raise InputError(f"transform {name}: at must list base layer indices in 0..{n_layers} (insert before them), got {at!r}")
        out["at"] = tuple(sorted(at))
    if name == "knockout":
        heads = []
        for item in out["heads"]:
            try:
                layer, head = (int(part) for part in str(item).split("."))
            except ValueError:
                raise InputError(f"transform {name}: heads are 'L.H' strings, got {item!r}") from None
            if not (0 <= layer < n_layers and 0 <= head < n_heads):
                raise InputError(f"transform {name}: head {item!r} is outside {n_layers} layers x {n_heads} heads")
            heads.append((layer, head))
        if not heads or len(set(heads)) != len(heads):
            raise InputError(f"transform {name}: heads must list distinct heads, got {out['heads']!r}")
        out["heads"] = tuple(sorted(heads))
    return tuple(sorted(out.items()))


def label(name: str, params: Params) -> str:
    """The transform and its parameters as text, canonical (it enters fingerprints): name(k=v,...)."""
    def text(value: Any) -> str:
        if isinstance(value, tuple):
            return "/".join(".".join(map(str, v)) if isinstance(v, tuple) else str(v) for v in value)
        return str(value)

    return f"{name}({','.join(f'{key}={text(value)}' for key, value in params)})"


def derived_geometry(name: str, params: Params, geometry: Geometry) -> Geometry:
    return get(name).geometry(geometry, dict(params))


def spec_geometry(spec: ModelSpec) -> Geometry:
    """(n_layers, n_heads, n_kv_heads) of a registry ModelSpec (its query heads without grouped-query attention)."""
    return spec.n_layers, spec.n_heads, int(spec.hf_config.get("num_key_value_heads") or spec.n_heads)


def control_true_map(control: ModelSpec) -> pd.DataFrame:
    """The true map of a derived (control) model, given as its ModelSpec: where each of its base's heads went."""
    derive = control.derive
    return true_map(derive.transform, derive.params, spec_geometry(derive.base))


def true_map(name: str, params: Params, geometry: Geometry) -> pd.DataFrame:
    """Where every base head went (layer, head -> tgt_layer, tgt_head; NA = gone), sorted by base head."""
    return get(name).true_map(geometry, dict(params))


def apply(name: str, params: Params, config: dict, state: dict, geometry: Geometry) -> tuple[dict, dict]:
    """(derived config dict, derived state dict) of a model given as its config dict and state dict. The
    input tensors are not modified (changed ones are new tensors; unchanged ones are shared)."""
    return get(name).apply(config, state, geometry, dict(params))
