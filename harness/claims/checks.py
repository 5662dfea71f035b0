"""The seed's claims as checks over a head table.

Every claim id of the seed (P1..P6, W1, W2, X1..X3, T1..T3; their statements are STATEMENTS below) expands into one check per *variant*
(a pair, a reading of "missing", a tie policy). `evaluate` computes them all for one source (one
combined head table) and returns `Check` objects with the measured value, the condition from
claims/thresholds.toml, and whether it holds. The pytest files in claims/ and the CLI report both read
these objects, so a test id, a report line and claims/verdicts.toml name the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.models import registry
from harness.claims import thresholds as thresholds_mod
from harness.claims.thresholds import Thresholds
from harness.analysis import rank_metric
from harness.analysis import transfer
from harness.analysis import uncertainty
from harness.data.head_table import with_categories

# (base, target, seed mean_frac_rank, quantifier word, quantity it qualifies) -- from the seed text.
PAIR_CLAIMS: dict[str, tuple[str, str, float, str, str]] = {
    "P1": ("pythia-70m", "pythia-160m", 0.50, "moderate", "missing"),
    "P2": ("pythia-160m", "pythia-410m", 0.44, "substantial", "missing"),
    "P3": ("pythia-410m", "pythia-1b", 0.76, "many", "lost"),
    "P4": ("pythia-160m", "gpt-neo-125M", 0.54, "many", "missing"),
    "P5": ("pythia-160m", "opt-125m", 0.70, "most", "missing"),
    "P6": ("pythia-410m", "gpt2-medium", 0.57, "most", "missing"),
}

STATEMENTS: dict[str, str] = {
    "P1": "pythia 70m -> 160m: mean_frac_rank ~ 0.50, moderate fraction missing",
    "P2": "pythia 160m -> 410m: mean_frac_rank ~ 0.44, substantial missing fraction",
    "P3": "pythia 410m -> 1b: mean_frac_rank ~ 0.76, many heads missing or weak",
    "P4": "pythia 160m -> gpt-neo-125M: mean_frac_rank ~ 0.54, many heads missing",
    "P5": "pythia 160m -> opt-125m: mean_frac_rank ~ 0.70, most heads missing",
    "P6": "pythia 410m -> gpt2-medium: mean_frac_rank ~ 0.57, most heads missing",
    "W1": "within one ladder only a subset of IOI-like heads stay strong at the same index",
    "W2": "the fraction of lost indices grows with size along 70m -> 160m -> 410m -> 1b",
    "X1": "Pythia IOI heads do not generally stay strong at the same index in GPT-2, GPT-Neo, OPT",
    "X2": "the missing fraction is substantially worse across families than within",
    "X3": "rank degradation is substantially worse across families than within",
    "T1": "IOI circuits are not index-stable even within one ladder (every W1 pair)",
    "T2": "across families a head at a given index is often absent or weakly IOI-like (every X1 pair)",
    "T3": "head-level results do not transfer robustly (no pair keeps >= 80% of its heads strong)",
    "F1": "heads a pair 'loses' are lost beyond the noise floors (the pair loses more than either model loses to itself on other prompts, or to its re-quantised twin)",
}

MISSING_READINGS = ("missing_table", "missing_geometry")


@dataclass(frozen=True)
class PairDesign:
    """The pairs a source's claims are checked on: the seed's six (with the Pythia ladder), or the
    zoo's four (one within-family scaling pair, three cross-family pairs, no ladder)."""

    name: str
    pairs: tuple[tuple[str, str], ...]
    ladder: tuple[tuple[str, str], ...]  # () when the design has no size ladder (W2 and P1..P6 need it)

    @property
    def within(self) -> tuple[tuple[str, str], ...]:
        return tuple(p for p in self.pairs if registry.pair_kind(*p) == "within")

    @property
    def cross(self) -> tuple[tuple[str, str], ...]:
        return tuple(p for p in self.pairs if registry.pair_kind(*p) == "cross")


