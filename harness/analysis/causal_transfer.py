"""Causal transfer of a head set between two models, pure functions over frames.

The base's top-K heads (by single-head |delta|, its zoo table) are mapped into the target by a
correspondence (a frame layer, head -> tgt_layer, tgt_head; `index` here: the same (layer, head);
depth, role and role+depth from harness.analysis.correspondence when present). A base head whose
target does not exist in the target's geometry (or that the correspondence leaves unmatched) is
dropped and counted; two base heads mapped onto one target head count once. The mapped set's
faithfulness in the target is weighed against the target's own top-K set and its random K-sets:

    efficiency = (f(mapped) - mean f(random K-sets)) / (f(own top-K) - mean f(random K-sets))

and the mapped set's one-sided p-value against the same random K-sets (a mapped set smaller than
K for dropped heads is compared with K-sets as it is: a head that does not exist cannot carry the
behaviour, as the seed's "missing" counts against a pair).

A correspondence never reads faithfulness: it is built from the base's ranking and the models'
geometry (and role tables), before anything is measured in the target.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from harness.sizes import check_draws
from harness.analysis import faithfulness as faith
from harness.data.head_sets import Head
from harness.models import registry

INDEX = "index"
MAPPED_SEP = "|"


def index_correspondence(base_top: pd.DataFrame, target_geometry: tuple[int, int]) -> pd.DataFrame:
    """Each base head (layer, head) to the same (layer, head) of the target; NaN where the target
    has no such head."""
    n_layers, n_heads = target_geometry
    inside = (base_top["layer"] < n_layers) & (base_top["head"] < n_heads)
    return pd.DataFrame(
        {
            "layer": base_top["layer"].astype(int).to_numpy(),
            "head": base_top["head"].astype(int).to_numpy(),
            "tgt_layer": base_top["layer"].where(inside).to_numpy(float),
            "tgt_head": base_top["head"].where(inside).to_numpy(float),
        }
    )


def mapped_heads(correspondence: pd.DataFrame, target_geometry: tuple[int, int]) -> tuple[list[Head], int]:
    """(the distinct target heads the correspondence maps onto, inside the geometry; the number of
    base heads dropped: unmatched or outside it)."""
    n_layers, n_heads = target_geometry
    heads, dropped = set(), 0
    for tl, th in zip(correspondence["tgt_layer"], correspondence["tgt_head"]):
        if pd.isna(tl) or pd.isna(th) or not (0 <= int(tl) < n_layers and 0 <= int(th) < n_heads):
            dropped += 1
            continue
        heads.add((int(tl), int(th)))
    return sorted(heads), dropped


def mapped_label(base: str, correspondence: str, dropped: int, k: int | None = None) -> str:
    """How a mapped set is labelled in the target's results: base|correspondence|dropped for the base's
    top-K at the claims' K, base|correspondence|dropped|k for its top-k at another k (the size-aware K)."""
    return MAPPED_SEP.join((base, correspondence, str(int(dropped)), *(() if k is None else (str(int(k)),))))


def parse_label(label: str) -> tuple[str, str, int]:
    base, correspondence, dropped = label.split(MAPPED_SEP)[:3]
    return base, correspondence, int(dropped)


def label_k(label: str) -> int | None:
    """The base's top-k size a mapped label names, or None for the claims' K (a three-part label)."""
    parts = label.split(MAPPED_SEP)
    return int(parts[3]) if len(parts) > 3 else None


def base_top(table: pd.DataFrame, k: int) -> pd.DataFrame:
    """The base's top-k heads by |delta| (one model's head table) as a frame (layer, head)."""
    heads = faith.ranked_heads(table, "abs")[:k]
    return pd.DataFrame(heads, columns=["layer", "head"])


