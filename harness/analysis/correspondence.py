"""Correspondences: which target head a base head is compared with (a registry, like the ablation methods).

`correspond(name, base_top, base_roles, target_roles, base_geometry, target_geometry, cfg, seed=0)`
returns one row per base head, in base_top's order: layer, head (base), tgt_layer, tgt_head (nullable
Int64, NA when the base head has no counterpart, e.g. its index is absent from the target).

- `index`: the same (layer, head) (the seed's and today's look-up);
- `depth`: a one-to-one assignment minimising the relative-depth distance |l/(L-1) - l'/(L'-1)|, ties
  broken by 1e-3 x the relative head-position distance;
- `role`: a one-to-one assignment minimising the role-signature distance;
- `role+depth`: w_role x role distance + w_depth x depth distance;
- `random`: the null: a seeded random depth-preserving matching (each base head to a random head of
  the target layer at the nearest relative depth, one-to-one; a full layer spills to the next nearest);
  `random_matchings` draws many.
The bound `oracle` (the target's own top K) reads the target's outcome, so it is not a correspondence:
harness.analysis.role_transfer computes it beside them.

OUTCOME-BLIND: a correspondence reads layer, head and the signature columns of cfg only, never
delta_ioi nor the direct logit attribution (tests/unit/test_correspondence.py permutes them).
Role distance = Euclidean distance of standardized signatures / sqrt(n columns): each column is
standardized within its model ("rank": percentile rank; "zscore"), so both cost terms lie in ~[0, 1].
The assignment is scipy.optimize.linear_sum_assignment over base heads x all target heads.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

Geometry = tuple[int, int]  # (n_layers, n_heads)
OUTPUT_COLUMNS = ("layer", "head", "tgt_layer", "tgt_head")
TIE_BREAK = 1e-3


def _settings(cfg: Any) -> Any:
    """The [correspondence] section from a Thresholds object (or the section itself)."""
    section = getattr(cfg, "correspondence", cfg)
    if section is None:
        raise ValueError("claims/thresholds.toml has no [correspondence] section")
    return section


def _rel(values: np.ndarray, n: int) -> np.ndarray:
    return values / (n - 1) if n > 1 else np.zeros_like(values, dtype=float)


def _standardize(roles: pd.DataFrame, columns: tuple[str, ...], how: str) -> pd.DataFrame:
    """Signature columns of one model's role table, standardized within that model."""
    missing = [c for c in columns if c not in roles.columns]
    if missing:
        raise ValueError(f"role table lacks the signature column(s) {missing}")
    values = roles[list(columns)].astype(float)
    if how == "rank":
        out = values.rank(pct=True, method="average")
    elif how == "zscore":
        sd = values.std(ddof=0).replace(0.0, 1.0)
        out = (values - values.mean()) / sd
    else:
        raise ValueError(f"unknown standardization {how!r}")
    return out.fillna(0.0)


def _signature(roles: pd.DataFrame, heads: pd.DataFrame, columns: tuple[str, ...], how: str) -> np.ndarray:
    """(len(heads), n columns) standardized signatures of `heads` (layer, head) in `roles`."""
    table = roles[["layer", "head"]].astype(int).reset_index(drop=True)
    standard = _standardize(roles.reset_index(drop=True), columns, how)
    index = {(l, h): i for i, (l, h) in enumerate(zip(table["layer"], table["head"]))}
    rows = []
    for l, h in zip(heads["layer"].astype(int), heads["head"].astype(int)):
        if (l, h) not in index:
            raise ValueError(f"role table has no row for head L{l}H{h}")
        rows.append(index[(l, h)])
    return standard.to_numpy()[rows]


def _all_heads(geometry: Geometry) -> pd.DataFrame:
    n_layers, n_heads = geometry
    layer, head = np.meshgrid(np.arange(n_layers), np.arange(n_heads), indexing="ij")
    return pd.DataFrame({"layer": layer.ravel(), "head": head.ravel()})


def depth_cost(base: pd.DataFrame, base_geometry: Geometry, target: pd.DataFrame, target_geometry: Geometry) -> np.ndarray:
    """(n base, n target) |relative depth difference|."""
    b = _rel(base["layer"].to_numpy(float), base_geometry[0])
    t = _rel(target["layer"].to_numpy(float), target_geometry[0])
    return np.abs(b[:, None] - t[None, :])


