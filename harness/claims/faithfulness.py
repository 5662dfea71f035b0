"""The faithfulness claims C1-C3 as pure functions: results frames in, `Check`s out.

Input: the faithfulness results of one ablation method for the zoo models (harness.runs.faithfulness
.load_results; one row per measured set, with f from harness.analysis.faithfulness.with_f), the pair
design (harness.claims.checks.Design) and the thresholds ([C1], [C2], [C3], [transfer] k).

- C1 (per model): the model's top-K heads by |delta| are a faithful circuit of it: f(top-K) >= min_f
  and above its random K-set null (p < max_p). Every transfer claim rests on it; C2 and C3 say
  beside a pair whether its base passed.
- C2 (per pair): the index-mapped set (base top-K at the same (layer, head) of the target) is
  better than the target's random K-sets within the family (p < max_p) and no better across
  families (p >= max_p).
- C3 (per cross-family pair): under the role+depth correspondence the mapped set's transfer
  efficiency stays below max_efficiency; when it does not, the measured text says the circuit
  transfers by role though not by index.

Each `evaluate_*` returns (checks, unavailable): a variant without the data it needs is named in
`unavailable` with the reason, never silently dropped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis import causal_transfer as ct
from harness.analysis import faithfulness as fa
from harness.claims.check import Check, Context, pair_label
from harness.claims.thresholds import Thresholds
from harness.data.designs import Design

EXTRA = "faithfulness"  # the source extra (Source.extras) holding the results: one frame, all models
STALE = "faithfulness_stale"  # the source extra: model -> why its stored results were left out (stale)

ROLE_DEPTH = "role+depth"

CLAIMS = ("C1", "C2", "C3")  # their statements live in harness.claims.registry


def design_models(design: Design) -> tuple[str, ...]:
    """The models of the design's pairs, in pair order (each once)."""
    return tuple(dict.fromkeys(m for pair in design.pairs for m in pair))


def share_variant(model: str, share: float) -> str:
    """The variant of size-aware C1 of `model`: its top `share` of heads ("smollm2-135m@10%")."""
    return f"{model}@{share:.0%}"


def variants(claim: str, design: Design) -> tuple[str, ...]:
    """Static variants from the design (and [C1] k_share): C1 per model at the seed's K, then per model
    at K as a share of its heads; C2 per pair, C3 per cross pair, each at the seed's K, then at the
    base's size-aware K ("BASE->TARGET@10%")."""
    from harness.claims import thresholds

    models, share = design_models(design), thresholds.load().C1.k_share
    pairs = design.pairs if claim == "C2" else design.cross
    if claim == "C1":
        return models + tuple(share_variant(m, share) for m in models)
    return tuple(pair_label(p) for p in pairs) + tuple(share_variant(pair_label(p), share) for p in pairs)


def split_variant(variant: str) -> tuple[str, str | None]:
    """("BASE->TARGET" or the model, "@10%" or None): a variant and its size-aware suffix."""
    head, sep, share = variant.rpartition("@")
    return (head, sep + share) if sep else (variant, None)


def variants_of(claim: str):
    return lambda design: variants(claim, design)


def _per_prompt(rows: pd.DataFrame) -> np.ndarray | None:
    """The rows' per-prompt logit differences stacked (sets, prompts), or None where any is absent."""
    if "ld" not in rows or rows["ld"].isna().any():
        return None
    return np.stack([np.asarray(v, float) for v in rows["ld"]])


def _c1_row(results: pd.DataFrame, model: str, k: int, cfg: Thresholds | None = None) -> dict | None:
    rows = results[results["model"] == model].reset_index(drop=True)
    if not len(rows) or not (rows["kind"] == "full").any() or not (rows["kind"] == "empty").any():
        return None
    unc = cfg.uncertainty if cfg is not None else None
    per_prompt = _per_prompt(rows) if unc is not None else None
    curve = fa.curve_frame(rows.drop(columns=["ld"], errors="ignore"), per_prompt,
                           n_boot=unc.n_boot if unc else 0, level=unc.level if unc else 0.95, seed=unc.seed if unc else 0)
    hit = curve[(curve["ranking"] == "abs") & (curve["k"] == k)]
    if not len(hit) or not int(hit["null_n"].iloc[0]):
        return None
    return hit.iloc[0].to_dict()


