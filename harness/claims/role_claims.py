"""Claims M1-M3 (issue 17): the seed's takeaways re-tested with heads matched by role, not index.

Pure functions of a claims `Context` whose source provides role tables (extras["roles"]: model ->
role table, harness.runs.roles). Numbers: claims/thresholds.toml [correspondence], [M1], [M2], [M3]
(committed before the first measurement). Transfer metrics: harness.analysis.role_transfer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.analysis import role_transfer
from harness.claims.check import Check, Context, pair_label


def _losses(ctx: Context, pair: tuple[str, str]) -> dict[str, Any] | None:
    roles = ctx.extras.get("roles") or {}
    models = set(ctx.table["model"]) if len(ctx.table) else set()
    if not all(m in roles and m in models for m in pair):
        return None
    return role_transfer.pair_losses(ctx.table, roles, *pair, ctx.cfg, ctx.memo)


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
        reading = "" if holds else "; the seed's takeaway 3 holds for indices only"
        out.append(Check("M1", ctx.source, pair_label(pair),
                         f"frac_lost role+depth = {lost:.2f} (index {r['index']:.2f}){reading}", f"x > {bound:.2f}", holds, lost))
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
        measured = (f"frac_lost role+depth = {r['role+depth']:.2f}, null median {np.median(null):.2f} "
                    f"(p05 {np.quantile(null, 0.05):.2f}, {len(null)} draws), p = {r['p_vs_null']:.3f}")
        out.append(Check("M2", ctx.source, pair_label(pair), measured, f"p < {limit:.2f}", r["p_vs_null"] < limit, r["p_vs_null"]))
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
        measured = f"frac_lost index {r['index']:.2f} - role+depth {r['role+depth']:.2f} = {diff:+.2f}"
        out.append(Check("M3", ctx.source, pair_label(pair), measured, f"x >= {need:.2f}", diff >= need - 1e-12, diff))
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
