"""Transfer of IOI-like heads from a base model to a target model at the same (layer, head) index.

Pure functions over head tables (pandas frames in the head-table schema). Definitions (seed):
take the top K IOI-like heads of the base by |delta_ioi|; look each up in the target, whose heads are
ranked by |delta_ioi| (rank 0 = strongest); frac_rank = (rank + 1) / n_target_rows.

"Missing" has two readings, both computed and named:
- missing_table: the (layer, head) is not a row of the target's table (what the origin computed; in the
  published tables a target keeps only its strongest heads, so this mostly means "weak");
- missing_geometry: the (layer, head) does not exist in the target architecture (what the seed's
  sentence says: "different depth / width").
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from harness.models import registry
from harness.data.head_table import IOI_LIKE, model_table

# k (how many base heads), ties (how tied target heads are ranked), weak_above ("weak" = frac_rank
# above it) and missing (what a target's ranking runs over, MISSING_READINGS) have no defaults here:
# they are claims/thresholds.toml [transfer], passed by every caller
# (harness.claims.thresholds.Transfer.kwargs()).

PER_HEAD_COLUMNS = [
    "base_model",
    "tgt_model",
    "layer",
    "head",
    "base_abs_delta_ioi",
    "tgt_abs_delta_ioi",
    "tgt_rank",
    "tgt_frac_rank",
    "missing_table",
    "missing_geometry",
    "frac_rank_missing_as_one",
    "lost",
]

SUMMARY_COLUMNS = [
    "base_model",
    "tgt_model",
    "kind",
    "k",
    "n_present",
    "mean_frac_rank",
    "mean_frac_rank_missing_as_one",
    "frac_missing_table",
    "frac_missing_geometry",
    "frac_lost",
]


def top_k_base(table: pd.DataFrame, model: str, k: int, categories: Iterable[str] = IOI_LIKE) -> pd.DataFrame:
    """The base model's top-k heads among `categories`, by |delta_ioi| descending (ties keep table order)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    rows = model_table(table, model)
    rows = rows[rows["category"].isin(list(categories))]
    rows = rows.assign(_abs=rows["delta_ioi"].abs()).sort_values("_abs", ascending=False, kind="mergesort")
    return rows.head(k).drop(columns="_abs")


TIE_POLICIES = ("average", "min", "max", "first")
# What a target's ranking runs over, i.e. which reading of "missing" the rank and `lost` use:
# "table" = the rows of its table (the origin's); "geometry" = every head of its architecture, a head
# that is not a row counting as |delta_ioi| = 0.0 (the value the tables themselves fill in for "not in
# the IOI top list"), rows outside the architecture dropped (the seed's sentence: index absent).
MISSING_READINGS = ("table", "geometry")


def _geometry_rows(table: pd.DataFrame, model: str) -> pd.DataFrame:
    """Every (layer, head) of `model`'s architecture with its |delta_ioi| from the table (0.0 when not a row)."""
    spec = registry.get(model)
    grid = pd.DataFrame(
        [(layer, head) for layer in range(spec.n_layers) for head in range(spec.n_heads)], columns=["layer", "head"]
    )
    rows = model_table(table, model)[["layer", "head", "delta_ioi"]]
    merged = grid.merge(rows, on=["layer", "head"], how="left", validate="one_to_one")
    return merged.fillna({"delta_ioi": 0.0})


def target_ranks(table: pd.DataFrame, model: str, ties: str, *, over: str) -> pd.DataFrame:
    """Every row of the target ranked by |delta_ioi| (0 = strongest), with frac_rank = (rank+1)/n.

    Heads with equal |delta_ioi| (in the published tables: the many 0.0 fill values of heads that were
    only in the control task's top list) get, by `ties`: the mid rank of their block ("average", the
    thresholds file's choice: independent of row order), its best ("min") or worst ("max") rank, or table order ("first").
    The origin broke ties by an unrecorded row order, so its ranks of tied heads are not reproducible.
    `over` = "table" ranks the table's rows; "geometry" ranks every head of the architecture (MISSING_READINGS).
    """
    if ties not in TIE_POLICIES:
        raise ValueError(f"unknown tie policy {ties!r}; use one of {TIE_POLICIES}")
    if over not in MISSING_READINGS:
        raise ValueError(f"unknown reading of missing {over!r}; use one of {MISSING_READINGS}")
    rows = model_table(table, model) if over == "table" else _geometry_rows(table, model)
    strength = rows["delta_ioi"].abs()
    rank = strength.rank(ascending=False, method=ties) - 1.0
    n = len(rows)
    out = pd.DataFrame(
        {
            "layer": rows["layer"].to_numpy(),
            "head": rows["head"].to_numpy(),
            "tgt_abs_delta_ioi": strength.to_numpy(),
            "tgt_rank": rank.to_numpy(),
            "tgt_frac_rank": (rank.to_numpy() + 1.0) / n,
        }
    )
    return out.sort_values("tgt_rank", kind="mergesort").reset_index(drop=True)