def evaluate_c1(results: pd.DataFrame, source: str, design: Design, cfg: Thresholds,
                stale: dict[str, str] | None = None) -> tuple[list[Check], dict[str, str]]:
    rule, k = cfg.C1, cfg.transfer.k
    results = fa.with_f(results) if len(results) and "f" not in results else results
    checks, unavailable = [], {}
    for model in design_models(design):
        if model in (stale or {}):
            unavailable[model] = f"{model}: {stale[model]}"
            continue
        row = _c1_row(results, model, k, cfg) if len(results) else None
        if row is None:
            unavailable[model] = f"no faithfulness results with a top-{k} set and random {k}-sets for {model}"
            continue
        checks.append(_c1_check(row, source, model, k, rule))
    for model in design_models(design):  # size-aware: K = [C1] k_share of the model's heads
        variant = share_variant(model, rule.k_share)
        if model in (stale or {}):
            unavailable[variant] = f"{model}: {stale[model]}"
            continue
        total = _n_heads(results, model)
        k_share = rule.k_of(total) if total else None
        row = _c1_row(results, model, k_share, cfg) if k_share and len(results) else None
        if row is None:
            unavailable[variant] = (f"no faithfulness results with a top-{k_share} set ({rule.k_share:.0%} of {total} heads) and random "
                                    f"{k_share}-sets for {model} (`python -m harness faithfulness --model {model} --compute --extend-null`)"
                                    if k_share else f"no faithfulness results for {model}")
            continue
        note = f"; {k_share} = {rule.k_share:.0%} of {total} heads; curve: {_smallest_k(results, model, rule)}"
        checks.append(_c1_check(row, source, variant, k_share, rule, note))
    return checks, unavailable


def _c1_check(row: dict, source: str, variant: str, k: int, rule, note: str = "") -> Check:
    holds = row["f"] >= rule.min_f and row["p_value"] < rule.max_p
    lo, hi = row.get("f_lo"), row.get("f_hi")
    interval = f" [{lo:.3f}, {hi:.3f}]" if lo is not None and pd.notna(lo) else ""
    return Check(
        "C1", source, variant,
        measured=(f"f(top-{k}) = {row['f']:.3f}{interval}; random {k}-sets: mean {row['null_mean']:.3f}, 95th pct "
                  f"{row['null_p95']:.3f} (N = {int(row['null_n'])}); p = {row['p_value']:.3f}; necessity {row['necessity']:.3f}{note}"),
        condition=f"f >= {rule.min_f:.2f} and p < {rule.max_p:.2f}",
        holds=bool(holds), value=float(row["f"]), **_null_evidence(row, lo, hi, rule.min_f, ">="),
    )


def _n_heads(results: pd.DataFrame, model: str) -> int | None:
    """The model's head count: the k of its stored all-heads ("full") set."""
    full = results[(results["model"] == model) & (results["kind"] == "full")] if len(results) else results
    return int(full["k"].iloc[0]) if len(full) else None


def _smallest_k(results: pd.DataFrame, model: str, rule) -> str:
    """The whole curve in one phrase: the smallest k of the |delta| ranking's curve whose top set reaches
    min_f and beats every random k-set drawn there, as a share of the model's heads."""
    rows = results[results["model"] == model].drop(columns=["ld"], errors="ignore")
    curve = fa.curve_frame(rows)
    total = _n_heads(results, model)
    hits = curve[(curve["ranking"] == "abs") & (curve["k"] < total) & (curve["f"] >= rule.min_f) & (curve["null_n"] > 0)
                 & (curve["null_p95"].notna())]
    hits = hits[[bool((rows[(rows["kind"] == "random") & (rows["k"] == k)]["f"] < f).all()) for k, f in zip(hits["k"], hits["f"])]]
    if not len(hits):
        return f"no k below all {total} heads reaches f >= {rule.min_f:.2f} above every random set"
    first = hits.sort_values("k").iloc[0]
    k, n = int(first["k"]), int(first["null_n"])
    return (f"smallest k reaching f >= {rule.min_f:.2f} above every random k-set: {k} ({k / total:.1%} of heads, "
            f"f {float(first['f']):.3f} over {n} random sets: p >= {1 / (n + 1):.2g})")


def _null_evidence(row, lo, hi, threshold: float | None, side: str | None) -> dict:
    """A check's evidence against a random-set null: the value's interval (when the source has
    per-prompt data) against `threshold`, the raw p with the smallest p its N draws reach, and
    `refuted` when even the interval's best end stays at or below the null's 95th percentile."""
    has = lo is not None and pd.notna(lo) and pd.notna(hi)
    n = int(row["null_n"]) if pd.notna(row.get("null_n", float("nan"))) else 0
    return dict(
        lo=float(lo) if has else None, hi=float(hi) if has else None,
        threshold=threshold if has else None, side=side if has else None,
        p_value=float(row["p_value"]), p_floor=1.0 / (n + 1) if n else None,
        refuted=bool(has and hi <= row["null_p95"]),
    )