SEED_DESIGN = PairDesign("seed", registry.SEED_PAIRS, tuple(zip(registry.PYTHIA_LADDER, registry.PYTHIA_LADDER[1:])))
ZOO_DESIGN = PairDesign("zoo", registry.ZOO_PAIRS, ())
WITHIN_PAIRS = SEED_DESIGN.within
CROSS_PAIRS = SEED_DESIGN.cross
LADDER_PAIRS = SEED_DESIGN.ladder
# The claims that name the seed's Pythia models or ladder: they do not apply to a design without them.
LADDER_CLAIMS = (*PAIR_CLAIMS, "W2")
NOT_APPLICABLE = "not_applicable"


def design_of(source: str | None) -> PairDesign:
    """The pair design of a source: the zoo's for `zoo:*`, else the seed's."""
    return ZOO_DESIGN if source and source.startswith("zoo:") else SEED_DESIGN


def pair_label(pair: tuple[str, str]) -> str:
    return f"{pair[0]}->{pair[1]}"


def variants(claim: str, source: str | None = None) -> tuple[str, ...]:
    """The checks a claim expands into on `source` (static, so pytest can parametrize at collection).
    A claim that does not apply to the source's design has the one variant `not_applicable`."""
    design = design_of(source)
    if claim in LADDER_CLAIMS and not design.ladder:
        return (NOT_APPLICABLE,)
    if claim in PAIR_CLAIMS:
        quantity = PAIR_CLAIMS[claim][4]
        return ("mfr", "mfr_tie_range") + (MISSING_READINGS if quantity == "missing" else ("lost",))
    return {
        "W1": tuple(pair_label(p) for p in design.within),
        "W2": ("missing_table", "missing_geometry", "lost"),
        "X1": tuple(pair_label(p) for p in design.cross),
        "X2": MISSING_READINGS,
        "X3": ("mean_frac_rank", "mean_frac_rank_missing_as_one"),
        "T1": ("within",),
        "T2": ("cross",),
        "T3": ("all_pairs",),
        "F1": tuple(pair_label(p) for p in design.pairs) if design is ZOO_DESIGN else ("all_pairs",),
    }[claim]


CLAIM_IDS = tuple(STATEMENTS)


@dataclass(frozen=True)
class Check:
    """One evaluated variant of one claim on one source."""

    claim: str
    source: str
    variant: str
    measured: str  # readable measured value(s)
    condition: str  # readable threshold
    holds: bool
    value: float | None = None  # the headline number, for snapshots and plots

    @property
    def key(self) -> str:
        """The id shared by the test, the verdict file and the report: CLAIM[source-variant]."""
        return check_key(self.claim, self.source, self.variant)

    @property
    def statement(self) -> str:
        return STATEMENTS[self.claim]


def check_key(claim: str, source: str, variant: str) -> str:
    return f"{claim}[{source}-{variant}]"


def check_order(sources: tuple[str, ...]):
    """Sort key of (claim, source, variant): claims in CLAIM_IDS order, then `sources` order, then the
    claim's variants in order -- the order of claims/test_claims.py, whatever order the tests ran in."""

    def key(check: tuple[str, str, str]) -> tuple[int, int, int]:
        claim, source, variant = check
        return CLAIM_IDS.index(claim), sources.index(source), variants(claim, source).index(variant)

    return key


@dataclass
class Evaluation:
    """All checks of one source, and why the others could not be computed."""

    source: str
    checks: dict[tuple[str, str], Check]
    unavailable: dict[tuple[str, str], str]
    summary: pd.DataFrame  # transfer_summary of the pairs this source covers
    heads: dict[tuple[str, str], pd.DataFrame]  # per-head transfer rows per pair
    table: pd.DataFrame | None = None  # the head table evaluated (robustness sweeps re-evaluate it)
    floors: dict[str, Any] | None = None  # model -> noise_floor.Floor, where the source has per-prompt scores