def _head_position_cost(base: pd.DataFrame, base_geometry: Geometry, target: pd.DataFrame, target_geometry: Geometry) -> np.ndarray:
    b = _rel(base["head"].to_numpy(float), base_geometry[1])
    t = _rel(target["head"].to_numpy(float), target_geometry[1])
    return np.abs(b[:, None] - t[None, :])


def role_cost(base: pd.DataFrame, base_roles: pd.DataFrame, target: pd.DataFrame, target_roles: pd.DataFrame, settings: Any) -> np.ndarray:
    """(n base, n target) role-signature distance / sqrt(n columns)."""
    columns = tuple(settings.signature)
    sb = _signature(base_roles, base, columns, settings.standardize)
    st = _signature(target_roles, target, columns, settings.standardize)
    diff = sb[:, None, :] - st[None, :, :]
    return np.sqrt((diff**2).sum(-1) / len(columns))


def _assign(cost: np.ndarray, target: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Target (layer, head) of each base row under the min-cost one-to-one assignment."""
    if cost.shape[0] > cost.shape[1]:
        raise ValueError(f"{cost.shape[0]} base heads cannot be matched one-to-one to {cost.shape[1]} target heads")
    rows, cols = linear_sum_assignment(cost)
    order = np.empty(cost.shape[0], dtype=int)
    order[rows] = cols
    return target["layer"].to_numpy()[order], target["head"].to_numpy()[order]


def _frame(base_top: pd.DataFrame, tgt_layer: Any, tgt_head: Any) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "layer": base_top["layer"].astype(int).to_numpy(),
            "head": base_top["head"].astype(int).to_numpy(),
            "tgt_layer": pd.array(tgt_layer, dtype="Int64"),
            "tgt_head": pd.array(tgt_head, dtype="Int64"),
        }
    )


def _index(base_top, base_roles, target_roles, base_geometry, target_geometry, settings, seed) -> pd.DataFrame:
    n_layers, n_heads = target_geometry
    exists = [(0 <= l < n_layers and 0 <= h < n_heads) for l, h in zip(base_top["layer"].astype(int), base_top["head"].astype(int))]
    layer = [int(l) if ok else pd.NA for l, ok in zip(base_top["layer"], exists)]
    head = [int(h) if ok else pd.NA for h, ok in zip(base_top["head"], exists)]
    return _frame(base_top, layer, head)


def _optimal(w_role: float, w_depth: float) -> Callable[..., pd.DataFrame]:
    def build(base_top, base_roles, target_roles, base_geometry, target_geometry, settings, seed) -> pd.DataFrame:
        target = _all_heads(target_geometry)
        cost = np.zeros((len(base_top), len(target)))
        wr = settings.w_role if w_role is None else w_role
        wd = settings.w_depth if w_depth is None else w_depth
        if wr:
            cost += wr * role_cost(base_top, base_roles, target, target_roles, settings)
        if wd:
            cost += wd * depth_cost(base_top, base_geometry, target, target_geometry)
        if not wr:  # depth alone: many equal costs inside a layer; break ties by head position
            cost += TIE_BREAK * _head_position_cost(base_top, base_geometry, target, target_geometry)
        return _frame(base_top, *_assign(cost, target))

    return build


def _depth_orders(base_layers: np.ndarray, base_geometry: Geometry, target_geometry: Geometry) -> list[np.ndarray]:
    """Per base head, the target layers nearest its relative depth first (ties: lower layer)."""
    target_rel = _rel(np.arange(target_geometry[0], dtype=float), target_geometry[0])
    return [np.argsort(np.abs(target_rel - l), kind="stable") for l in _rel(base_layers.astype(float), base_geometry[0])]


def _slots(orders: list[np.ndarray], target_geometry: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Which target layer each base head of a depth-preserving random matching lands in, and how many
    base heads took a head of that layer before it: the nearest layer (its `_depth_orders` row) with a
    free head. No draw enters, so every random matching of a pair shares it."""
    n_layers, n_heads = target_geometry
    taken = np.zeros(n_layers, dtype=np.int64)
    layers, slots = [], []
    for order in orders:
        for layer in order:
            if taken[layer] < n_heads:
                layers.append(int(layer))
                slots.append(int(taken[layer]))
                taken[layer] += 1
                break
        else:
            raise ValueError("more base heads than target heads")
    return np.asarray(layers, dtype=np.int64), np.asarray(slots, dtype=np.int64)


def _random_targets(orders: list[np.ndarray], target_geometry: Geometry, seed: int,
                    slots: tuple[np.ndarray, np.ndarray] | None = None, heads: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Target (layers, heads) of one seeded depth-preserving random matching: each base head takes a
    random free head of the nearest target layer that has one. The draw is a seeded permutation of
    every layer's heads (layer 0 first); the j-th base head landing in a layer takes its permutation's
    j-th head from the end."""
    n_layers, n_heads = target_geometry
    layers, taken = _slots(orders, target_geometry) if slots is None else slots
    heads = np.tile(np.arange(n_heads, dtype=np.int64), (n_layers, 1)) if heads is None else heads  # each row 0 .. n_heads - 1
    perms = np.random.default_rng(seed).permuted(heads, axis=1)  # a new array: `heads` is left as it is
    return layers, perms[layers, n_heads - 1 - taken]


def _random(base_top, base_roles, target_roles, base_geometry, target_geometry, settings, seed) -> pd.DataFrame:
    """One seeded depth-preserving random matching."""
    orders = _depth_orders(base_top["layer"].to_numpy(), base_geometry, target_geometry)
    return _frame(base_top, *_random_targets(orders, target_geometry, seed))


# name -> builder(base_top, base_roles, target_roles, base_geometry, target_geometry, settings, seed)
CORRESPONDENCES: dict[str, Callable[..., pd.DataFrame]] = {
    "index": _index,
    "depth": _optimal(0.0, 1.0),
    "role": _optimal(1.0, 0.0),
    "role+depth": _optimal(None, None),
    "random": _random,
}
MATCHINGS = ("index", "depth", "role", "role+depth")  # the correspondences compared; random is the null
NEEDS_ROLES = ("role", "role+depth")


def correspond(
    name: str,
    base_top: pd.DataFrame,
    base_roles: pd.DataFrame | None,
    target_roles: pd.DataFrame | None,
    base_geometry: Geometry,
    target_geometry: Geometry,
    cfg: Any,
    seed: int = 0,
) -> pd.DataFrame:
    """The target head of each base head of `base_top` (layer, head) under correspondence `name`:
    columns layer, head, tgt_layer, tgt_head (Int64, NA = unmapped), in base_top's order.
    `*_roles` are role tables (harness.runs.roles.stored_roles; only role / role+depth read them),
    geometries (n_layers, n_heads), `cfg` the Thresholds (or its [correspondence] section)."""
    if name not in CORRESPONDENCES:
        hint = " (the oracle reads the target's outcome: harness.analysis.role_transfer)" if name == "oracle" else ""
        raise ValueError(f"unknown correspondence {name!r}; use one of {', '.join(CORRESPONDENCES)}{hint}")
    settings = _settings(cfg) if name in ("role", "role+depth") else getattr(cfg, "correspondence", cfg)
    if name in NEEDS_ROLES and (base_roles is None or target_roles is None):
        raise ValueError(f"correspondence {name!r} needs the role tables of both models")
    heads = base_top[["layer", "head"]].reset_index(drop=True)
    return CORRESPONDENCES[name](heads, base_roles, target_roles, tuple(base_geometry), tuple(target_geometry), settings, seed)


def random_matchings(base_top: pd.DataFrame, base_geometry: Geometry, target_geometry: Geometry, n: int, seed: int = 0) -> list[pd.DataFrame]:
    """`n` seeded random depth-preserving matchings (the null distribution); draw i uses seed + i."""
    return [correspond("random", base_top, None, None, base_geometry, target_geometry, None, seed=seed + i) for i in range(n)]


def random_flat(base_top: pd.DataFrame, base_geometry: Geometry, target_geometry: Geometry, n: int, seed: int = 0) -> np.ndarray:
    """`random_matchings` as flat target indices (layer * n_heads + head), shape (n, len(base_top)),
    without a frame per draw (the same draws: draw i uses seed + i)."""
    orders = _depth_orders(base_top["layer"].astype(int).to_numpy(), tuple(base_geometry), tuple(target_geometry))
    geometry = (int(target_geometry[0]), int(target_geometry[1]))
    slots = _slots(orders, geometry)
    rows = np.tile(np.arange(geometry[1], dtype=np.int64), (geometry[0], 1))
    out = np.empty((n, len(orders)), dtype=np.int64)
    for i in range(n):
        layers, heads = _random_targets(orders, geometry, seed + i, slots, rows)
        out[i] = layers * geometry[1] + heads
    return out
