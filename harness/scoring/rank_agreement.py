"""The rank statistic that compares two scans of one model: Spearman correlation of the deltas and
how many of the top-k heads by |delta| they share. Pure pandas/scipy; no torch."""

from __future__ import annotations

from typing import Any

TOP_K_AGREEMENT = 20


def agreement(exact: Any, approx: Any, k: int = TOP_K_AGREEMENT) -> dict[str, float]:
    """How well `approx` ranks the heads of `exact` (two ScanResults, or anything with a `table` of
    layer, head, delta): Spearman correlation of delta over the heads both scanned, and how many of
    the top-k heads by |delta| the two share."""
    from scipy.stats import spearmanr

    merged = exact.table.merge(approx.table, on=["layer", "head"], suffixes=("_exact", "_approx"))
    rho = spearmanr(merged["delta_exact"], merged["delta_approx"]).statistic
    k = min(k, len(merged))

    def top(column: str) -> set[tuple[int, int]]:
        ranked = merged.reindex(merged[column].abs().sort_values(ascending=False, kind="stable").index)
        return set(zip(ranked["layer"].head(k), ranked["head"].head(k)))

    return {
        "spearman": float(rho),
        "top_k": k,
        "top_k_overlap": len(top("delta_exact") & top("delta_approx")),
        "n_heads": len(merged),
    }
