"""Transfer of a base model's top-K IOI heads under each correspondence (harness.analysis.correspondence).

The metrics are harness.analysis.transfer's, unchanged: each base head is looked up in the target at
the head a correspondence maps it to (instead of its own index), so `lost`, `tgt_frac_rank` and
mean_frac_rank / frac_lost mean exactly what they mean for the index look-up (an unmapped head is
missing, hence lost). Beside each pair: the random depth-preserving null (its frac_lost distribution),
the oracle (the target's own top K looked up in the target: the best any correspondence can do) and
both models' split-half floors (harness.analysis.noise_floor), when the source has them.

Pure pandas/numpy over a head table and role tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import pandas as pd

from harness.analysis import correspondence as corr
from harness.analysis import transfer
from harness.analysis import uncertainty
from harness.analysis.uncertainty import bootstrap_pair
from harness.data.head_table import with_categories
from harness.models import registry

ROW_COLUMNS = [
    "base_model", "tgt_model", "kind", "correspondence", "k", "mean_frac_rank", "mfr_lo", "mfr_hi",
    "frac_lost", "lost_lo", "lost_hi", "p_vs_null",
]


def geometry(model: str) -> tuple[int, int]:
    spec = registry.get(model)
    return spec.n_layers, spec.n_heads


def mapped_heads(
    table: pd.DataFrame, base: str, target: str, mapping: pd.DataFrame, settings: Any, *,
    base_rows: pd.DataFrame, ranks: pd.DataFrame,
) -> pd.DataFrame:
    """transfer_heads' per-head rows with each base head looked up at its mapped target head; the base
    head's own (layer, head) is kept, the target's is in tgt_layer / tgt_head."""
    placed = base_rows.reset_index(drop=True).copy()
    unmapped = mapping["tgt_layer"].isna().to_numpy()
    # an unmapped head gets a distinct index no target has (-1, -2, ...): not ranked, hence missing and lost
    placed["layer"] = np.where(unmapped, -1 - np.arange(len(placed)), mapping["tgt_layer"].fillna(-1).to_numpy(int))
    placed["head"] = np.where(unmapped, -1, mapping["tgt_head"].fillna(-1).to_numpy(int))
    heads = transfer.transfer_heads(table, base, target, **settings.transfer.kwargs(), ranks=ranks, base_rows=placed)
    heads = heads.assign(tgt_layer=mapping["tgt_layer"].to_numpy(), tgt_head=mapping["tgt_head"].to_numpy())
    heads["layer"] = mapping["layer"].to_numpy()
    heads["head"] = mapping["head"].to_numpy()
    return heads


def _lost_fast(mapping: pd.DataFrame, lookup: dict[tuple[int, int], float], weak_above: float) -> float:
    """frac_lost of a mapping from a (layer, head) -> tgt_frac_rank lookup (the null's many draws;
    equal to mapped_heads' frac_lost, tests/unit/test_role_transfer.py)."""
    lost = [
        not (pd.notna(l) and (int(l), int(h)) in lookup and lookup[(int(l), int(h))] <= weak_above)
        for l, h in zip(mapping["tgt_layer"], mapping["tgt_head"])
    ]
    return float(np.mean(lost))


@dataclass
class PairResult:
    rows: pd.DataFrame  # one row per correspondence (ROW_COLUMNS)
    heads: dict[str, pd.DataFrame]  # correspondence -> per-head rows
    null: np.ndarray  # frac_lost of each random draw
    oracle: dict[str, float]
    floors: dict[str, float]  # base/target split-half frac_lost point and upper quantile


def pair_transfer(
    table: pd.DataFrame, roles: dict[str, pd.DataFrame], base: str, target: str, cfg: Any,
    floors: dict[str, Any] | None = None,
) -> PairResult:
    """Every correspondence of MATCHINGS for one pair, with the null, the oracle and the floors.
    `table` is a combined head table, `roles` model -> role table, `cfg` the Thresholds."""
    t, c, u = cfg.transfer, cfg.correspondence, cfg.uncertainty
    table = with_categories(table, t.categories)
    base_rows = transfer.top_k_base(table, base, t.k)
    ranks = transfer.target_ranks(table, target, t.ties, over=t.missing)
    gb, gt = geometry(base), geometry(target)
    heads, rows = {}, []
    lookup = {(int(l), int(h)): float(r) for l, h, r in zip(ranks["layer"], ranks["head"], ranks["tgt_frac_rank"])}
    null = np.array([
        _lost_fast(m, lookup, t.weak_above) for m in corr.random_matchings(base_rows, gb, gt, c.n_random, seed=u.seed)
    ])
    for name in corr.MATCHINGS:
        if name in corr.NEEDS_ROLES and (base not in roles or target not in roles):
            continue
        mapping = corr.correspond(name, base_rows, roles.get(base), roles.get(target), gb, gt, cfg, seed=u.seed)
        h = mapped_heads(table, base, target, mapping, cfg, base_rows=base_rows, ranks=ranks)
        heads[name] = h
        boot = bootstrap_pair(h, n_boot=u.n_boot, level=u.level, seed=u.seed).set_index("metric")
        lost = float(h["lost"].mean())
        rows.append({
            "base_model": base, "tgt_model": target, "kind": registry.pair_kind(base, target), "correspondence": name,
            "k": len(h), "mean_frac_rank": boot.loc["mean_frac_rank", "estimate"],
            "mfr_lo": boot.loc["mean_frac_rank", "lo"], "mfr_hi": boot.loc["mean_frac_rank", "hi"],
            "frac_lost": lost, "lost_lo": boot.loc["frac_lost", "lo"], "lost_hi": boot.loc["frac_lost", "hi"],
            "p_vs_null": null_p(lost, null),
        })
    own = transfer.transfer_heads(table, target, target, **t.kwargs())
    oracle = {"mean_frac_rank": float(own["tgt_frac_rank"].mean()), "frac_lost": float(own["lost"].mean())}
    floor_values = {}
    for side, model in (("base", base), ("target", target)):
        f = (floors or {}).get(model)
        if f is not None:
            floor_values[f"{side}_floor_lost"] = float(f.point["frac_lost"])
            floor_values[f"{side}_floor_lost_hi"] = float(f.hi["frac_lost"])
    return PairResult(pd.DataFrame(rows, columns=ROW_COLUMNS), heads, null, oracle, floor_values)


def null_p(value: float, null: np.ndarray) -> float:
    """One-sided p of a frac_lost below the null: (1 + draws at or below it) / (1 + draws)."""
    return float((1 + np.sum(null <= value + 1e-12)) / (1 + len(null)))


def transfer_table(
    table: pd.DataFrame, roles: dict[str, pd.DataFrame], pairs: Iterable[tuple[str, str]], cfg: Any,
    floors: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, dict[tuple[str, str], PairResult]]:
    """One row per (pair, correspondence) with the pair's null (median, 5th / 95th percentile), oracle
    and floors as columns; and the PairResults."""
    results, frames = {}, []
    for base, target in pairs:
        if base not in set(table.get("model", [])) or target not in set(table.get("model", [])):
            continue
        r = pair_transfer(table, roles, base, target, cfg, floors)
        results[(base, target)] = r
        extra = {
            "null_median": float(np.median(r.null)), "null_p05": float(np.quantile(r.null, 0.05)),
            "null_p95": float(np.quantile(r.null, 0.95)),
            "oracle_mfr": r.oracle["mean_frac_rank"], "oracle_lost": r.oracle["frac_lost"], **r.floors,
        }
        frames.append(r.rows.assign(**extra))
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=ROW_COLUMNS)), results


