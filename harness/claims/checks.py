"""Claims -> checks: every claim of the registry (harness.claims.registry) evaluated on one source.

Each claim expands into one check per *variant* (a pair, a reading of "missing", a tie policy), listed
statically from the source's design so pytest can parametrize at collection. `evaluate` computes them
all for one source (one combined head table) and returns `Check` objects with the measured value, the
condition from claims/thresholds.toml, and whether it holds; a check it cannot compute is `unavailable`
with its reason. The tests in claims/, the CLI report and claims/verdicts.toml all read these objects,
so a test id, a report line and a verdict entry name the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from harness.analysis import transfer
from harness.claims import sources as sources_mod
from harness.claims import thresholds as thresholds_mod
from harness.claims.check import NOT_APPLICABLE, Check, Context, check_key, pair_label
from harness.claims import instrument, outcomes
from harness.claims.registry import AGGREGATES, CLAIM_IDS, PAIR_NEEDS, PREMISES, REGISTRY, SHAPES, Claim
from harness.claims.seed_claims import PAIR_CLAIMS
from harness.claims.thresholds import Thresholds
from harness.data.designs import Design
from harness.data.head_table import with_categories

__all__ = [
    "CLAIM_IDS", "PAIR_CLAIMS", "Check", "Evaluation", "NOT_APPLICABLE", "check_key", "check_order", "evaluate",
    "evaluate_source", "pair_label", "variants",
]


def _not_applicable(claim: Claim, design: Design) -> str | None:
    """Why `claim` cannot be tested on `design` at all (a piece of the design is missing), or None."""
    if "seed_pair" in claim.needs and claim.pair not in design.kinds:
        return f"the claim is about the pair {pair_label(claim.pair)}, which the {design.name} design does not have"
    if "ladder" in claim.needs and not design.ladders:
        return f"the claim walks along a size ladder, which the {design.name} design does not have"
    for need in ("within", "cross"):
        if need in claim.needs and not getattr(design, need):
            return f"the claim needs {need}-family pairs, which the {design.name} design does not have"
    if "controls" in claim.needs and not claim.variants(design):
        return f"the claim reads known-answer controls (derived models), which the {design.name} design does not have"
    return None


def variants(claim: str, source: str | None = None, design: Design | None = None) -> tuple[str, ...]:
    """The checks a claim expands into on `source` (static, so pytest can parametrize at collection).
    A claim that does not apply to the source's design has the one variant `not_applicable`."""
    design = design or sources_mod.design_of(source)
    spec = REGISTRY[claim]
    if _not_applicable(spec, design) is not None:
        return (NOT_APPLICABLE,)
    return spec.variants(design)


def check_order(sources: tuple[str, ...]):
    """Sort key of (claim, source, variant): claims in registry order, then `sources` order, then the
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
    design: Design | None = None
    extras: dict[str, Any] | None = None


def _pair_heads(
    table: pd.DataFrame, cfg: Thresholds, design: Design, ties: str | None = None, memo: dict | None = None,
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


def _missing_piece(claim: Claim, ctx: Context, present: set[str]) -> str | None:
    """Why the source cannot give `claim` its inputs (models, floors, extras), or None."""
    pairs = claim.pairs_needed(ctx.design)
    absent = sorted({m for p in pairs for m in p} - present)
    if absent:
        return f"source {ctx.source!r} has no head table for {', '.join(absent)}"
    if "floors" in claim.needs:
        lacking = sorted({m for p in ctx.design.pairs for m in p} - set(ctx.floors or {}))
        if lacking:
            return (
                f"no noise floor for {', '.join(lacking)}: source {ctx.source!r} has no per-prompt scores "
                "(a floor needs each prompt's ablated logit differences), so its losses cannot be weighed against one"
            )
    for need in claim.needs:
        if need not in ("floors", "ladder", "seed_pair", *PAIR_NEEDS) and need not in ctx.extras:
            return f"source {ctx.source!r} provides no {need} data (the claim needs it)"
    return None



def _is_per_pair(claim: Claim, design: Design) -> bool:
    """Whether the claim has one check per design pair it needs (W1, X1, F1, M1-M3), each reading its
    own pair only: then a source with some of the design's models checks the complete pairs."""
    labels = tuple(pair_label(p) for p in claim.pairs_needed(design))
    return bool(labels) and "ladder" not in claim.needs and "seed_pair" not in claim.needs and claim.variants(design) == labels


def _complete_pairs(ctx: Context, claim: Claim, present: set[str]) -> Context | None:
    """A per-pair claim's context on the design pairs whose models the source has, or None when the
    source has none of them (or lacks something else the claim needs on those pairs)."""
    if not _is_per_pair(claim, ctx.design):
        return None
    complete = tuple(p for p in ctx.design.pairs if set(p) <= present)
    if not set(claim.pairs_needed(ctx.design)) & set(complete):
        return None
    narrowed = replace(ctx, design=replace(ctx.design, pairs=complete))  # shares checks, memo, unavailable
    return narrowed if _missing_piece(claim, narrowed, present) is None else None


def _missing_pair_reason(ctx: Context, pair: tuple[str, str], present: set[str]) -> str:
    absent = sorted(set(pair) - present)
    return f"source {ctx.source!r} has no head table for {', '.join(absent)} (pair {pair_label(pair)})"