def transfer_heads(
    table: pd.DataFrame,
    base: str,
    target: str,
    *,
    k: int,
    ties: str,
    weak_above: float,
    missing: str,
    ranks: pd.DataFrame | None = None,
    base_rows: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per base head: its rank in the target and both readings of missing.

    `lost` = missing (by the `missing` reading: not a table row, or index absent), or present but weak
    (frac_rank > weak_above). The ranks run over what `missing` says (see target_ranks); the number of
    heads ranked is kept in `attrs["n_target"]` (the n of frac_rank = (rank+1)/n). `ranks` and
    `base_rows`: the caller's `target_ranks(table, target, ties, over=missing)` and
    `top_k_base(table, base, k)`, when it reuses them (a robustness sweep).
    """
    spec = registry.get(target)
    base_rows = top_k_base(table, base, k) if base_rows is None else base_rows
    ranks = target_ranks(table, target, ties, over=missing) if ranks is None else ranks
    merged = base_rows[["layer", "head", "delta_ioi"]].merge(ranks, on=["layer", "head"], how="left", validate="one_to_one")
    unranked = merged["tgt_rank"].isna()
    if missing == "table":  # the ranks run over the table's rows: unranked = not a row
        missing_table = unranked
    else:
        rows = model_table(table, target)
        rows_index = set(zip(rows["layer"].astype(int), rows["head"].astype(int)))
        missing_table = pd.Series([(int(l), int(h)) not in rows_index for l, h in zip(merged["layer"], merged["head"])], dtype=bool)
    missing_geometry = ~np.array([spec.has_head(int(l), int(h)) for l, h in zip(merged["layer"], merged["head"])], dtype=bool)
    out = pd.DataFrame(
        {
            "base_model": base,
            "tgt_model": target,
            "layer": merged["layer"].astype(int),
            "head": merged["head"].astype(int),
            "base_abs_delta_ioi": merged["delta_ioi"].abs(),
            "tgt_abs_delta_ioi": merged["tgt_abs_delta_ioi"],
            "tgt_rank": merged["tgt_rank"],
            "tgt_frac_rank": merged["tgt_frac_rank"],
            "missing_table": missing_table.to_numpy(),
            "missing_geometry": missing_geometry,
            "frac_rank_missing_as_one": merged["tgt_frac_rank"].fillna(1.0),
            "lost": (unranked | (merged["tgt_frac_rank"] > weak_above)).to_numpy(),
        }
    )
    out = out[PER_HEAD_COLUMNS]
    out.attrs["n_target"] = len(ranks)
    return out


def with_weak_cut(heads: pd.DataFrame, weak_above: float) -> pd.DataFrame:
    """Per-head rows of transfer_heads with `lost` recomputed for another weak cut (no re-ranking)."""
    return heads.assign(lost=(heads["tgt_rank"].isna() | (heads["tgt_frac_rank"] > weak_above)).to_numpy())


def summarize_heads(heads: pd.DataFrame) -> dict[str, float]:
    """Pair metrics from the per-head rows of one pair (pure; used by the bootstrap too).

    On numpy arrays (a robustness sweep calls this some 10^4 times); the same sums as pandas' mean."""
    rank = heads["tgt_frac_rank"].to_numpy(dtype=float)
    present = rank[~np.isnan(rank)]

    def mean(column: str) -> float:
        values = heads[column].to_numpy(dtype=float)
        return float(values.mean()) if values.size else float("nan")

    return {
        "n_present": int(present.size),
        "mean_frac_rank": float(present.mean()) if present.size else float("nan"),
        "mean_frac_rank_missing_as_one": mean("frac_rank_missing_as_one"),
        "frac_missing_table": mean("missing_table"),
        "frac_missing_geometry": mean("missing_geometry"),
        "frac_lost": mean("lost"),
    }


def transfer_summary(
    table: pd.DataFrame,
    pairs: Iterable[tuple[str, str]] | None = None,
    *,
    k: int,
    ties: str,
    weak_above: float,
    missing: str,
) -> pd.DataFrame:
    """One row per (base, target) pair with every pair metric (default pairs: the seed design's)."""
    if pairs is None:
        from harness.data.designs import builtin

        pairs = builtin("seed").pairs
    return summary_frame(
        {(b, t): transfer_heads(table, b, t, k=k, ties=ties, weak_above=weak_above, missing=missing) for b, t in pairs}
    )


def summary_frame(heads_by_pair: dict[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
    """Pair metrics, one row per pair, from per-head rows keyed by (base, target)."""
    rows = [
        {"base_model": b, "tgt_model": t, "kind": registry.pair_kind(b, t), "k": len(h), **summarize_heads(h)}
        for (b, t), h in heads_by_pair.items()
    ]
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def origin_format(heads: pd.DataFrame) -> pd.DataFrame:
    """Per-head rows in the column layout of the origin's `ioi_transfer_generic.csv`."""
    out = pd.DataFrame(
        {
            "base_family": [registry.get(m).family for m in heads["base_model"]],
            "base_model": heads["base_model"].to_numpy(),
            "tgt_family": [registry.get(m).family for m in heads["tgt_model"]],
            "tgt_model": heads["tgt_model"].to_numpy(),
            "layer": heads["layer"].to_numpy(),
            "head": heads["head"].to_numpy(),
            "base_abs_delta_ioi": heads["base_abs_delta_ioi"].to_numpy(),
            "tgt_abs_delta_ioi": heads["tgt_abs_delta_ioi"].to_numpy(),
            "tgt_rank": heads["tgt_rank"].to_numpy(),
            "tgt_frac_rank": heads["tgt_frac_rank"].to_numpy(),
            "missing_in_target_index": heads["missing_table"].to_numpy(),
        }
    )
    return out.reset_index(drop=True)
