"""Claims M1-M3 (issue 17): the seed's takeaways re-tested with heads matched by role, not index.

Pure functions of a claims `Context` whose source provides role tables (extras["roles"]: model ->
role table, harness.runs.roles). Numbers: claims/thresholds.toml [correspondence], [M1], [M2], [M3]
(committed before the first measurement). Transfer metrics: harness.analysis.role_transfer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.analysis import role_transfer, uncertainty
from harness.claims.check import Check, Context, pair_label


def _losses(ctx: Context, pair: tuple[str, str]) -> dict[str, Any] | None:
    roles = ctx.extras.get("roles") or {}
    models = set(ctx.table["model"]) if len(ctx.table) else set()
    if not all(m in roles and m in models for m in pair):
        return None
    return role_transfer.pair_losses(ctx.table, roles, *pair, ctx.cfg, ctx.memo)


def _heads_interval(ctx: Context, per_head: np.ndarray) -> tuple[float, float]:
    """95% bootstrap interval over the base's top-K heads (the pair's models and prompts fixed) of the
    mean of a per-head quantity (a loss flag, or a paired difference of two matchings' flags)."""
    u = ctx.cfg.uncertainty
    return uncertainty.mean_interval(per_head, n_boot=u.n_boot, level=u.level, seed=u.seed)


def m1(ctx: Context) -> list[Check]:
    """Cross-family pairs still lose most of the base's heads under role+depth."""
    bound = ctx.cfg.M1.min_lost_exclusive
    out = []
    for pair in ctx.design.cross:
        r = _losses(ctx, pair)
        if r is None:
            continue
        lost = r["role+depth"]
        holds = lost > bound
        lo, hi = _heads_interval(ctx, r["role+depth_per_head"])
        reading = "" if holds else "; the seed's takeaway 3 holds for indices only"
        out.append(Check("M1", ctx.source, pair_label(pair),
                         f"frac_lost role+depth = {lost:.2f} [{lo:.2f}, {hi:.2f}] (index {r['index']:.2f}){reading}", f"x > {bound:.2f}",
                         holds, lost, lo=lo, hi=hi, threshold=bound, side=">"))
    return out


def m2(ctx: Context) -> list[Check]:
    """role+depth loses fewer heads than the random depth-preserving null (one-sided p)."""
    limit = ctx.cfg.M2.max_p
    out = []
    for pair in ctx.design.pairs:
        r = _losses(ctx, pair)
        if r is None:
            continue
        null = r["null"]
        lo, hi = _heads_interval(ctx, r["role+depth_per_head"])
        p05 = float(np.quantile(null, 0.05))
        measured = (f"frac_lost role+depth = {r['role+depth']:.2f} [{lo:.2f}, {hi:.2f}], null median {np.median(null):.2f} "
                    f"(p05 {p05:.2f}, {len(null)} draws, sequential), p = {r['p_vs_null']:.4f}")
        # refuted: even the interval's best end (its fewest lost heads) is no lower than the null's 5th percentile
        out.append(Check("M2", ctx.source, pair_label(pair), measured, f"p < {limit:.2f}", r["p_vs_null"] < limit, r["p_vs_null"],
                         p_value=r["p_vs_null"], p_floor=r.get("p_floor"), refuted=bool(lo >= p05)))
    return out


def m3(ctx: Context) -> list[Check]:
    """Within the family, role+depth loses clearly fewer heads than index."""
    need = ctx.cfg.M3.min_diff
    out = []
    for pair in ctx.design.within:
        r = _losses(ctx, pair)
        if r is None:
            continue
        diff = r["index"] - r["role+depth"]
        lo, hi = _heads_interval(ctx, r["index_per_head"] - r["role+depth_per_head"])
        measured = f"frac_lost index {r['index']:.2f} - role+depth {r['role+depth']:.2f} = {diff:+.2f} [{lo:+.2f}, {hi:+.2f}]"
        out.append(Check("M3", ctx.source, pair_label(pair), measured, f"x >= {need:.2f}", diff >= need - 1e-12, diff,
                         lo=lo, hi=hi, threshold=need, side=">="))
    return out


def m_checks(ctx: Context) -> list[Check]:
    """All three, in order (for callers without the registry)."""
    return [*m1(ctx), *m2(ctx), *m3(ctx)]


def role_transfer_report(source_name: str):
    """(rows, results, source) of harness.analysis.role_transfer.transfer_table on a loaded source."""
    from harness.analysis import role_transfer
    from harness.claims import sources, thresholds

    src = sources.load(source_name)
    roles = src.extras.get("roles")
    if not roles:
        raise LookupError(f"source {source_name!r} has no role tables: {'; '.join(n for n in src.notes if 'role' in n)}")
    rows, results = role_transfer.transfer_table(src.table, roles, src.design.pairs, thresholds.load(), src.floors)
    return rows, results, src
