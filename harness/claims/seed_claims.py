"""The seed's claims (P1..P6, W1, W2, X1..X3, T1..T3) and the noise-floor claim F1, as evaluate
functions over a `Context`. Each returns the `Check`s of the variants it computed; which claims exist,
their statements and the design pieces they need are declared once, in harness.claims.registry.
"""

from __future__ import annotations

from harness.analysis import rank_metric, transfer, uncertainty
from harness.analysis.weights_floor import weigh
from harness.claims.check import Check, Context, pair_label

# (base, target, seed mean_frac_rank, quantifier word, quantity it qualifies) -- from the seed text.
PAIR_CLAIMS: dict[str, tuple[str, str, float, str, str]] = {
    "P1": ("pythia-70m", "pythia-160m", 0.50, "moderate", "missing"),
    "P2": ("pythia-160m", "pythia-410m", 0.44, "substantial", "missing"),
    "P3": ("pythia-410m", "pythia-1b", 0.76, "many", "lost"),
    "P4": ("pythia-160m", "gpt-neo-125M", 0.54, "many", "missing"),
    "P5": ("pythia-160m", "opt-125m", 0.70, "most", "missing"),
    "P6": ("pythia-410m", "gpt2-medium", 0.57, "most", "missing"),
}

# The two readings of "does not exist in the target" a claim checks (harness.analysis.transfer).
MISSING_READINGS = tuple(f"missing_{reading}" for reading in transfer.MISSING_READINGS)
W2_VARIANTS = (*MISSING_READINGS, "lost")
X3_VARIANTS = ("mean_frac_rank", "mean_frac_rank_missing_as_one")


def pair_variants(claim: str) -> tuple[str, ...]:
    quantity = PAIR_CLAIMS[claim][4]
    return ("mfr", "mfr_tie_range") + (MISSING_READINGS if quantity == "missing" else ("lost",))


def pair_check(claim: str):
    """The evaluate function of one seed pair claim P1..P6."""

    def evaluate(ctx: Context) -> list[Check]:
        base, target, seed_mfr, word, quantity = PAIR_CLAIMS[claim]
        pair, cfg, source = (base, target), ctx.cfg, ctx.source
        m = transfer.summarize_heads(ctx.heads[pair])
        tol = cfg.approx.tolerance
        lo = transfer.summarize_heads(ctx.heads_by_ties["min"][pair])["mean_frac_rank"]
        hi = transfer.summarize_heads(ctx.heads_by_ties["max"][pair])["mean_frac_rank"]
        checks = [
            Check(claim, source, "mfr", f"mean_frac_rank = {m['mean_frac_rank']:.3f} (ties: {cfg.transfer.ties})",
                  f"|x - {seed_mfr:.2f}| <= {tol:.2f}", abs(m["mean_frac_rank"] - seed_mfr) <= tol, m["mean_frac_rank"]),
            # Is the seed's number attainable by SOME order of the tied heads (the origin's was arbitrary)?
            # The seed rounds to two decimals, hence the 0.005 margin.
            Check(claim, source, "mfr_tie_range", f"mean_frac_rank over tie orders in [{lo:.3f}, {hi:.3f}]",
                  f"{seed_mfr:.2f} within the range (+/- 0.005 rounding)", lo - 0.005 <= seed_mfr <= hi + 0.005, seed_mfr),
        ]
        for reading in pair_variants(claim)[2:]:
            column = "frac_lost" if reading == "lost" else f"frac_{reading}"
            value = m[column]
            checks.append(
                Check(claim, source, reading, f"{column} = {value:.2f}", f"{word}: {cfg.quantifier(word).text()}",
                      cfg.quantifier(word).holds(value), value)
            )
        return checks

    return evaluate


PAIR_INTERVALS = "pair_intervals"  # the source extra of harness.claims.sources (zoo and controls sources)


def interval_settings(cfg) -> dict:
    """What a pair interval depends on beyond its arrays: the transfer settings and the categories."""
    return {**cfg.transfer.kwargs(), "categories": cfg.transfer.categories}


def lost_interval(ctx: Context, pair: tuple[str, str], lost: float) -> tuple[float, float] | None:
    """The pair's frac_lost interval over prompts from the source (harness.claims.sources._pair_intervals),
    when it was computed under this context's transfer settings and its point is this `lost`; else None
    (the published tables, a robustness universe with other settings: the point rule decides)."""
    held = ctx.extras.get(PAIR_INTERVALS)
    if not held or held["settings"] != interval_settings(ctx.cfg):
        return None
    interval = held["intervals"].get(tuple(pair))
    if interval is None or abs(interval["frac_lost"][0] - lost) > 1e-9:
        return None
    return interval["frac_lost"][1], interval["frac_lost"][2]


