"""The faithfulness measurements behind C1-C3 and `python -m harness faithfulness`: the head sets of a
zoo model to measure (its top-k sets, random-set nulls and the sets other models' top-k map to), the
measurement of those missing from fixtures/faithfulness/ (`compute`), the null grown until it decides
(`extend_null`), and the stored curves, causal transfer and summary read back.

The glue of the pieces: rankings from the committed zoo tables (harness.runs.zoo), the plan and
the arithmetic (harness.analysis.faithfulness, harness.analysis.causal_transfer), the
correspondences (index here; the others of harness.analysis.correspondence when present), the
measurement and its storage (harness.runs.faithfulness, imported lazily), the settings ([faithfulness]
of claims/thresholds.toml).
"""

from __future__ import annotations

import sys
from typing import Any

import pandas as pd

from harness.analysis import causal_transfer as ct
from harness.analysis import faithfulness as fa
from harness.models import registry
from harness.errors import NotStored



def zoo_design():
    from harness.data import designs

    return designs.builtin("zoo")


def _zoo_table(model: str, method: str, design: Any = None) -> pd.DataFrame:
    from harness.runs.faithfulness import RANKING_METHOD
    from harness.runs.zoo import zoo_head_table

    table, notes = zoo_head_table(RANKING_METHOD[method], design=design)
    rows = table[table["model"] == model] if len(table) else table
    if not len(rows):
        raise NotStored(f"{model}: no committed {RANKING_METHOD[method]}-ablation zoo table to rank heads by ({'; '.join(notes)})")
    return rows


TRUE = "true"  # the true map of a known-answer control (harness.models.transforms), a correspondence here


def correspondences(target: str | None = None, design: Any = None) -> dict[str, Any]:
    """name -> function(base, target, base_top, method) -> correspondence frame (layer, head,
    tgt_layer, tgt_head; NA = unmapped): index, depth, role, role+depth (harness.analysis.correspondence;
    role tables on `design`'s role spec), and for a known-answer control `target` also its true map."""
    from harness.analysis import correspondence as corr

    out = {name: _roles_correspondence(corr, name, design) for name in corr.MATCHINGS}
    derive = registry.get(target).derive if target is not None and target in registry.MODELS else None
    if derive is not None:
        from harness.analysis.controls import true_correspondence
        from harness.models.transforms import control_true_map

        out[TRUE] = lambda base, tgt, top, method: true_correspondence(top, control_true_map(registry.get(tgt)))
    return out


def _roles_correspondence(corr: Any, name: str, design: Any = None):
    def build(base: str, target: str, top: pd.DataFrame, method: str) -> pd.DataFrame:
        from harness.claims import thresholds

        roles = {}
        if name in corr.NEEDS_ROLES:
            from harness.runs.roles import compute_command, design_role_spec, stored_roles

            for model in (base, target):
                spec = registry.get(model)
                roles[model] = stored_roles(spec, design_role_spec(design, model)) if design is not None else stored_roles(spec)
                if roles[model] is None:
                    raise NotStored(f"no stored role table of {model} (`{compute_command(model)}`)")
        return corr.correspond(name, top, roles.get(base), roles.get(target), _geometry(base), _geometry(target), thresholds.load())

    return build


def _geometry(model: str) -> tuple[int, int]:
    spec = registry.get(model)
    return int(spec.n_layers), int(spec.n_heads)


def mapped_sets(target: str, method: str, k: int, names: list[str] | None = None, design: Any = None,
                k_of_base: Any = None) -> list[tuple[str, list]]:
    """(label, heads) of every pair's base top-k mapped into `target` by each correspondence available
    (or those in `names`), the pairs of `design` (default the zoo's); a correspondence that cannot be
    built is skipped with a note. With `k_of_base` (base -> k) also each base's top-k at its own k,
    labelled with that k (the size-aware sets of C2 / C3), after all the sets at `k`; the zoo tables
    and correspondences are read once for both."""
    out, sized = [], []
    design = design or zoo_design()
    available = correspondences(target, design)
    for base, tgt in design.pairs:
        if tgt != target:
            continue
        try:
            table = _zoo_table(base, method, design)
        except LookupError as err:  # the base has no table under this method yet: nothing to map
            print(f"note: {base} -> {target}: no mapped sets ({err})", file=sys.stderr)
            continue
        sizes = [(k, None, out)] + ([] if k_of_base is None else [(k_of_base(base), k_of_base(base), sized)])
        for k_base, label_k, into in sizes:
            top = ct.base_top(table, k_base)
            for name, build in available.items():
                if names is not None and name not in names:
                    continue
                try:
                    frame = build(base, target, top, method)
                except (LookupError, OSError, ValueError) as err:
                    print(f"note: {base} -> {target}: no {name} correspondence ({err})", file=sys.stderr)
                    continue
                heads, dropped = ct.mapped_heads(frame, _geometry(target))
                into.append((ct.mapped_label(base, name, dropped, label_k), heads))
    return out + sized


def share_k(model: str, cfg: Any) -> int:
    """C1's size-aware K of `model`: [C1] k_share of its heads."""
    n_layers, n_heads = _geometry(model)
    return cfg.C1.k_of(n_layers * n_heads)


