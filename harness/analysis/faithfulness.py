"""Faithfulness of head sets, as pure functions over the per-set logit differences.

Definitions (MIB, Mueller et al. 2025, with m = the mean logit difference over prompts):

    f(C) = (m(C) - m(empty)) / (m(full) - m(empty))

where m(C) is measured with every head outside C ablated, m(empty) with all heads ablated and
m(full) on the clean model. Necessity of C = (m(full) - m(not C)) / (m(full) - m(empty)): the share
of the full effect lost when C alone is ablated.

CPR and CMD, adapted to HEADS (MIB defines them over the edges of a circuit graph; here the unit is
a head and the circuit of size k is the top-k heads of a ranking). Over the curve of points
(x = k / n_heads, f(top-k)), closed by (0, 0) (C = empty: f = 0) and (1, 1) (C = all: f = 1),
integrated by the trapezoid rule:

    CPR = area under f            for the ranking by signed delta (most negative first: the heads
                                  whose ablation lowers the logit difference most); higher is better;
    CMD = area under |1 - f|      for the ranking by |delta|; lower is better (0 = f = 1 throughout).

With k in {1, 2, 5, 10, 20, 40, all} the last segment (k = 40 to all heads) spans most of x, so both
areas weigh f(top-40) heavily; they compare models and methods on one grid, not MIB's numbers.

Random-set null (Shi et al. 2024): f of N seeded random k-sets; the top-k set's percentile (share
of random sets with a lower f) and one-sided p-value (1 + #{f_random >= f_top}) / (N + 1);
optionally stratified by layer (random sets with the top set's layer histogram).

Causal transfer: efficiency = (f(mapped) - mean f(random)) / (f(own) - mean f(random)) in the target.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from harness.sizes import check_draws
from harness.data.head_sets import Head, heads_text, parse_heads  # noqa: F401 (re-exported)

RANKINGS = ("abs", "signed")  # top-k by |delta| (CMD's) and by signed delta, most negative first (CPR's)
ALL = "all"


# ---------------------------------------------------------------------------------------------
# Head sets


def ranked_heads(table: pd.DataFrame, ranking: str) -> list[Head]:
    """All heads of one model's table (layer, head, delta_ioi or delta), strongest first: by |delta|
    descending ("abs") or by delta ascending ("signed": the heads that help the task most first).
    Ties keep (layer, head) order, so the ranking never depends on row order."""
    if ranking not in RANKINGS:
        raise ValueError(f"ranking must be one of {RANKINGS}, got {ranking!r}")
    column = "delta_ioi" if "delta_ioi" in table else "delta"
    frame = table.sort_values(["layer", "head"], kind="stable")
    key = frame[column].abs() if ranking == "abs" else -frame[column]
    frame = frame.iloc[np.argsort(-key.to_numpy(float), kind="stable")]
    return list(zip(frame["layer"].astype(int), frame["head"].astype(int)))


def k_values(grid: Sequence[int], n_heads: int) -> list[int]:
    """The grid's k below the model's head count, then n_heads itself ("all")."""
    return sorted({int(k) for k in grid if 0 < int(k) < n_heads}) + [n_heads]


def random_sets(
    n_layers: int, n_heads: int, k: int, n: int, seed: int, *, strata: Sequence[int] | None = None
) -> list[list[Head]]:
    """`n` seeded random k-sets of heads. `strata`: a layer histogram (count per layer, summing to
    k) the sets must share (layer-stratified null); default uniform over all heads. The draws for
    one (seed, k) are the same whatever else is drawn."""
    rng = np.random.default_rng([seed, k, 0 if strata is None else 1])
    sets = []
    for _ in range(n):
        if strata is None:
            flat = rng.choice(n_layers * n_heads, size=k, replace=False)
            sets.append(sorted((int(i) // n_heads, int(i) % n_heads) for i in flat))
        else:
            chosen = []
            for layer, count in enumerate(strata):
                chosen += [(layer, int(h)) for h in rng.choice(n_heads, size=int(count), replace=False)]
            sets.append(sorted(chosen))
    return sets


def layer_histogram(heads: Sequence[Head], n_layers: int) -> list[int]:
    counts = [0] * n_layers
    for layer, _ in heads:
        counts[layer] += 1
    return counts


# ---------------------------------------------------------------------------------------------
# Scores from logit differences


def faithfulness(m: float | np.ndarray, m_full: float, m_empty: float) -> float | np.ndarray:
    """f = (m - m(empty)) / (m(full) - m(empty)); NaN when the clean and all-ablated models agree."""
    span = m_full - m_empty
    if span == 0:
        return np.full_like(np.asarray(m, dtype=float), np.nan) if np.ndim(m) else float("nan")
    return (np.asarray(m, dtype=float) - m_empty) / span if np.ndim(m) else (float(m) - m_empty) / span


def f_interval(
    ld_set: np.ndarray, ld_full: np.ndarray, ld_empty: np.ndarray, *, n_boot: int, level: float, seed: int
) -> tuple[float, float]:
    """Bootstrap interval of f over prompts: the prompts are resampled jointly for the set, the clean
    and the all-ablated model (each array holds one value per prompt, same order)."""
    n = len(ld_set)
    check_draws(n_boot, n, 2 * 8, "f's bootstrap over prompts")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    c, full, empty = ld_set[idx].mean(1), ld_full[idx].mean(1), ld_empty[idx].mean(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (c - empty) / (full - empty)
    lo, hi = np.nanquantile(f, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def null_position(f_top: float, f_random: Sequence[float]) -> tuple[float, float]:
    """(percentile, p): the share of random sets with f below the top set's (0..100), and the
    one-sided p-value (1 + #{f_random >= f_top}) / (N + 1) (the top set counted among the draws)."""
    draws = np.asarray(f_random, dtype=float)
    draws = draws[np.isfinite(draws)]
    if not len(draws) or not np.isfinite(f_top):
        return float("nan"), float("nan")
    return float(100.0 * np.mean(draws < f_top)), float((1 + np.sum(draws >= f_top)) / (len(draws) + 1))


def area(ks: Sequence[int], values: Sequence[float], n_heads: int) -> float:
    """Trapezoid area over x = k / n_heads in [0, 1] of `values` at `ks`, the curve closed by
    (0, 0) and (1, 1) unless given."""
    points = dict(zip((int(k) for k in ks), (float(v) for v in values)))
    points.setdefault(0, 0.0)
    points.setdefault(n_heads, 1.0)
    xs = np.array(sorted(points)) / n_heads
    ys = np.array([points[k] for k in sorted(points)])
    return float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1]) / 2))


