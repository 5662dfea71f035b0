"""Uncertainty of transfer metrics: bootstrap intervals over base heads and a permutation test.

Both are seeded (numpy default_rng) so the same inputs give the same numbers.

Why these are hand-written rather than scipy.stats.permutation_test / scipy.stats.bootstrap (measured
on 2026-11-25, this machine, three within and three cross pairs of 20 heads, 10000 permutations, 2000
resamples): `compare_groups` takes 5.3 ms once its draws are cached (25.8 ms cold) against 47.4 ms for
`scipy.stats.permutation_test` (vectorized) on the same data; the robustness sweep runs 234 such
comparisons per source over only 27 distinct group-size signatures, and sharing the draws per
signature (`_group_draws`) is what keeps `pytest claims/` at seconds (about 1.2 s against 11 s). The
stratified bootstrap is the scheme `scipy.stats.bootstrap` gives with one sample per pair (measured
interval [-0.035, 0.176] against ours [-0.044, 0.179]: the same to the resampling noise), but it draws
from the same seeded generator as the permutation, so replacing it would change every recorded
interval in claims/verdicts.toml and the snapshots for no gain in the statistic.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np
import pandas as pd

from harness.analysis.transfer import summarize_heads
from harness.sizes import check_draws

DEFAULT_SEED = 0


def bootstrap_pair(
    heads: pd.DataFrame, n_boot: int = 2000, level: float = 0.95, seed: int = DEFAULT_SEED
) -> pd.DataFrame:
    """Percentile bootstrap intervals for every pair metric, resampling the pair's base heads.

    Returns one row per metric: estimate, lo, hi. A metric undefined in a resample (mean_frac_rank
    when no resampled head is present in the target) is left out of that metric's distribution.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    check_draws(n_boot, len(heads), 3 * 8, "a pair's bootstrap")  # indices and two gathered float arrays at once
    rng = np.random.default_rng(seed)
    estimate = summarize_heads(heads)
    idx = rng.integers(0, len(heads), (n_boot, len(heads)))
    frac_rank = heads["tgt_frac_rank"].to_numpy(float)[idx]
    present = np.isfinite(frac_rank)
    with np.errstate(invalid="ignore", divide="ignore"):
        mfr = np.where(present, frac_rank, 0.0).sum(axis=1) / present.sum(axis=1)
    draws = {
        "mean_frac_rank": mfr[np.isfinite(mfr)],  # undefined when no resampled head is present
        "mean_frac_rank_missing_as_one": heads["frac_rank_missing_as_one"].to_numpy(float)[idx].mean(axis=1),
        "frac_missing_table": heads["missing_table"].to_numpy(float)[idx].mean(axis=1),
        "frac_missing_geometry": heads["missing_geometry"].to_numpy(float)[idx].mean(axis=1),
        "frac_lost": heads["lost"].to_numpy(float)[idx].mean(axis=1),
    }
    alpha = (1 - level) / 2
    rows = []
    for metric, values in draws.items():
        lo, hi = np.quantile(values, [alpha, 1 - alpha]) if values.size else (np.nan, np.nan)
        rows.append({"metric": metric, "estimate": estimate[metric], "lo": float(lo), "hi": float(hi)})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class GroupComparison:
    """cross - within for one per-head quantity, with a bootstrap interval and a permutation p-value."""

    quantity: str
    within_mean: float
    cross_mean: float
    diff: float  # cross_mean - within_mean
    lo: float
    hi: float
    p_value: float  # one-sided: P(diff >= observed) when group labels are exchangeable
    n_within: int
    n_cross: int


@lru_cache(maxsize=16)
def _group_draws(
    seed: int, n_boot: int, n_perm: int, cross_sizes: tuple[int, ...], within_sizes: tuple[int, ...]
) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...], np.ndarray]:
    """compare_groups' random draws, in its order from one seeded generator: the bootstrap indices of
    each non-empty cross pair, then of each within pair, then the permutation order of the pooled heads
    (within first). They depend on the group sizes only, so a robustness sweep, which compares many
    quantities over groups of the same sizes, draws (and argsorts) them once per size signature."""
    check_draws(n_boot, sum(cross_sizes) + sum(within_sizes), 8, "a group comparison's bootstrap")
    check_draws(n_perm, sum(cross_sizes) + sum(within_sizes), 2 * 8, "a group comparison's permutations")  # uniforms, argsort
    rng = np.random.default_rng(seed)
    boot_cross = tuple(rng.integers(0, n, (n_boot, n)) for n in cross_sizes)
    boot_within = tuple(rng.integers(0, n, (n_boot, n)) for n in within_sizes)
    order = np.argsort(rng.random((n_perm, sum(within_sizes) + sum(cross_sizes))), axis=1)
    order = order.astype(np.int16 if order.shape[1] < 2**15 else np.int32)  # same indices, a quarter of the memory
    for array in (*boot_cross, *boot_within, order):
        array.setflags(write=False)
    return boot_cross, boot_within, order


