"""The noise floor of a head ranking: how much "transfer" a model shows to ITSELF on other prompts.

A pair's loss of IOI heads (base -> target, same (layer, head) index) means something only if it is
larger than what re-scoring the same model on other prompts of the same task already loses. For a
model whose exact scan kept every prompt's ablated logit difference (harness.runs.sharded_scan), the
prompts split into two disjoint halves (A = the first N/2, B = the rest; prompts are drawn in random
order, so these are random halves). Half A's head table is the base, half B's the target, and the
seed's metrics (mean_frac_rank, frac_lost, plus the top-K overlap) of that self-transfer are the
floor. A bootstrap over prompts (resampling within each half, seeded) gives its spread.

A pair's loss exceeds a model's floor when it is above the floor's upper bootstrap quantile. Halves
hold half the prompts, so the floor is, if anything, too high (conservative for "lost" claims).

Pure numpy/pandas; the transfer metrics are harness.analysis.transfer's (the bootstrap computes them
on arrays, `array_self_transfer`, held equal to the frame path by tests/unit/test_noise_floor.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis import transfer
from harness.data.head_table import IOI_LIKE, categorize, with_derived_columns
from harness.models import registry

METRICS = ("mean_frac_rank", "frac_lost", "top_k_overlap")


def head_rows(model: str, family: str, ablated: np.ndarray, clean: np.ndarray, rows: np.ndarray, tau: float, rule: str) -> pd.DataFrame:
    """A head table (published schema, IOI only) from the per-prompt logit differences of `rows`:
    delta_ioi = mean over those prompts of ablated - clean; delta_anti = 0 (no control task)."""
    n_layers, n_heads, _ = ablated.shape
    delta = prompt_deltas(ablated, clean, rows)
    table = pd.DataFrame(
        {
            "family": family,
            "model": model,
            "layer": np.repeat(np.arange(n_layers), n_heads),
            "head": np.tile(np.arange(n_heads), n_layers),
            "delta_ioi": delta,
            "delta_anti": 0.0,
        }
    )
    table = with_derived_columns(table)
    table["category"] = categorize(table["delta_ioi"], table["delta_anti"], tau, rule)
    return table


def top_k_overlap(base: pd.DataFrame, target: pd.DataFrame, k: int) -> float:
    """Share of the base's top-k heads by |delta_ioi| that are among the target's top-k too."""

    def top(table: pd.DataFrame) -> set[tuple[int, int]]:
        ranked = table.assign(_a=table["delta_ioi"].abs()).sort_values("_a", ascending=False, kind="mergesort")
        return set(zip(ranked["layer"].head(k), ranked["head"].head(k)))

    return len(top(base) & top(target)) / k


def self_transfer(model: str, table_a: pd.DataFrame, table_b: pd.DataFrame, *, k: int, **settings: Any) -> dict[str, float]:
    """The seed's pair metrics of half A -> half B of one model (base rows relabelled so the two
    halves can share one frame; the target keeps the registry name, whose geometry is used)."""
    base_name = f"{model}@A"
    combined = pd.concat([table_a.assign(model=base_name), table_b.assign(model=model)], ignore_index=True)
    heads = transfer.transfer_heads(combined, base_name, model, k=k, **settings)
    summary = transfer.summarize_heads(heads)
    return {
        "mean_frac_rank": summary["mean_frac_rank"],
        "frac_lost": summary["frac_lost"],
        "top_k_overlap": top_k_overlap(table_a, table_b, k),
        "n_base_heads": len(heads),
    }


@dataclass(frozen=True)
class Floor:
    """A model's floor: the point values, and bootstrap quantiles (lo, hi) per metric. `kind` is
    "prompts" (split-half, here) or "weights" (model -> re-quantised twin, harness.analysis.weights_floor)."""

    model: str
    n_prompts: int
    point: dict[str, float]
    lo: dict[str, float]
    hi: dict[str, float]
    n_boot: int
    level: float
    kind: str = "prompts"

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {"model": self.model, "kind": self.kind, "metric": m, "floor": self.point[m], "lo": self.lo[m],
                 "hi": self.hi[m], "n_prompts": self.n_prompts, "n_boot": self.n_boot}
                for m in self.point
            ]
        )


def split_halves(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Prompt indices of half A (the first n // 2) and half B (the rest)."""
    return np.arange(n // 2), np.arange(n // 2, n)


def prompt_deltas(ablated: np.ndarray, clean: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """delta_ioi of every head (layer-major) over the prompts `rows`: head_rows's numbers."""
    return (ablated[:, :, rows].mean(-1) - clean[rows].mean()).reshape(-1)


def _top_k_order(strength: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k strongest `candidates` (by `strength` descending, ties in index order): the
    order pandas' descending mergesort gives (transfer.top_k_base, top_k_overlap)."""
    return candidates[np.argsort(-strength[candidates], kind="stable")][:k]


def array_self_transfer(
    delta_a: np.ndarray, delta_b: np.ndarray, *, k: int, ties: str, weak_above: float, tau: float, rule: str
) -> dict[str, float]:
    """`self_transfer` of two complete head tables of one model given as delta arrays (every head,
    layer-major), on numpy arrays: the same metrics, the same floating-point operations (one
    ranking per call, no frames), about 100x faster. Holds where both halves have every head, which
    split halves of one scan always do (so the "table" and "geometry" readings of missing agree)."""
    from scipy.stats import rankdata

    methods = {"average": "average", "min": "min", "max": "max", "first": "ordinal"}
    if ties not in methods:
        raise ValueError(f"unknown tie policy {ties!r}; use one of {tuple(methods)}")
    ioi_like = np.isin(categorize(delta_a, np.zeros_like(delta_a), tau, rule), IOI_LIKE)
    strength_a, strength_b = np.abs(delta_a), np.abs(delta_b)
    base = _top_k_order(strength_a, np.flatnonzero(ioi_like), k)
    rank = rankdata(-strength_b, method=methods[ties]).astype(float) - 1.0
    frac = (rank + 1.0) / strength_b.size
    picked = frac[base]
    everything = np.arange(strength_a.size)
    shared = set(_top_k_order(strength_a, everything, k).tolist()) & set(_top_k_order(strength_b, everything, k).tolist())
    return {
        "mean_frac_rank": float(picked.mean()) if picked.size else float("nan"),
        "frac_lost": float((picked > weak_above).astype(float).mean()) if picked.size else float("nan"),
        "top_k_overlap": len(shared) / k,
    }


def arrays_apply(model: str, ablated: np.ndarray, missing: str) -> bool:
    """True when `array_self_transfer` gives `self_transfer`'s numbers for this model: always under
    the "table" reading; under "geometry" when the scan covers exactly the registry's heads."""
    if missing == "table":
        return True
    try:
        spec = registry.get(model)
    except KeyError:
        return False
    return (spec.n_layers, spec.n_heads) == tuple(ablated.shape[:2])


def noise_floor(
    model: str, family: str, ablated: np.ndarray, clean: np.ndarray, *, k: int, tau: float, rule: str, n_boot: int,
    level: float, seed: int, **settings: Any,
) -> Floor:
    """Split-half floor of one model, with a bootstrap over prompts (resampled within each half).
    `settings` are the transfer settings (ties, weak_above, missing: thresholds.toml [transfer]).
    Each draw is one numpy ranking (`array_self_transfer`); the frame path (`self_transfer` on
    `head_rows` tables) is the reference it is tested against, and the fallback where it does not
    apply."""
    half_a, half_b = split_halves(clean.shape[0])
    fast = arrays_apply(model, ablated, settings.get("missing", "table"))
    settings = dict(k=k, **settings)

    def metrics(rows_a: np.ndarray, rows_b: np.ndarray) -> dict[str, float]:
        if fast:
            return array_self_transfer(
                prompt_deltas(ablated, clean, rows_a), prompt_deltas(ablated, clean, rows_b), k=k, ties=settings["ties"],
                weak_above=settings["weak_above"], tau=tau, rule=rule,
            )
        a = head_rows(model, family, ablated, clean, rows_a, tau, rule)
        b = head_rows(model, family, ablated, clean, rows_b, tau, rule)
        return self_transfer(model, a, b, **settings)

    point = metrics(half_a, half_b)
    rng = np.random.default_rng(seed)
    draws = [metrics(rng.choice(half_a, half_a.size), rng.choice(half_b, half_b.size)) for _ in range(n_boot)]
    alpha = (1.0 - level) / 2.0
    lo = {m: float(np.nanquantile([d[m] for d in draws], alpha)) for m in METRICS}
    hi = {m: float(np.nanquantile([d[m] for d in draws], 1.0 - alpha)) for m in METRICS}
    return Floor(model, int(clean.shape[0]), {m: float(point[m]) for m in METRICS}, lo, hi, n_boot, level)


def pair_interval(
    base: tuple[str, str, np.ndarray, np.ndarray], target: tuple[str, str, np.ndarray, np.ndarray], *, k: int,
    tau: float, rule: str, n_boot: int, level: float, seed: int, **settings: Any,
) -> dict[str, tuple[float, float, float]]:
    """A pair's metrics (point, lo, hi) with a bootstrap over prompts. The zoo's models saw the very
    same prompts, so one resample of prompt indices is applied to both. `base`/`target` are
    (model, family, ablated, clean)."""
    n = base[3].shape[0]
    if target[3].shape[0] != n:
        raise ValueError(f"{base[0]} and {target[0]} were scored on different prompt counts ({n} vs {target[3].shape[0]})")

    def metrics(rows: np.ndarray) -> dict[str, float]:
        b = head_rows(base[0], base[1], base[2], base[3], rows, tau, rule)
        t = head_rows(target[0], target[1], target[2], target[3], rows, tau, rule)
        combined = pd.concat([b, t], ignore_index=True)
        heads = transfer.transfer_heads(combined, base[0], target[0], k=k, **settings)
        s = transfer.summarize_heads(heads)
        return {"mean_frac_rank": s["mean_frac_rank"], "frac_lost": s["frac_lost"], "top_k_overlap": top_k_overlap(b, t, k)}

    everything = np.arange(n)
    point = metrics(everything)
    rng = np.random.default_rng(seed)
    draws = [metrics(rng.choice(everything, n)) for _ in range(n_boot)]
    alpha = (1.0 - level) / 2.0
    return {
        m: (float(point[m]), float(np.nanquantile([d[m] for d in draws], alpha)), float(np.nanquantile([d[m] for d in draws], 1 - alpha)))
        for m in METRICS
    }