def own_ks(model: str, cfg: Any) -> tuple[int, ...]:
    """The k at which a claim reads the model's own top-k set: the seed's K ([transfer] k) and C1's
    size-aware K."""
    return tuple(dict.fromkeys((int(cfg.transfer.k), share_k(model, cfg))))


def transfer_ks(model: str, cfg: Any, design: Any = None) -> tuple[int, ...]:
    """The k at which the size-aware C2 / C3 judge sets mapped into `model`: each of its bases' size-aware
    K (the pairs of `design`, default the zoo's)."""
    return tuple(dict.fromkeys(share_k(base, cfg) for base, target in (design or zoo_design()).pairs if target == model))


def claim_ks(model: str, cfg: Any, design: Any = None) -> tuple[int, ...]:
    """The k whose random null a claim reads: `own_ks`, then `transfer_ks`."""
    return tuple(dict.fromkeys((*own_ks(model, cfg), *transfer_ks(model, cfg, design))))


def plan(model: str, method: str, cfg: Any, correspondence_names: list[str] | None = None,
         n_random: dict[int, int] | None = None, design: Any = None) -> pd.DataFrame:
    """Every set the committed results of `model` under `method` hold (see fa.plan_sets); `n_random`
    (k -> draws) random sets at a claim's k instead of [faithfulness] n_random (an extended null)."""
    f = cfg.faithfulness
    n_layers, n_heads = _geometry(model)
    ks = claim_ks(model, cfg, design)
    return fa.plan_sets(
        _zoo_table(model, method, design), n_layers, n_heads, k_grid=f.k_grid, k_claim=ks,
        n_random={k: (n_random or {}).get(k, f.n_random) for k in ks},
        n_random_curve=f.n_random_curve, seed=f.seed, stratify=f.stratify,
        mapped=mapped_sets(model, method, cfg.transfer.k, correspondence_names, design, k_of_base=lambda base: share_k(base, cfg)),
    )


def compute(model: str, method: str, cfg: Any, *, device: str = "cpu", correspondence_names: list[str] | None = None,
            loaded: Any = None, design: Any = None):
    """Measure the sets of `plan` missing from the stored results; (results, meta, the loaded model
    or None when nothing had to be measured), so a caller can reuse the model for another method."""
    from harness.runs import faithfulness as runs

    run = runs.run_for(model, method, cfg.faithfulness.prompts_for(model), cfg.faithfulness.prompt_seed)
    spec = registry.get(model)  # the one look-up: the spec travels from here
    if loaded is None:
        from harness.models.loaders import load_model

        loaded = load_model(spec, device=device, dtype=run.dtype, progress=False)
    results, meta = runs.measure(spec, run, plan(model, method, cfg, correspondence_names, design=design), device=device, loaded=loaded)
    return results, meta, loaded


def null_exceedances(results: pd.DataFrame, k: int, own: bool = True, mapped: bool = False,
                     min_f: float | None = None) -> tuple[float, int, int]:
    """(the statistic the random k-set null must decide, random k-sets drawn, how many reach it) from
    stored results: the largest of the top-k |delta| set's f (`own`: a claim reads the model's own top-k)
    and the f of each index-mapped set of a base's top-k (`mapped`: C2's size-aware variants), so that
    every p read at this k is decided once the largest is (NaN, draws, 0 where none is stored). With
    `min_f` ([C1] min_f) a top set below it is no statistic: C1 needs f >= min_f AND a small p, so
    below min_f no p changes its outcome and no draw is spent on it."""
    rows = fa.with_f(results)
    stats = []
    if own:
        top = rows[(rows["kind"] == "top") & (rows["ranking"] == "abs") & (rows["k"] == k)]["f"]
        stats += [f for f in top if min_f is None or f >= min_f]
    if mapped:
        sized = rows[(rows["kind"] == "mapped") & (rows["label"].map(lambda label: ct.label_k(label) == k
                                                                      and ct.parse_label(label)[1] == ct.INDEX))]
        stats += list(sized["f"])
    draws = rows[(rows["kind"] == "random") & (rows["k"] == k)]["f"].to_numpy(float)
    if not stats:  # a k not measured yet (a size-aware K added after the results), or no statistic a p decides
        return float("nan"), len(draws), 0
    f_stat = float(max(stats))
    return f_stat, len(draws), int((draws >= f_stat).sum())