def compare_groups(
    within: Sequence[np.ndarray],
    cross: Sequence[np.ndarray],
    quantity: str,
    n_boot: int = 2000,
    n_perm: int = 10000,
    level: float = 0.95,
    seed: int = DEFAULT_SEED,
) -> GroupComparison:
    """Is a per-head quantity larger across families than within?

    `within` and `cross` hold one array per pair (NaN entries, e.g. the rank of a missing head, are
    dropped). The statistic is the difference of the pooled head means. The interval resamples heads
    within each pair (stratified bootstrap); the p-value permutes heads between the two groups. Heads
    of pairs sharing a base model are not independent, so read p as descriptive, not exact.
    """
    w = [np.asarray(a, float)[np.isfinite(a)] for a in within]
    c = [np.asarray(a, float)[np.isfinite(a)] for a in cross]
    w_all, c_all = np.concatenate(w), np.concatenate(c)
    if w_all.size == 0 or c_all.size == 0:
        raise ValueError(f"{quantity}: a group has no finite values (within {w_all.size}, cross {c_all.size})")
    observed = float(c_all.mean() - w_all.mean())
    boot_c, boot_w, order = _group_draws(seed, n_boot, n_perm, tuple(g.size for g in c if g.size), tuple(g.size for g in w if g.size))

    def resampled_means(groups: list[np.ndarray], indices: tuple[np.ndarray, ...]) -> np.ndarray:
        """Pooled mean of each of n_boot stratified resamples (heads drawn within their pair)."""
        total = np.zeros(n_boot)
        for g, idx in zip((g for g in groups if g.size), indices):
            total += g[idx].sum(axis=1)
        return total / sum(g.size for g in groups)

    boots = resampled_means(c, boot_c) - resampled_means(w, boot_w)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boots, [alpha, 1 - alpha])

    pooled = np.concatenate([w_all, c_all])
    n_w = w_all.size
    perms = pooled[order]
    diffs = perms[:, n_w:].mean(axis=1) - perms[:, :n_w].mean(axis=1)
    p_value = (int((diffs >= observed - 1e-12).sum()) + 1) / (n_perm + 1)
    return GroupComparison(
        quantity=quantity,
        within_mean=float(w_all.mean()),
        cross_mean=float(c_all.mean()),
        diff=observed,
        lo=float(lo),
        hi=float(hi),
        p_value=float(p_value),
        n_within=int(w_all.size),
        n_cross=int(c_all.size),
    )



def pair_intervals(
    heads_by_pair: dict[tuple[str, str], pd.DataFrame], n_boot: int, level: float, seed: int
) -> pd.DataFrame:
    """Bootstrap intervals of every pair metric, one row per pair (columns <metric>_lo / _hi, with
    mean_frac_rank shortened to mfr), from per-head transfer rows keyed by (base, target)."""
    rows = []
    short = {"mean_frac_rank": "mfr"}
    for (base, target), heads in heads_by_pair.items():
        row = {"base_model": base, "tgt_model": target}
        for r in bootstrap_pair(heads, n_boot=n_boot, level=level, seed=seed).itertuples():
            name = short.get(r.metric, r.metric)
            row[f"{name}_lo"], row[f"{name}_hi"] = r.lo, r.hi
        rows.append(row)
    return pd.DataFrame(rows)


def sequential_p(
    draw, at_least_as_extreme, *, h: int, max_draws: int, batch: int = 256,
) -> tuple[float, int, np.ndarray]:
    """Sequential Monte Carlo p-value (Besag and Clifford 1991): draw null statistics in batches until
    `h` of them are at least as extreme as the observed one (p = h / draws so far), or until
    `max_draws` (p = (1 + exceedances) / (1 + max_draws), the smallest reachable being
    1 / (1 + max_draws)). Draws are spent where the decision is close: a statistic deep inside the
    null stops after about h / p draws.

    `draw(start, n)` returns the null statistics of draws start .. start + n - 1 (deterministic in
    their indices, so the batch size never changes a result); `at_least_as_extreme(values)` is the
    boolean mask of those as extreme as the observed statistic. Returns (p, draws used, the draws)."""
    if h < 1 or max_draws < 1:
        raise ValueError(f"h and max_draws must be >= 1 (got {h}, {max_draws})")
    parts, count, used = [], 0, 0
    while used < max_draws:
        n = min(batch, max_draws - used)
        values = np.asarray(draw(used, n), float)
        running = count + np.cumsum(at_least_as_extreme(values))
        hit = np.flatnonzero(running >= h)
        if hit.size:
            stop = int(hit[0]) + 1
            parts.append(values[:stop])
            used += stop
            return h / used, used, np.concatenate(parts)
        count = int(running[-1]) if running.size else count
        parts.append(values)
        used += n
    return (count + 1) / (max_draws + 1), used, np.concatenate(parts)


def mean_interval(values: np.ndarray, *, n_boot: int, level: float, seed: int) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (one per unit: a base head, a prompt);
    for a paired difference, pass the per-unit differences."""
    x = np.asarray(values, float)
    check_draws(n_boot, len(x), 2 * 8, "a mean's bootstrap")
    idx = np.random.default_rng(seed).integers(0, len(x), (n_boot, len(x)))
    lo, hi = np.quantile(x[idx].mean(axis=1), [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)