def _pair_heads(
    table: pd.DataFrame, cfg: Thresholds, ties: str | None = None, memo: dict | None = None,
    design: PairDesign = SEED_DESIGN,
) -> dict[tuple[str, str], pd.DataFrame]:
    t = cfg.transfer if ties is None else cfg.with_transfer(ties=ties).transfer
    present = set(table["model"].unique())
    out = {}
    for pair in (p for p in design.pairs if set(p) <= present):
        if memo is None:
            out[pair] = transfer.transfer_heads(table, *pair, **t.kwargs())
            continue
        ranked = ("heads", pair, t.k, t.ties, t.missing, t.categories)  # the weak cut needs no re-ranking
        ranks = ("ranks", pair[1], t.ties, t.missing)  # a target's ranking reads no category: k, tau free
        base = ("base", pair[0], t.k, t.categories)
        if ranks not in memo:
            memo[ranks] = transfer.target_ranks(table, pair[1], t.ties, over=t.missing)
        if base not in memo:
            memo[base] = transfer.top_k_base(table, pair[0], t.k)
        if ranked not in memo:
            memo[ranked] = transfer.transfer_heads(table, *pair, **t.kwargs(), ranks=memo[ranks], base_rows=memo[base])
        if ranked + (t.weak_above,) not in memo:
            memo[ranked + (t.weak_above,)] = transfer.with_weak_cut(memo[ranked], t.weak_above)
        out[pair] = memo[ranked + (t.weak_above,)]
    return out


def _pair_checks(claim: str, source: str, heads: dict, heads_by_ties: dict, cfg: Thresholds) -> list[Check]:
    base, target, seed_mfr, word, quantity = PAIR_CLAIMS[claim]
    pair = (base, target)
    m = transfer.summarize_heads(heads[pair])
    tol = cfg.approx.tolerance
    lo = transfer.summarize_heads(heads_by_ties["min"][pair])["mean_frac_rank"]
    hi = transfer.summarize_heads(heads_by_ties["max"][pair])["mean_frac_rank"]
    checks = [
        Check(claim, source, "mfr", f"mean_frac_rank = {m['mean_frac_rank']:.3f} (ties: {cfg.transfer.ties})",
              f"|x - {seed_mfr:.2f}| <= {tol:.2f}", abs(m["mean_frac_rank"] - seed_mfr) <= tol, m["mean_frac_rank"]),
        # Is the seed's number attainable by SOME order of the tied heads (the origin's was arbitrary)?
        # The seed rounds to two decimals, hence the 0.005 margin.
        Check(claim, source, "mfr_tie_range", f"mean_frac_rank over tie orders in [{lo:.3f}, {hi:.3f}]",
              f"{seed_mfr:.2f} within the range (+/- 0.005 rounding)", lo - 0.005 <= seed_mfr <= hi + 0.005, seed_mfr),
    ]
    readings = MISSING_READINGS if quantity == "missing" else ("lost",)
    for reading in readings:
        column = "frac_lost" if reading == "lost" else f"frac_{reading}"
        value = m[column]
        checks.append(
            Check(claim, source, reading, f"{column} = {value:.2f}", f"{word}: {cfg.quantifier(word).text()}",
                  cfg.quantifier(word).holds(value), value)
        )
    return checks


def _w1(source: str, heads: dict, cfg: Thresholds, design: PairDesign = SEED_DESIGN) -> list[Check]:
    limit = cfg.W1.max_kept_strong
    out = []
    for pair in design.within:
        kept = 1.0 - transfer.summarize_heads(heads[pair])["frac_lost"]
        out.append(Check("W1", source, pair_label(pair), f"kept strong = {kept:.2f}", f"x <= {limit:.2f}", kept <= limit, kept))
    return out


def _w2(source: str, heads: dict, cfg: Thresholds) -> list[Check]:
    rule = cfg.W2
    out = []
    for variant in variants("W2"):
        column = "frac_lost" if variant == "lost" else f"frac_{variant}"
        series = [transfer.summarize_heads(heads[p])[column] for p in LADDER_PAIRS]
        steps = [b - a for a, b in zip(series, series[1:])]
        total = series[-1] - series[0]
        holds = min(steps) >= -rule.max_step_decrease and total >= rule.min_total_increase
        out.append(
            Check("W2", source, variant, f"{column} along the ladder = " + " -> ".join(f"{v:.2f}" for v in series),
                  f"no step down by more than {rule.max_step_decrease:.2f}, last - first >= {rule.min_total_increase:.2f}",
                  holds, total)
        )
    return out