def extend_null(model: str, method: str, cfg: Any, *, device: str = "cpu", loaded: Any = None, log=print,
                design: Any = None) -> dict[str, Any]:
    """Grow the random k-set null of `model` under `method` by doubling (the draws are seeded by index,
    so the first N are always the same sets) until h = [verdicts] sequential_h draws reach the top
    set's f (p = h / N is then far from any decision) or [verdicts] faithfulness_max_draws are drawn
    (Besag and Clifford's sequential rule; the claims read (1 + reached) / (1 + N)). Each round
    measures only the new sets; returns what the rounds did."""
    import time

    from harness.runs import faithfulness as runs

    rules = cfg.verdicts
    run = runs.run_for(model, method, cfg.faithfulness.prompts_for(model), cfg.faithfulness.prompt_seed)
    hit = runs.stored(model, method)
    if hit is None:
        raise LookupError(f"no faithfulness results stored for {model} under {method}; measure them first with `--compute`")
    spec = registry.get(model)  # the one look-up: the spec travels from here
    start, rounds, results = time.perf_counter(), [], hit[0]
    ks, own, mapped = claim_ks(model, cfg, design), own_ks(model, cfg), transfer_ks(model, cfg, design)
    draws = {k: max(null_exceedances(results, k)[1], cfg.faithfulness.n_random) for k in ks}  # each null now
    out = {}
    for k in ks:  # the seed's K, the size-aware K, the bases' size-aware K: each null grows on its own
        f_top, n, reached = null_exceedances(results, k, k in own, k in mapped, cfg.C1.min_f)
        while reached < rules.sequential_h and n < rules.faithfulness_max_draws and not (n and pd.isna(f_top)):
            draws[k] = min(max(2 * n, cfg.faithfulness.n_random), rules.faithfulness_max_draws)
            if loaded is None:
                from harness.models.loaders import load_model

                loaded = load_model(spec, device=device, dtype=run.dtype, progress=False)
            results, _ = runs.measure(spec, run, plan(model, method, cfg, n_random=draws, design=design), device=device, loaded=loaded)
            f_top, n, reached = null_exceedances(results, k, k in own, k in mapped, cfg.C1.min_f)
            rounds.append({"k": k, "draws": n, "reached": reached, "p": (1 + reached) / (1 + n),
                           "seconds": round(time.perf_counter() - start, 1)})
            what = f"f(top-{k})" if k not in mapped else f"f(top-{k} or a base's index-mapped top-{k})" if k in own else f"f(a base's index-mapped top-{k})"
            log(f"{model} {method}: {n} random {k}-sets, {reached} reach {what} = {f_top:.3f}: p = {(1 + reached) / (1 + n):.4f} "
                f"({rounds[-1]['seconds']} s)")
        if pd.isna(f_top):  # no statistic a p decides here (a top set below min_f): report the top set's own position
            f_top, n, reached = null_exceedances(results, k)
            log(f"{model} {method}: {n} random {k}-sets kept: f(top-{k}) = {f_top:.3f} is below [C1] min_f {cfg.C1.min_f:.2f}, "
                f"so no p changes C1's outcome at this k")
        out[k] = {"f_top": f_top, "draws": n, "reached": reached, "p": (1 + reached) / (1 + n)}
    first = out[int(cfg.transfer.k)]
    return {"model": model, "method": method, **first, "by_k": out, "seconds": round(time.perf_counter() - start, 1), "rounds": rounds}


def curve(model: str, method: str) -> tuple[pd.DataFrame, dict[str, float]]:
    """The stored curve of `model` under `method` and its CPR / CMD."""
    from harness.claims import thresholds
    from harness.runs.faithfulness import stored, stored_per_prompt

    hit = stored(model, method)
    if hit is None:
        raise NotStored(
            f"no faithfulness results stored for {model} under {method}; measure them with "
            f"`python -m harness faithfulness --model {model} --method {method} --compute`"
        )
    unc = thresholds.load().uncertainty
    frame = fa.curve_frame(fa.with_f(hit[0]), stored_per_prompt(model, method), n_boot=unc.n_boot, level=unc.level, seed=unc.seed)
    n_heads = int(hit[0].loc[hit[0]["kind"] == "full", "k"].iloc[0])
    return frame, {**fa.areas(frame, n_heads), "seconds": hit[1].get("seconds"), "n_prompts": hit[1].get("n_prompts")}


def transfer(method: str, k: int) -> pd.DataFrame:
    from harness.runs.faithfulness import load_results

    results = load_results(method)
    if not len(results):
        raise NotStored(f"no faithfulness results stored under {method}")
    design = zoo_design()
    return ct.transfer_frame(fa.with_f(results), design.pairs, k, design.kinds)


def summary(methods: tuple[str, ...] | list[str], k: int) -> pd.DataFrame:
    """One row per (model, method) with stored results: f(top-k by |delta|) with its interval over
    prompts, the random k-set null's mean and 95th percentile, the p-value, CPR, CMD, prompts and
    seconds of measurement."""
    from harness.runs.faithfulness import stored

    rows = []
    for method in methods:
        for model in zoo_design().models:
            if stored(model, method) is None:
                continue
            frame, extra = curve(model, method)
            hit = frame[(frame["ranking"] == "abs") & (frame["k"] == k)]
            if not len(hit):
                continue
            row = hit.iloc[0]
            rows.append({
                "model": model, "method": method, f"f_top{k}": row["f"], "f_lo": row.get("f_lo"), "f_hi": row.get("f_hi"),
                "null_mean": row["null_mean"], "null_p95": row["null_p95"], "null_n": int(row["null_n"]),
                "p_value": row["p_value"], "cpr": extra["cpr"], "cmd": extra["cmd"],
                "n_prompts": extra["n_prompts"], "seconds": extra["seconds"],
            })
    return pd.DataFrame(rows)