def evaluate(
    table: pd.DataFrame, source: str, cfg: Thresholds | None = None, memo: dict | None = None,
    floors: dict[str, Any] | None = None, design: Design | None = None, extras: dict[str, Any] | None = None,
) -> Evaluation:
    """Every check of every registered claim that `table` has the models for.

    `cfg` (default: claims/thresholds.toml) sets every threshold and the analyst's choices in its
    [transfer] table (k, ties, weak_above, categories, missing, rank_metric); a robustness sweep passes
    variants of it (`Thresholds.with_transfer`). `memo`, a dict reused across calls on the SAME table,
    caches the per-pair rows and group comparisons that several variants share. The pairs are the
    source's design (default `sources.design_of(source)`); `floors` (model -> noise_floor.Floor)
    enables the noise-floor claim F1; `extras` are the source's other data (e.g. role tables).
    """
    cfg = cfg or thresholds_mod.load()
    design = design or sources_mod.design_of(source)
    memo = {} if memo is None else memo  # this call's own when none is given (M1-M3 share mappings)
    given, table = table, with_categories(table, cfg.transfer.categories)
    heads = _pair_heads(table, cfg, design, memo=memo)
    heads_by_ties = {t: _pair_heads(table, cfg, design, ties=t, memo=memo) for t in ("min", "max")}
    ctx = Context(source, design, table, heads, heads_by_ties, cfg, floors, dict(extras or {}), {}, memo)
    unavailable: dict[tuple[str, str], str] = {}
    present = set(table["model"].unique())
    for claim in REGISTRY.values():
        reason = _not_applicable(claim, design)
        if reason is not None:
            unavailable[(claim.id, NOT_APPLICABLE)] = f"not applicable to source {source!r}: {reason}"
            continue
        reason = _missing_piece(claim, ctx, present)
        claim_ctx = ctx
        if reason is not None:
            if _is_per_pair(claim, design):  # the pairs a partial source cannot check say why, each its own
                for pair in claim.pairs_needed(design):
                    if not set(pair) <= present:
                        unavailable[(claim.id, pair_label(pair))] = _missing_pair_reason(ctx, pair, present)
            claim_ctx = _complete_pairs(ctx, claim, present)
            if claim_ctx is None:
                for v in claim.variants(design):
                    unavailable.setdefault((claim.id, v), reason)
                continue
        ctx.checks.update({(c.claim, c.variant): c for c in claim.evaluate(claim_ctx)})
        for v in claim.variants(design):  # a variant the claim could not compute says why
            if (claim.id, v) not in ctx.checks and (claim.id, v) not in unavailable:
                unavailable[(claim.id, v)] = ctx.unavailable.get((claim.id, v), "not computed for this source")
    rules = cfg.verdicts
    decided = outcomes.decide_all(ctx.checks, SHAPES, PREMISES, AGGREGATES, rules.alpha, rules.multiplicity,
                                  premise_checks=_premise_checks(ctx))
    summary = transfer.summary_frame(heads)
    return Evaluation(source, decided, unavailable, summary, heads, given, floors, design, ctx.extras)


_INSTRUMENT: dict[Any, Any] = {}  # (instrument.SOURCE, thresholds) -> its evaluation, or why it has none


def instrument_evaluation() -> "Evaluation | str":
    """The evaluation of the known-answer controls (instrument.SOURCE, committed tables) under the
    thresholds in force, once per process, thresholds and committed layer (the pytest plugin reuses it;
    a caller that swaps either never leaves its evaluation behind for the next), or the reason it has none."""
    cfg = thresholds_mod.load()
    from harness.runs import cache as cache_module

    # the thresholds by content (they hold dicts: no hash) and where the committed tables are read from
    key = (instrument.SOURCE, repr(cfg), str(cache_module.FIXTURES_DIR))
    if key not in _INSTRUMENT:
        try:
            src = sources_mod.load(instrument.SOURCE, compute=False)
            _INSTRUMENT[key] = evaluate_source(src, cfg) if len(src.table) else "; ".join(src.notes) or "no control tables"
        except (OSError, ValueError, LookupError) as err:  # absent or unreadable control tables: the premise has no value
            _INSTRUMENT[key] = " ".join(str(err).split()) or type(err).__name__
    return _INSTRUMENT[key]


def _premise_checks(ctx: Context) -> dict:
    """Checks of another source that this one's premises read: the controls' K2 / K4 (M1-M3's premise)
    where the source has role tables and is no controls source itself; `extras[instrument.EXTRA]` overrides."""
    if instrument.EXTRA in ctx.extras:
        return ctx.extras[instrument.EXTRA]
    if "roles" not in ctx.extras or ctx.extras.get("controls"):
        return {}
    ev = instrument_evaluation()
    return {} if isinstance(ev, str) else {key: c for key, c in ev.checks.items() if key[0] in instrument.PREMISE_CLAIMS}


def evaluate_source(src: "sources_mod.Source", cfg: Thresholds | None = None) -> Evaluation:
    """The claims evaluation of a loaded source: its design, noise floors and extras included."""
    return evaluate(src.table, src.name, cfg, floors=src.floors or None, design=src.design, extras=src.extras)