def _shown(interval: tuple[float, float] | None) -> str:
    return "" if interval is None else f" [{interval[0]:.2f}, {interval[1]:.2f}]"


def _evidence(interval: tuple[float, float] | None, threshold: float, side: str) -> dict:
    return {} if interval is None else dict(lo=interval[0], hi=interval[1], threshold=threshold, side=side)


def w1(ctx: Context) -> list[Check]:
    limit = ctx.cfg.W1.max_kept_strong
    out = []
    for pair in ctx.design.within:
        lost = transfer.summarize_heads(ctx.heads[pair])["frac_lost"]
        kept, iv = 1.0 - lost, lost_interval(ctx, pair, lost)
        kept_iv = None if iv is None else (1.0 - iv[1], 1.0 - iv[0])
        out.append(Check("W1", ctx.source, pair_label(pair), f"kept strong = {kept:.2f}{_shown(kept_iv)}", f"x <= {limit:.2f}",
                         kept <= limit, kept, **_evidence(kept_iv, limit, "<=")))
    return out


def w2_variants(design) -> tuple[str, ...]:
    """One variant per reading, per ladder when the design has several (named LADDER:reading)."""
    if len(design.ladders) <= 1:
        return W2_VARIANTS
    return tuple(f"{name}:{v}" for name in design.ladders for v in W2_VARIANTS)


def w2(ctx: Context) -> list[Check]:
    """Along each of the design's ladders: no step down, and a rise from the first pair to the last."""
    rule = ctx.cfg.W2
    out = []
    several = len(ctx.design.ladders) > 1
    for name, pairs in ctx.design.ladder_pairs.items():
        for reading in W2_VARIANTS:
            column = "frac_lost" if reading == "lost" else f"frac_{reading}"
            series = [transfer.summarize_heads(ctx.heads[p])[column] for p in pairs]
            steps = [b - a for a, b in zip(series, series[1:])]
            total = series[-1] - series[0]
            holds = min(steps, default=0.0) >= -rule.max_step_decrease and total >= rule.min_total_increase
            out.append(
                Check("W2", ctx.source, f"{name}:{reading}" if several else reading,
                      f"{column} along the ladder = " + " -> ".join(f"{v:.2f}" for v in series),
                      f"no step down by more than {rule.max_step_decrease:.2f}, last - first >= {rule.min_total_increase:.2f}",
                      holds, total)
            )
    return out


def ladder_pairs_of(design) -> tuple[tuple[str, str], ...]:
    """Every pair W2 reads: the consecutive pairs of the design's ladders (they must be design pairs)."""
    return tuple(p for pairs in design.ladder_pairs.values() for p in pairs)


def x1(ctx: Context) -> list[Check]:
    limit = ctx.cfg.X1.min_lost_exclusive
    out = []
    for pair in ctx.design.cross:
        lost = transfer.summarize_heads(ctx.heads[pair])["frac_lost"]
        iv = lost_interval(ctx, pair, lost)
        out.append(Check("X1", ctx.source, pair_label(pair), f"frac_lost = {lost:.2f}{_shown(iv)}", f"x > {limit:.2f}", lost > limit, lost,
                         **_evidence(iv, limit, ">")))
    return out


def _group(claim: str, ctx: Context, heads: dict, variant: str, column: str) -> Check | None:
    rule, unc, design, memo = getattr(ctx.cfg, claim), ctx.cfg.uncertainty, ctx.design, ctx.memo
    within = [heads[p][column].to_numpy(float) for p in design.within]
    cross = [heads[p][column].to_numpy(float) for p in design.cross]
    settings = dict(quantity=column, n_boot=unc.n_boot, n_perm=unc.n_perm, level=unc.level, seed=unc.seed)
    key = ("group", tuple(a.tobytes() for a in within), tuple(a.tobytes() for a in cross), tuple(settings.items()))
    if memo is not None and key in memo:
        comparison = memo[key]
    else:
        try:
            comparison = uncertainty.compare_groups(within, cross, **settings)
        except ValueError as err:  # e.g. no base head present in any target of a group
            ctx.unavailable[(claim, variant)] = f"the within/cross comparison has no value: {err}"
            return None
        if memo is not None:
            memo[key] = comparison
    holds = comparison.diff >= rule.min_diff and comparison.p_value < rule.max_p
    measured = (
        f"cross {comparison.cross_mean:.3f} - within {comparison.within_mean:.3f} = {comparison.diff:+.3f} "
        f"[{comparison.lo:+.3f}, {comparison.hi:+.3f}], p = {comparison.p_value:.3f}"
    )
    return Check(claim, ctx.source, variant, measured, f"diff >= {rule.min_diff:.2f} and p < {rule.max_p:.2f}", holds, comparison.diff,
                 lo=comparison.lo, hi=comparison.hi, threshold=rule.min_diff, side=">=", p_value=comparison.p_value,
                 p_floor=1.0 / (unc.n_perm + 1))