def _c1_word(c1: dict[str, Check], model: str) -> str:
    check = c1.get(model)
    return "unknown" if check is None else ("yes" if check.holds else "NO")


def evaluate_c2(results: pd.DataFrame, source: str, design: Design, cfg: Thresholds,
                stale: dict[str, str] | None = None, c1: list[Check] | None = None) -> tuple[list[Check], dict[str, str]]:
    return _pairs("C2", results, source, design, cfg, stale, c1)


def evaluate_c3(results: pd.DataFrame, source: str, design: Design, cfg: Thresholds,
                stale: dict[str, str] | None = None, c1: list[Check] | None = None) -> tuple[list[Check], dict[str, str]]:
    return _pairs("C3", results, source, design, cfg, stale, c1)


def _pairs(claim: str, results: pd.DataFrame, source: str, design: Design, cfg: Thresholds,
           stale: dict[str, str] | None = None, c1_checks: list[Check] | None = None) -> tuple[list[Check], dict[str, str]]:
    """C2 / C3 of every pair at the seed's K and at the base's size-aware K; `c1_checks` (C1 of the same
    results, when the caller has them) name beside each pair whether its base passed."""
    pairs = design.pairs if claim == "C2" else design.cross
    unc = cfg.uncertainty
    results = fa.with_f(results) if len(results) and "f" not in results else results
    frames: dict[tuple[int, bool], pd.DataFrame] = {}

    def frame_at(k: int, sized: bool) -> pd.DataFrame:  # one transfer frame per (k, sized), all pairs
        if (k, sized) not in frames:
            frames[k, sized] = (ct.transfer_frame(results, pairs, k, design.kinds, n_boot=unc.n_boot, level=unc.level,
                                                  seed=unc.seed, sized=sized) if len(results) else pd.DataFrame())
        return frames[k, sized]

    if c1_checks is None:
        c1_checks = evaluate_c1(results, source, design, cfg)[0] if len(results) else []
    c1 = {c.variant: c for c in c1_checks}
    checks, unavailable = [], {}
    for sized in (False, True):
        for base, target in pairs:
            label = pair_label((base, target))
            variant = share_variant(label, cfg.C1.k_share) if sized else label
            gone = [m for m in (base, target) if m in (stale or {})]  # the base's ranking made the mapped sets
            if gone:
                unavailable[variant] = f"{gone[0]}: {stale[gone[0]]}"
                continue
            total = _n_heads(results, base) if sized and len(results) else None
            if sized and not total:
                unavailable[variant] = f"no faithfulness results for {base} (its head count sets the size-aware K)"
                continue
            k = cfg.C1.k_of(total) if sized else cfg.transfer.k
            frame = frame_at(k, sized)
            rows = frame[(frame["base"] == base) & (frame["target"] == target)] if len(frame) else frame
            by = {r["correspondence"]: r for _, r in rows.iterrows()} if len(rows) else {}
            wanted = ct.INDEX if claim == "C2" else ROLE_DEPTH
            row = by.get(wanted)
            if row is None or pd.isna(row["p_value"]):
                unavailable[variant] = (f"no {wanted}-mapped top-{k} of {base} measured in {target} with its random {k}-sets "
                                        f"(`python -m harness faithfulness --model {target} --compute --extend-null`)" if sized else
                                        f"no {wanted}-mapped set of {base} measured in {target} (with its random {k}-sets)")
                continue
            base_c1 = share_variant(base, cfg.C1.k_share) if sized else base
            base_note = f"base top-{k} faithful (C1): {_c1_word(c1, base_c1)}" + (f"; {k} = {cfg.C1.k_share:.0%} of {base}'s {total} heads" if sized else "")
            checks.append((_c2_check if claim == "C2" else _c3_check)(row, by, source, variant, k, base_note, cfg))
    return checks, unavailable