def _x1(source: str, heads: dict, cfg: Thresholds, design: PairDesign = SEED_DESIGN) -> list[Check]:
    limit = cfg.X1.min_lost_exclusive
    out = []
    for pair in design.cross:
        lost = transfer.summarize_heads(heads[pair])["frac_lost"]
        out.append(Check("X1", source, pair_label(pair), f"frac_lost = {lost:.2f}", f"x > {limit:.2f}", lost > limit, lost))
    return out


def _group(
    claim: str, source: str, heads: dict, cfg: Thresholds, variant: str, column: str, memo: dict | None = None,
    design: PairDesign = SEED_DESIGN,
) -> Check:
    rule, unc = getattr(cfg, claim), cfg.uncertainty
    within = [heads[p][column].to_numpy(float) for p in design.within]
    cross = [heads[p][column].to_numpy(float) for p in design.cross]
    settings = dict(quantity=column, n_boot=unc.n_boot, n_perm=unc.n_perm, level=unc.level, seed=unc.seed)
    key = ("group", tuple(a.tobytes() for a in within), tuple(a.tobytes() for a in cross), tuple(settings.items()))
    if memo is not None and key in memo:
        comparison = memo[key]
    else:
        comparison = uncertainty.compare_groups(within, cross, **settings)
        if memo is not None:
            memo[key] = comparison
    holds = comparison.diff >= rule.min_diff and comparison.p_value < rule.max_p
    measured = (
        f"cross {comparison.cross_mean:.3f} - within {comparison.within_mean:.3f} = {comparison.diff:+.3f} "
        f"[{comparison.lo:+.3f}, {comparison.hi:+.3f}], p = {comparison.p_value:.3f}"
    )
    return Check(claim, source, variant, measured, f"diff >= {rule.min_diff:.2f} and p < {rule.max_p:.2f}", holds, comparison.diff)


def _x2x3(source: str, heads: dict, cfg: Thresholds, memo: dict | None = None, design: PairDesign = SEED_DESIGN) -> list[Check]:
    out = [_group("X2", source, heads, cfg, reading, reading, memo, design) for reading in MISSING_READINGS]
    # X3 pools ranks of targets of different size: on the "normalised" metric each pair's ranks are
    # rescaled to 0 = best attainable, 1 = chance (harness.analysis.rank_metric) before pooling.
    if cfg.transfer.rank_metric == "normalised":
        heads = {p: rank_metric.normalised_heads(h) for p, h in heads.items()}
    out.append(_group("X3", source, heads, cfg, "mean_frac_rank", "tgt_frac_rank", memo, design))
    out.append(_group("X3", source, heads, cfg, "mean_frac_rank_missing_as_one", "frac_rank_missing_as_one", memo, design))
    return out


def _takeaways(source: str, checks: dict[tuple[str, str], Check], heads: dict, cfg: Thresholds) -> list[Check]:
    w1 = [checks[("W1", v)] for v in variants("W1", source)]
    x1 = [checks[("X1", v)] for v in variants("X1", source)]
    limit = cfg.T3.max_lost_robust
    lost = {pair_label(p): transfer.summarize_heads(h)["frac_lost"] for p, h in heads.items()}
    robust = [p for p, v in lost.items() if v <= limit]
    return [
        Check("T1", source, "within", f"W1 holds for {sum(c.holds for c in w1)}/{len(w1)} within pairs", "all within pairs",
              all(c.holds for c in w1), sum(c.holds for c in w1) / len(w1)),
        Check("T2", source, "cross", f"X1 holds for {sum(c.holds for c in x1)}/{len(x1)} cross pairs", "all cross pairs",
              all(c.holds for c in x1), sum(c.holds for c in x1) / len(x1)),
        Check("T3", source, "all_pairs", f"min frac_lost over pairs = {min(lost.values()):.2f}; robust pairs: {robust or 'none'}",
              f"every pair frac_lost > {limit:.2f}", not robust, min(lost.values())),
    ]