def x2(ctx: Context) -> list[Check]:
    return [c for c in (_group("X2", ctx, ctx.heads, reading, reading) for reading in MISSING_READINGS) if c]


def x3(ctx: Context) -> list[Check]:
    # X3 pools ranks of targets of different size: on the "normalised" metric each pair's ranks are
    # rescaled to 0 = best attainable, 1 = chance (harness.analysis.rank_metric) before pooling.
    heads = ctx.heads
    if ctx.cfg.transfer.rank_metric == "normalised":
        heads = {p: rank_metric.normalised_heads(h) for p, h in heads.items()}
    columns = ("tgt_frac_rank", "frac_rank_missing_as_one")
    return [c for c in (_group("X3", ctx, heads, v, col) for v, col in zip(X3_VARIANTS, columns)) if c]


def t1(ctx: Context) -> list[Check]:
    w1_checks = [c for (claim, _), c in ctx.checks.items() if claim == "W1"]
    held = sum(c.holds for c in w1_checks)
    return [Check("T1", ctx.source, "within", f"W1 holds for {held}/{len(w1_checks)} within pairs", "all within pairs",
                  held == len(w1_checks), held / len(w1_checks))]


def t2(ctx: Context) -> list[Check]:
    x1_checks = [c for (claim, _), c in ctx.checks.items() if claim == "X1"]
    held = sum(c.holds for c in x1_checks)
    return [Check("T2", ctx.source, "cross", f"X1 holds for {held}/{len(x1_checks)} cross pairs", "all cross pairs",
                  held == len(x1_checks), held / len(x1_checks))]


def t3(ctx: Context) -> list[Check]:
    limit = ctx.cfg.T3.max_lost_robust
    by_pair = {p: transfer.summarize_heads(h)["frac_lost"] for p, h in ctx.heads.items()}
    lost = {pair_label(p): v for p, v in by_pair.items()}
    robust = [p for p, v in lost.items() if v <= limit]
    # every pair's interval: reproduced when each lies wholly above the limit (the smallest lower end
    # does), not reproduced when one lies wholly at or below it (the smallest upper end does)
    intervals = [lost_interval(ctx, p, v) for p, v in by_pair.items()]
    iv = None if not intervals or None in intervals else (min(i[0] for i in intervals), min(i[1] for i in intervals))
    return [Check("T3", ctx.source, "all_pairs", f"min frac_lost over pairs = {min(lost.values()):.2f}{_shown(iv)}; robust pairs: {robust or 'none'}",
                  f"every pair frac_lost > {limit:.2f}", not robust, min(lost.values()), **_evidence(iv, limit, ">"))]


def f1(ctx: Context) -> list[Check]:
    """Per pair: is its frac_lost above the upper bootstrap quantile of BOTH models' split-half floor
    and of both models' weights floor, where their re-quantised twins were scanned
    (harness.analysis.noise_floor, harness.analysis.weights_floor)?"""
    out = []
    for pair in ctx.design.pairs:
        weighing = weigh(transfer.summarize_heads(ctx.heads[pair])["frac_lost"], pair, ctx.floors)
        level = f"{ctx.floors[pair[0]].level:.0%}"
        iv = lost_interval(ctx, pair, weighing.lost)
        highest = max([*weighing.prompt_floors.values(), *weighing.weights_floors.values()])
        out.append(
            Check("F1", ctx.source, pair_label(pair), weighing.describe(level) + ("" if iv is None else f"; frac_lost 95% {_shown(iv).strip()}"),
                  "x > both models' floors' upper quantile (prompts; weights where scanned)", weighing.holds, weighing.lost,
                  **_evidence(iv, highest, ">"))
        )
    return out