def cpr(ks: Sequence[int], f_signed: Sequence[float], n_heads: int) -> float:
    """Area under f of the signed ranking's top-k sets (higher = more faithful)."""
    return area(ks, f_signed, n_heads)


def cmd(ks: Sequence[int], f_abs: Sequence[float], n_heads: int) -> float:
    """Area under |1 - f| of the |delta| ranking's top-k sets (lower = more faithful)."""
    points = dict(zip((int(k) for k in ks), (abs(1.0 - float(v)) for v in f_abs)))
    points.setdefault(0, 1.0)
    points.setdefault(n_heads, 0.0)
    return area(list(points), list(points.values()), n_heads)


def transfer_efficiency(f_mapped: float, f_own: float, f_random_mean: float) -> float:
    """(f(mapped) - mean f(random)) / (f(own) - mean f(random)): 1 = the mapped set does what the
    target's own top set does, 0 = what random sets do; NaN when the target's own top set does no
    better than the random mean (the scale has no meaning then)."""
    span = f_own - f_random_mean
    return float("nan") if not np.isfinite(span) or span <= 0 else float((f_mapped - f_random_mean) / span)


# ---------------------------------------------------------------------------------------------
# Frames: one results table (one row per measured set) -> curves and summaries

RESULT_COLUMNS = ("model", "method", "kind", "ranking", "k", "draw", "label", "heads", "m")
# kind: "full" | "empty" | "top" (C alone kept) | "necessity" (C alone ablated) | "random" |
# "random_layer" (layer-stratified, label = the ranking it matches) | "mapped" (label = "<base>|<correspondence>")


