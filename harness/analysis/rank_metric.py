"""mean_frac_rank on a scale that is comparable across targets of different size.

The code's definition (harness.analysis.transfer): a target ranks its n heads by |delta_ioi|, rank r = 0 for
the strongest, frac_rank = (r + 1) / n; mean_frac_rank averages frac_rank over the m base heads that
are present in the target. Hence, exactly:

- best attainable: the m heads hold ranks 0..m-1, so the mean is sum_{r<m} (r+1)/n / m = (m+1)/(2n);
- random ranking: each head's rank is uniform over 0..n-1, so E[frac_rank] = (n+1)/(2n) (about 0.5;
  average ranks of tied blocks keep that mean).

normalised = (mfr - best) / (random - best): 0 = the base heads are the target's strongest, 1 = where
a random ranking puts them on average, above 1 = weaker than chance. The raw value of a perfect
transfer is 0.22 for pythia-70m's 48 heads but 0.03 for a 336-head model; the normalised one is 0 for
both. The map is linear per pair, so applying it head by head and averaging gives the pair's
normalised mean (what the pooled within/cross comparison of X3 needs).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

RANK_METRICS = ("raw", "normalised")


def best_mean_frac_rank(m: int, n: int) -> float:
    """The smallest mean_frac_rank m present heads can have among n ranked heads: (m+1)/(2n)."""
    if n < 1 or not 0 <= m <= n:
        raise ValueError(f"need 0 <= m <= n and n >= 1, got m={m}, n={n}")
    return (m + 1) / (2 * n)


def random_mean_frac_rank(n: int) -> float:
    """Expected mean_frac_rank of heads placed at random among n ranked heads: (n+1)/(2n)."""
    if n < 1:
        raise ValueError(f"need n >= 1, got n={n}")
    return (n + 1) / (2 * n)


def normalise(frac_rank, m: int, n: int):
    """(x - best) / (random - best) for frac ranks (scalar or array) of m present heads among n."""
    best, chance = best_mean_frac_rank(m, n), random_mean_frac_rank(n)
    if chance <= best:  # m == n: every ranked head is a base head, nothing to compare with chance
        raise ValueError(f"normalised rank undefined when all n={n} ranked heads are base heads (m={m})")
    return (np.asarray(frac_rank, dtype=float) - best) / (chance - best)


def normalised_heads(heads: pd.DataFrame) -> pd.DataFrame:
    """Per-head transfer rows with the two rank columns (tgt_frac_rank, frac_rank_missing_as_one)
    mapped to the normalised scale, using the pair's m = present heads and n = attrs["n_target"]."""
    if "n_target" not in heads.attrs:
        raise ValueError("per-head rows carry no attrs['n_target']; build them with transfer.transfer_heads")
    n, m = int(heads.attrs["n_target"]), int(heads["tgt_frac_rank"].notna().sum())
    out = heads.copy()
    for column in ("tgt_frac_rank", "frac_rank_missing_as_one"):
        out[column] = normalise(heads[column].to_numpy(float), m, n)
    return out