def _c2_check(row, by, source: str, variant: str, k: int, base_note: str, cfg: Thresholds) -> Check:
    within = row["kind"] == "within"
    holds = row["p_value"] < cfg.C2.max_p if within else row["p_value"] >= cfg.C2.max_p
    condition = f"{'within' if within else 'cross'}: p {'<' if within else '>='} {cfg.C2.max_p:.2f}"
    measured = (f"f(index-mapped, {int(row['n_mapped'])} heads, {int(row['n_dropped'])} dropped) = {row['f_mapped']:.3f} vs "
                f"random {k}-sets mean {row['null_mean']:.3f}, 95th pct {row['null_p95']:.3f}: p = {row['p_value']:.3f}; "
                f"efficiency {row['efficiency']:.2f}; {base_note}")
    if within:  # beats the target's random K-sets: the null rule, f(mapped)'s interval beside it
        evidence = _null_evidence(row, row.get("f_lo"), row.get("f_hi"), None, None)
        evidence.update(threshold=None, side=None, lo=None, hi=None)
    else:  # "no better than random": equivalence on the efficiency against the committed margin
        margin = cfg.C2.cross_max_efficiency
        e_lo, e_hi = row.get("efficiency_lo"), row.get("efficiency_hi")
        has = e_lo is not None and pd.notna(e_lo)
        evidence = dict(lo=float(e_lo) if has else None, hi=float(e_hi) if has else None, threshold=margin, side="<",
                        p_value=float(row["p_value"]), p_floor=1.0 / (int(row.get("null_n", 0) or 0) + 1),
                        test_sense="refutes", shape="equivalence")
        condition = f"cross: efficiency < {margin:.2f} (whole 95% interval; equivalence) and not p < {cfg.C2.max_p:.2f}"
        if has:
            measured += f"; efficiency 95% [{e_lo:.2f}, {e_hi:.2f}]"
    return Check("C2", source, variant, measured, condition, bool(holds), float(row["p_value"]), **evidence)


UNDEFINED = "efficiency undefined"  # C3's measured text when the target's own top-k is no better than its null


def _c3_check(row, by, source: str, variant: str, k: int, base_note: str, cfg: Thresholds) -> Check:
    if pd.isna(row["efficiency"]):  # a check without a value: its premise (registry) makes it not testable
        return Check("C3", source, variant,
                     f"{UNDEFINED} in {row['target']}: its own top-{k} set (f {row['f_own']:.3f}) is no better than its random "
                     f"{k}-sets' mean ({row['null_mean']:.3f}); {base_note}",
                     f"efficiency < {cfg.C3.max_efficiency:.2f}", False, float("nan"))
    holds = row["efficiency"] < cfg.C3.max_efficiency
    index = by.get(ct.INDEX)
    index_text = f"; index efficiency {index['efficiency']:.2f}" if index is not None else ""
    verdict = "" if holds else "; transfers by role though not by index" if index is not None and index["efficiency"] < cfg.C3.max_efficiency else ""
    measured = (f"role+depth efficiency {row['efficiency']:.2f} (f mapped {row['f_mapped']:.3f}, own {row['f_own']:.3f}, "
                f"random mean {row['null_mean']:.3f}; {int(row['n_dropped'])} dropped){index_text}{verdict}; {base_note}")
    e_lo, e_hi = row.get("efficiency_lo"), row.get("efficiency_hi")
    has = e_lo is not None and pd.notna(e_lo)
    if has:
        measured += f"; efficiency 95% [{e_lo:.2f}, {e_hi:.2f}]"
    return Check("C3", source, variant, measured, f"efficiency < {cfg.C3.max_efficiency:.2f}", bool(holds), float(row["efficiency"]),
                 lo=float(e_lo) if has else None, hi=float(e_hi) if has else None,
                 threshold=cfg.C3.max_efficiency, side="<")


EVALUATE = {"C1": evaluate_c1, "C2": evaluate_c2, "C3": evaluate_c3}


def _from_context(claim: str):
    """The registry's evaluate function of `claim`: the source's faithfulness extra in, Checks out
    (a variant without the data it needs yields no Check: the gate skips it as not computed)."""

    def evaluate(ctx: Context) -> list[Check]:
        results, stale = ctx.extras[EXTRA], ctx.extras.get(STALE, {})
        # C1-C3 read the results, the design, [transfer] k and their own rules, nothing else of the
        # thresholds: a robustness sweep (one memo, many universes) computes each distinct k once.
        memo = {} if ctx.memo is None else ctx.memo

        def evaluated(name: str) -> tuple[list[Check], dict[str, str]]:
            key = ("faithfulness", name, id(results), id(ctx.design), ctx.source, ctx.cfg.transfer.k, ctx.cfg.C1, ctx.cfg.C2, ctx.cfg.C3)
            if key not in memo:  # C2 / C3 reuse C1's checks (their base notes) instead of evaluating C1 again
                extra = () if name == "C1" else (evaluated("C1")[0],)
                memo[key] = EVALUATE[name](results, ctx.source, ctx.design, ctx.cfg, stale, *extra)
            return memo[key]

        checks, unavailable = evaluated(claim)
        ctx.unavailable.update({(claim, variant): why for variant, why in unavailable.items()})
        return list(checks)

    return evaluate


c1, c2, c3 = (_from_context(c) for c in CLAIMS)