def with_f(results: pd.DataFrame) -> pd.DataFrame:
    """`results` of one or more (model, method) with f (from that model's full and empty rows)."""
    parts = []
    for _, group in results.groupby(["model", "method"], sort=False):
        m_full = float(group.loc[group["kind"] == "full", "m"].iloc[0])
        m_empty = float(group.loc[group["kind"] == "empty", "m"].iloc[0])
        parts.append(group.assign(f=faithfulness(group["m"].to_numpy(float), m_full, m_empty)))
    return pd.concat(parts) if parts else results.assign(f=pd.Series(dtype=float))


def _summary(f: np.ndarray) -> dict[str, float]:
    if not len(f):
        return {"null_mean": float("nan"), "null_p95": float("nan"), "null_n": 0}
    return {"null_mean": float(f.mean()), "null_p95": float(np.percentile(f, 95)), "null_n": int(len(f))}


def curve_frame(results: pd.DataFrame, per_prompt: np.ndarray | None = None, *, n_boot: int = 0,
                level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """One row per (ranking, k) of one model and method: f of the top-k set, its necessity, the
    random null's mean and 95th percentile at that k, the set's percentile and p-value; with
    `per_prompt` (per-prompt logit differences aligned with `results`' rows) and n_boot > 0, also
    f_lo / f_hi, a bootstrap interval of f over prompts."""
    results = (results if "f" in results else with_f(results)).reset_index(drop=True)
    ld = None
    if per_prompt is not None and n_boot > 0 and len(per_prompt) == len(results) and np.isfinite(per_prompt).all():
        ld = per_prompt
        full_ld = ld[results.index[results["kind"] == "full"][0]]
        empty_ld = ld[results.index[results["kind"] == "empty"][0]]
    n_heads = int(results.loc[results["kind"] == "full", "k"].iloc[0])
    f_all = results["f"].to_numpy(float)
    positions = results.groupby(["kind", "k"], sort=False).indices  # (kind, k) -> row positions
    ranking_of, label_of = results["ranking"].to_numpy(object), results["label"].to_numpy(object)

    def f_of(kind: str, k: int, column: np.ndarray | None = None, value: str | None = None) -> np.ndarray:
        rows = positions.get((kind, k), np.empty(0, dtype=int))
        return f_all[rows if column is None else rows[column[rows] == value]]

    rows = []
    for ranking in RANKINGS:
        tops = results[(results["kind"] == "top") & (results["ranking"] == ranking)].sort_values("k")
        for _, top in tops.iterrows():
            k = int(top["k"])
            nec = f_of("necessity", k, ranking_of, ranking)
            draws = f_of("random", k)
            null = _summary(draws) if k < n_heads else {"null_mean": 1.0, "null_p95": 1.0, "null_n": 0}
            percentile, p = null_position(float(top["f"]), draws) if k < n_heads else (float("nan"), float("nan"))
            row = {
                "model": top["model"], "method": top["method"], "ranking": ranking, "k": k,
                "f": float(top["f"]),
                "necessity": float(1.0 - nec[0]) if len(nec) else float("nan"),
                **null, "percentile": percentile, "p_value": p,
            }
            if ld is not None:
                row["f_lo"], row["f_hi"] = f_interval(ld[top.name], full_ld, empty_ld, n_boot=n_boot, level=level, seed=seed)
            strat = f_of("random_layer", k, label_of, ranking)
            if len(strat):
                s = _summary(strat)
                row.update(layer_null_mean=s["null_mean"], layer_null_p95=s["null_p95"],
                           layer_p_value=null_position(float(top["f"]), strat)[1])
            rows.append(row)
    return pd.DataFrame(rows)


def areas(curve: pd.DataFrame, n_heads: int) -> dict[str, float]:
    """CPR (signed ranking) and CMD (|delta| ranking) of one model and method's curve."""
    signed = curve[curve["ranking"] == "signed"]
    absolute = curve[curve["ranking"] == "abs"]
    return {
        "cpr": cpr(signed["k"], signed["f"], n_heads),
        "cmd": cmd(absolute["k"], absolute["f"], n_heads),
    }


def stale_models(results: pd.DataFrame, table: pd.DataFrame) -> dict[str, str]:
    """Models whose stored top-k sets are not the top-k of `table` (the source's head table, all its
    models): their results were ranked on another table (a rescan, more prompts) and say nothing about
    this one's heads. model -> one line naming the first set that differs."""
    stale = {}
    if not len(results) or not len(table):
        return stale
    tops = results[results["kind"] == "top"]
    for model, rows in tops.groupby("model", sort=False):
        own = table[table["model"] == model]
        if not len(own):
            continue
        ranked = {ranking: ranked_heads(own, ranking) for ranking in RANKINGS}
        differ = [(r["ranking"], int(r["k"])) for _, r in rows.iterrows()
                  if r["ranking"] in ranked and r["heads"] != heads_text(ranked[r["ranking"]][: int(r["k"])])]
        if differ:
            ranking, k = differ[0]
            stale[str(model)] = (f"its stored faithfulness sets were ranked on another head table ({len(differ)} of "
                                 f"{len(rows)} top-k sets differ from this table's, e.g. top-{k} by {ranking})")
    return stale


# ---------------------------------------------------------------------------------------------
# The plan: which sets one model's measurement computes


def plan_sets(
    table: pd.DataFrame,
    n_layers: int,
    n_heads: int,
    *,
    k_grid: Sequence[int],
    k_claim: int | Sequence[int],
    n_random: int | Mapping[int, int],
    n_random_curve: int,
    seed: int,
    stratify: bool = False,
    mapped: Sequence[tuple[str, Sequence[Head]]] = (),
) -> pd.DataFrame:
    """The sets to measure for one model (rows in RESULT_COLUMNS but model, method, m): the clean
    and all-ablated models, the top-k sets of both rankings of `table` (one model's head table) and
    their necessity, `n_random` random k-sets at each k of `k_claim` (the claims' K and the size-aware K;
    a mapping k -> n gives each its own count) and `n_random_curve` at every other k of the grid
    (layer-stratified ones too with `stratify`), and each (label, heads) of `mapped`."""
    total = n_layers * n_heads
    everyone = [(layer, head) for layer in range(n_layers) for head in range(n_heads)]
    rows = [
        {"kind": "full", "ranking": "", "k": total, "draw": 0, "label": "", "heads": heads_text(everyone)},
        {"kind": "empty", "ranking": "", "k": 0, "draw": 0, "label": "", "heads": ""},
    ]
    claim_ks = {int(k_claim)} if isinstance(k_claim, int) else {int(k) for k in k_claim}
    draws_at = {k: int(n_random[k]) if isinstance(n_random, Mapping) else int(n_random) for k in claim_ks}
    ks = [k for k in k_values([*k_grid, *claim_ks], total) if k < total]
    ranked = {ranking: ranked_heads(table, ranking) for ranking in RANKINGS}
    for ranking in RANKINGS:
        for k in ks:
            text = heads_text(ranked[ranking][:k])
            for kind in ("top", "necessity"):
                rows.append({"kind": kind, "ranking": ranking, "k": k, "draw": 0, "label": "", "heads": text})
    for k in ks:
        n = draws_at.get(k, n_random_curve)
        for draw, heads in enumerate(random_sets(n_layers, n_heads, k, n, seed)):
            rows.append({"kind": "random", "ranking": "", "k": k, "draw": draw, "label": "", "heads": heads_text(heads)})
        if stratify:
            for ranking in RANKINGS:
                strata = layer_histogram(ranked[ranking][:k], n_layers)
                for draw, heads in enumerate(random_sets(n_layers, n_heads, k, n, seed, strata=strata)):
                    rows.append({"kind": "random_layer", "ranking": "", "k": k, "draw": draw, "label": ranking,
                                 "heads": heads_text(heads)})
    for label, heads in mapped:
        rows.append({"kind": "mapped", "ranking": "", "k": len(set(heads)), "draw": 0, "label": label, "heads": heads_text(heads)})
    return pd.DataFrame(rows, columns=[c for c in RESULT_COLUMNS if c not in ("model", "method", "m")])