def _f1(source: str, heads: dict, floors: dict[str, Any], design: PairDesign) -> list[Check]:
    """Per pair: is its frac_lost above the upper bootstrap quantile of BOTH models' split-half floor
    and of both models' weights floor, where their re-quantised twins were scanned
    (harness.analysis.noise_floor, harness.analysis.weights_floor)?"""
    from harness.analysis.weights_floor import weigh

    out = []
    for pair in design.pairs:
        weighing = weigh(transfer.summarize_heads(heads[pair])["frac_lost"], pair, floors)
        level = f"{floors[pair[0]].level:.0%}"
        out.append(
            Check("F1", source, pair_label(pair), weighing.describe(level),
                  "x > both models' floors' upper quantile (prompts; weights where scanned)", weighing.holds, weighing.lost)
        )
    return out


def evaluate(
    table: pd.DataFrame, source: str, cfg: Thresholds | None = None, memo: dict | None = None,
    floors: dict[str, Any] | None = None,
) -> Evaluation:
    """Every check of every claim that `table` has the models for.

    `cfg` (default: claims/thresholds.toml) sets every threshold and the analyst's choices in its
    [transfer] table (k, ties, weak_above, categories, missing, rank_metric); a robustness sweep passes
    variants of it (`Thresholds.with_transfer`). `memo`, a dict reused across calls on the SAME table,
    caches the per-pair rows and group comparisons that several variants share. The pairs are the
    source's design (`design_of`: the seed's, or the zoo's); `floors` (model -> noise_floor.Floor)
    enables the noise-floor claim F1.
    """
    cfg = cfg or thresholds_mod.load()
    given, table = table, with_categories(table, cfg.transfer.categories)
    design = design_of(source)
    heads = _pair_heads(table, cfg, memo=memo, design=design)
    heads_by_ties = {t: _pair_heads(table, cfg, ties=t, memo=memo, design=design) for t in ("min", "max")}
    checks: dict[tuple[str, str], Check] = {}
    unavailable: dict[tuple[str, str], str] = {}
    present = set(table["model"].unique())

    def need(claim: str, pairs) -> bool:
        if claim in LADDER_CLAIMS and not design.ladder:
            unavailable[(claim, NOT_APPLICABLE)] = (
                f"not applicable to source {source!r}: the claim names the seed's Pythia models or ladder, which the "
                f"{design.name} design does not have"
            )
            return False
        absent = sorted({m for p in pairs for m in p} - present)
        if absent:
            for v in variants(claim, source):
                unavailable[(claim, v)] = f"source {source!r} has no head table for {', '.join(absent)}"
            return False
        return True

    def add(items: list[Check]) -> None:
        checks.update({(c.claim, c.variant): c for c in items})

    for claim, spec in PAIR_CLAIMS.items():
        if need(claim, [spec[:2]]):
            add(_pair_checks(claim, source, heads, heads_by_ties, cfg))
    if need("W1", design.within):
        add(_w1(source, heads, cfg, design))
    if need("W2", design.ladder):
        add(_w2(source, heads, cfg))
    if need("X1", design.cross):
        add(_x1(source, heads, cfg, design))
    if all([need("X2", design.pairs), need("X3", design.pairs)]):
        add(_x2x3(source, heads, cfg, memo, design))
    if all([need("T1", design.within), need("T2", design.cross), need("T3", design.pairs)]):
        add(_takeaways(source, checks, heads, cfg))
    if need("F1", design.pairs):
        lacking = sorted({m for p in design.pairs for m in p} - set(floors or {}))
        if lacking:
            for v in variants("F1", source):
                unavailable[("F1", v)] = (
                    f"no noise floor for {', '.join(lacking)}: source {source!r} has no per-prompt scores "
                    "(a floor needs each prompt's ablated logit differences), so its losses cannot be weighed against one"
                )
        else:
            add(_f1(source, heads, floors, design))

    summary = transfer.summary_frame(heads)
    return Evaluation(source, checks, unavailable, summary, heads, given, floors)