def transfer_frame(
    results: pd.DataFrame, pairs: Sequence[tuple[str, str]], k: int, kinds: Mapping[tuple[str, str], str] | None = None,
    *, n_boot: int = 0, level: float = 0.95, seed: int = 0, sized: bool = False,
) -> pd.DataFrame:
    """One row per (pair, correspondence) found in `results` (all models of one method, with f):
    the mapped set's size, dropped heads, f, the target's own top-k f, the target's random k-set
    null (mean, 95th percentile), the mapped set's p-value against it and the transfer efficiency;
    with n_boot > 0 and per-prompt logit differences (an "ld" column), also the bootstrap intervals
    over the target's prompts of f(mapped) (f_lo, f_hi) and of the efficiency (efficiency_lo, _hi).
    The mapped sets read are those of the base's top-K at the claims' K (three-part labels), or with
    `sized` those of its top-k (labels naming k)."""
    results = results if "f" in results else faith.with_f(results)
    rows = []
    for base, target in pairs:
        tgt = results[results["model"] == target]
        mapped = tgt[tgt["kind"] == "mapped"]
        own = tgt[(tgt["kind"] == "top") & (tgt["ranking"] == "abs") & (tgt["k"] == k)]
        draws = tgt[(tgt["kind"] == "random") & (tgt["k"] == k)]["f"].to_numpy(float)
        for _, row in mapped.iterrows():
            label_base, correspondence, dropped = parse_label(row["label"])
            if label_base != base or label_k(row["label"]) != (k if sized else None):
                continue
            f_own = float(own["f"].iloc[0]) if len(own) else float("nan")
            null_mean = float(draws.mean()) if len(draws) else float("nan")
            rows.append(
                {
                    "base": base, "target": target, "kind": (kinds or {}).get((base, target)) or registry.pair_kind(base, target),
                    "correspondence": correspondence, "n_mapped": int(row["k"]), "n_dropped": dropped,
                    "f_mapped": float(row["f"]), "f_own": f_own, "null_mean": null_mean,
                    "null_p95": float(np.percentile(draws, 95)) if len(draws) else float("nan"),
                    "p_value": faith.null_position(float(row["f"]), draws)[1],
                    "efficiency": faith.transfer_efficiency(float(row["f"]), f_own, null_mean),
                    **_intervals(tgt, row, own, k, n_boot, level, seed),
                }
            )
    return pd.DataFrame(rows)


def efficiency_interval(
    ld_mapped: np.ndarray, ld_own: np.ndarray, ld_random: np.ndarray, *, n_boot: int, level: float, seed: int
) -> tuple[float, float]:
    """Bootstrap interval of the transfer efficiency over the target's prompts: the prompts are
    resampled jointly for the mapped set, the target's own top-k set and every random k-set (each
    holds one logit difference per prompt, same order; `ld_random` is (sets, prompts)). f is affine in
    the mean logit difference with the same clean and all-ablated ends, so the efficiency reads the
    means directly."""
    n = len(ld_mapped)
    check_draws(n_boot, n, (2 + np.shape(ld_random)[0]) * 8, "the transfer efficiency's bootstrap")  # the random sets gathered too
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    mapped, own = ld_mapped[idx].mean(1), ld_own[idx].mean(1)
    null = np.asarray(ld_random, float).mean(axis=0)[idx].mean(1)  # the null's mean over sets, resampled like the others
    with np.errstate(divide="ignore", invalid="ignore"):
        eff = (mapped - null) / (own - null)
    lo, hi = np.nanquantile(eff, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def _ld(rows: pd.DataFrame) -> list[np.ndarray] | None:
    if "ld" not in rows or not len(rows) or rows["ld"].isna().any():
        return None
    return [np.asarray(v, float) for v in rows["ld"]]


def _intervals(tgt: pd.DataFrame, row: pd.Series, own: pd.DataFrame, k: int, n_boot: int, level: float, seed: int) -> dict:
    """f(mapped) and efficiency intervals of one mapped set, or {} without per-prompt data."""
    if n_boot <= 0 or not isinstance(row.get("ld"), np.ndarray):
        return {}
    full, empty = _ld(tgt[tgt["kind"] == "full"]), _ld(tgt[tgt["kind"] == "empty"])
    draws, own_ld = _ld(tgt[(tgt["kind"] == "random") & (tgt["k"] == k)]), _ld(own)
    if not (full and empty and draws and own_ld):
        return {}
    ld = np.asarray(row["ld"], float)
    f_lo, f_hi = faith.f_interval(ld, full[0], empty[0], n_boot=n_boot, level=level, seed=seed)
    e_lo, e_hi = efficiency_interval(ld, own_ld[0], np.stack(draws), n_boot=n_boot, level=level, seed=seed)
    return {"f_lo": f_lo, "f_hi": f_hi, "efficiency_lo": e_lo, "efficiency_hi": e_hi, "null_n": len(draws)}