def markdown(rows: pd.DataFrame) -> str:
    """The pairs x correspondences table for the report: frac_lost [interval] per correspondence,
    then the null's median and 5th percentile, the oracle and the floors."""
    if rows.empty:
        return "_no pair has role tables for both models_\n"
    lines = [
        "| pair | kind | index | depth | role | role+depth | null median (p05) | p(role+depth vs null) | oracle | floors base / target |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (base, target), group in rows.groupby(["base_model", "tgt_model"], sort=False):
        by = group.set_index("correspondence")
        def cell(name: str, by=by) -> str:
            if name not in by.index:
                return "n/a"
            return f"{by.loc[name, 'frac_lost']:.2f} [{by.loc[name, 'lost_lo']:.2f}, {by.loc[name, 'lost_hi']:.2f}]"

        first = group.iloc[0]
        p = f"{by.loc['role+depth', 'p_vs_null']:.3f}" if "role+depth" in by.index else "n/a"
        fl = " / ".join(f"{first[c]:.2f}" if c in group and pd.notna(first[c]) else "n/a" for c in ("base_floor_lost", "target_floor_lost"))
        lines.append(
            f"| {base} -> {target} | {first['kind']} | {cell('index')} | {cell('depth')} | {cell('role')} | {cell('role+depth')} "
            f"| {first['null_median']:.2f} ({first['null_p05']:.2f}) | {p} | {first['oracle_lost']:.2f} | {fl} |"
        )
    return "\n".join(lines) + "\n\nfrac_lost (share of the base's top-K heads missing or in the target's weaker half) [95% bootstrap over base heads]; null = random depth-preserving matchings; oracle = the target's own top K.\n"


def _flat(mapping: pd.DataFrame, n_heads: int) -> np.ndarray:
    """Flat target indices (layer * n_heads + head) of a mapping, -1 where unmapped."""
    layer = mapping["tgt_layer"].to_numpy(dtype="float64", na_value=np.nan)
    head = mapping["tgt_head"].to_numpy(dtype="float64", na_value=np.nan)
    flat = layer * n_heads + head
    return np.where(np.isnan(flat), -1, flat).astype(np.int64)


def _lost_flat(flat: np.ndarray, frac_rank: np.ndarray, weak_above: float) -> np.ndarray:
    """frac_lost of each row of `flat` ((..., K) target indices) given every target head's frac_rank
    (NaN = not ranked): lost = unmapped, unranked or frac_rank > weak_above (transfer.py's `lost`)."""
    padded = np.append(frac_rank, np.nan)  # index -1 -> NaN (unmapped)
    values = padded[np.where(flat < 0, len(frac_rank), flat)]
    kept = values <= weak_above  # NaN compares False: lost
    return 1.0 - kept.mean(axis=-1)


def pair_losses(
    table: pd.DataFrame, roles: dict[str, pd.DataFrame], base: str, target: str, cfg: Any, memo: dict | None = None,
    names: tuple[str, ...] = ("index", "role+depth"),
) -> dict[str, Any]:
    """What the claims M1-M3 read, without intervals: frac_lost under `names` and the null's draws
    (frac_lost of each random matching) with role+depth's one-sided p. `memo` keeps the mappings and
    null matchings across calls that share the base's top K (a robustness sweep); the null is scored
    vectorised (equal to mapped_heads' frac_lost, tests/unit/test_role_transfer.py)."""
    t, c, u = cfg.transfer, cfg.correspondence, cfg.uncertainty
    memo = {} if memo is None else memo
    # the result depends on these settings only (a robustness sweep's other choices leave it as is)
    whole = ("pair_losses", base, target, names, t.k, t.ties, t.missing, t.weak_above, t.categories, c, u.seed,
             getattr(cfg, "verdicts", None))
    if whole not in memo:
        memo[whole] = _pair_losses(table, roles, base, target, cfg, memo, names)
    return dict(memo[whole])


def _pair_losses(
    table: pd.DataFrame, roles: dict[str, pd.DataFrame], base: str, target: str, cfg: Any, memo: dict,
    names: tuple[str, ...],
) -> dict[str, Any]:
    t, c, u = cfg.transfer, cfg.correspondence, cfg.uncertainty
    base_key, ranks_key = ("rt_base", base, t.k, t.categories), ("rt_ranks", target, t.ties, t.missing)
    if base_key not in memo:
        memo[base_key] = transfer.top_k_base(with_categories(table, t.categories), base, t.k)
    if ranks_key not in memo:  # a target's ranking reads no category
        memo[ranks_key] = transfer.target_ranks(table, target, t.ties, over=t.missing)
    base_rows, ranks = memo[base_key], memo[ranks_key]
    gb, gt = geometry(base), geometry(target)
    frac_rank = np.full(gt[0] * gt[1], np.nan)
    inside = (ranks["layer"] >= 0) & (ranks["layer"] < gt[0]) & (ranks["head"] >= 0) & (ranks["head"] < gt[1])
    frac_rank[(ranks["layer"][inside] * gt[1] + ranks["head"][inside]).to_numpy(int)] = ranks["tgt_frac_rank"][inside].to_numpy(float)
    heads_key = tuple(zip(base_rows["layer"].astype(int), base_rows["head"].astype(int)))
    out: dict[str, Any] = {}
    for name in names:
        key = ("role_map", name, base, target, heads_key, c, u.seed)
        if key not in memo:
            mapping = corr.correspond(name, base_rows, roles.get(base), roles.get(target), gb, gt, cfg, seed=u.seed)
            memo[key] = _flat(mapping, gt[1])
        out[name] = float(_lost_flat(memo[key], frac_rank, t.weak_above))
        out[f"{name}_per_head"] = _lost_per_head(memo[key], frac_rank, t.weak_above)
    key = ("role_null_draws", base, target, heads_key, u.seed)
    drawn = memo.setdefault(key, [np.empty((0, len(heads_key)), dtype=np.int64)])

    def draw(start: int, n: int) -> np.ndarray:
        """frac_lost of null draws start .. start + n - 1 (draw i uses seed + i: batches never change them)."""
        have = drawn[0]
        if len(have) < start + n:
            more = corr.random_flat(base_rows, gb, gt, start + n - len(have), seed=u.seed + len(have))
            drawn[0] = have = np.concatenate([have, more])
        return _lost_flat(have[start:start + n], frac_rank, t.weak_above)

    rules = getattr(cfg, "verdicts", None)
    if "role+depth" in out and rules is not None:
        value = out["role+depth"]
        p, used, null = uncertainty.sequential_p(draw, lambda v: v <= value + 1e-12, h=rules.sequential_h,
                                                 max_draws=rules.sequential_max_draws)
        out.update(null=null, p_vs_null=p, null_draws=used, p_floor=1.0 / (rules.sequential_max_draws + 1))
        return out
    out["null"] = draw(0, c.n_random)
    if "role+depth" in out:
        out["p_vs_null"] = null_p(out["role+depth"], out["null"])
    return out


def _lost_per_head(flat: np.ndarray, frac_rank: np.ndarray, weak_above: float) -> np.ndarray:
    """1.0 for each base head the mapping loses, 0.0 for one it keeps (`_lost_flat` per head)."""
    padded = np.append(frac_rank, np.nan)
    values = padded[np.where(flat < 0, len(frac_rank), flat)]
    return 1.0 - (values <= weak_above).astype(float)
