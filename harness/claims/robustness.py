"""Which verdicts survive the analyst's choices: every claim check evaluated over a grid of choices.

A verdict is made under one set of choices (K, tie handling, tau, the "weak" cut, the reading of
"missing", the rank metric, ...). Here each check is re-evaluated in every *universe* of the full
product of the table-level choices of claims/robustness.toml (`harness.claims.grid`), and reported as
the share of universes where it holds, labelled robust / fragile / in between, with the single choices
that flip it (one at a time around the defaults). A universe is claims/thresholds.toml with those
[transfer] settings replaced (`Thresholds.with_transfer`); the default universe is exactly the suite's
main evaluation, so the gate does not move. Score-level choices (ablation method, prompts) need scores
from weights: a value counts where a source with those scores exists; otherwise `score_level` says so
and what it would cost.

Pure functions over pandas frames; the CLI (`python -m harness robustness`, `report`) and the pytest
plugin's verdict table read them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Iterable

import pandas as pd

from harness.claims import checks as claims
from harness.claims import grid as grid_mod
from harness.claims import thresholds as thresholds_mod
from harness.claims.grid import Choice, Grid, Labels
from harness.claims.thresholds import Thresholds
from harness.models import registry

SUMMARY_COLUMNS = ["source", "claim", "variant", "n_universes", "share_held", "default_verdict", "robustness", "flipped_by"]


def universes(choices: dict[str, Choice]) -> list[dict[str, Any]]:
    """The full product of the choices' values, the all-defaults universe first."""
    names = list(choices)
    ordered = [[choices[n].default] + [v for v in choices[n].values if v != choices[n].default] for n in names]
    return [dict(zip(names, combo)) for combo in itertools.product(*ordered)]


def configure(settings: Thresholds, universe: dict[str, Any], choices: dict[str, Choice]) -> Thresholds:
    """The thresholds with each choice's [transfer] setting set to the universe's value (a new object)."""
    return settings.with_transfer(**{choices[name].field: value for name, value in universe.items()})


def sweep(
    table: pd.DataFrame, source: str, choices: dict[str, Choice], settings: Thresholds | None = None,
    extras: dict | None = None, *, cached: bool = True,
) -> pd.DataFrame:
    """Every check in every universe of the table-level product: one row per (universe, check) with
    the choices' values as columns and `holds`. `extras`: the source's other data (role tables: the
    claims M1-M3 join the sweep when given). `cached`: read and keep it under the content key of every
    input (harness.claims.sweep_cache), so an unchanged source is not swept again."""
    settings = settings if settings is not None else thresholds_mod.load()
    key = None
    if cached:
        from harness.claims import sources, sweep_cache

        key = sweep_cache.content_key(source, table, extras, settings, choices, sources.design_of(source))
        stored = sweep_cache.read(key)
        if stored is not None:
            return stored
    memo: dict = {}
    rows = []
    for universe in universes(choices):
        ev = claims.evaluate(table, source, configure(settings, universe, choices), memo=memo, extras=extras)
        for (claim, variant), check in ev.checks.items():
            rows.append({**universe, "source": source, "claim": claim, "variant": variant, "holds": bool(check.holds)})
    long = pd.DataFrame(rows)
    if key is not None:
        sweep_cache.write(key, long)
    return long


def _is_default(frame: pd.DataFrame, choices: dict[str, Choice], except_: str | None = None) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for name, choice in choices.items():
        if name != except_:
            mask &= frame[name] == choice.default
    return mask


def _with_default(long: pd.DataFrame, choices: dict[str, Choice]) -> pd.DataFrame:
    """The rows of checks that have a value at the defaults (a check computable only in other
    universes, e.g. a group comparison with no present head at the default k, has no verdict to weigh)."""
    keys = ["source", "claim", "variant"]
    at_default = pd.MultiIndex.from_frame(long.loc[_is_default(long, choices), keys])
    return long[pd.MultiIndex.from_frame(long[keys]).isin(at_default)]


def flips(long: pd.DataFrame, choices: dict[str, Choice]) -> dict[tuple[str, str, str], list[str]]:
    """Per check (source, claim, variant): the single choices that, changed alone from the defaults,
    flip its verdict (e.g. ['k=10', 'tau=0.1'])."""
    keys = ["source", "claim", "variant"]
    long = _with_default(long, choices)
    default = long[_is_default(long, choices)].set_index(keys)["holds"]
    out: dict[tuple[str, str, str], list[str]] = {k: [] for k in default.index}
    for name, choice in choices.items():
        moved = long[_is_default(long, choices, except_=name) & (long[name] != choice.default)]
        for row in moved.itertuples(index=False):
            key = (row.source, row.claim, row.variant)
            if row.holds != default[key]:
                out[key].append(choice.label(getattr(row, name)))
    return out


def summarize(
    long: pd.DataFrame, choices: dict[str, Choice], labels: Labels, score_rows: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per check: grid size, share held, the default verdict, its label, the flipping choices.
    `score_rows` (from `score_level`: source, claim, variant, choice, value, holds) add one universe
    each, one score-level choice changed from the defaults."""
    keys = ["source", "claim", "variant"]
    long = _with_default(long, choices)
    default = long[_is_default(long, choices)].set_index(keys)["holds"]
    flipped = flips(long, choices)
    extra = {k: g for k, g in score_rows.groupby(keys, sort=False)} if score_rows is not None and len(score_rows) else {}
    rows = []
    for key, group in long.groupby(keys, sort=False):
        held = group["holds"].tolist()
        if key in extra:
            held += extra[key]["holds"].tolist()
            flipped[key] += [f"{r.choice}={r.value}" for r in extra[key].itertuples() if r.holds != default[key]]
        share = sum(held) / len(held)
        rows.append(
            {
                "source": key[0],
                "claim": key[1],
                "variant": key[2],
                "n_universes": len(held),
                "share_held": round(share, 3),
                "default_verdict": "reproduced" if default[key] else "not reproduced",
                "robustness": labels(share),
                "flipped_by": "; ".join(flipped[key]) or "-",
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def marginal_shares(long: pd.DataFrame, choices: dict[str, Choice]) -> pd.DataFrame:
    """Rows = checks ('P1[mfr]', source-prefixed when several), columns = 'choice=value' plus 'all':
    the share of the universes with that value where the check holds (the heatmap's numbers)."""
    several = long["source"].nunique() > 1
    check = long["claim"] + "[" + (long["source"] + "-" if several else "") + long["variant"] + "]"
    frame = long.assign(check=check)
    order = list(dict.fromkeys(frame["check"]))
    columns = {"all": frame.groupby("check", sort=False)["holds"].mean()}
    for name, choice in choices.items():
        for value in choice.values:
            sub = frame[frame[name] == value]
            columns[choice.label(value)] = sub.groupby("check", sort=False)["holds"].mean()
    return pd.DataFrame(columns).reindex(order)


def verdict_notes(summary: pd.DataFrame) -> dict[str, str]:
    """check key (CLAIM[source-variant]) -> 'robust 0.97' etc., for the verdict tables."""
    return {
        claims.check_key(r.claim, r.source, r.variant): f"{r.robustness} {r.share_held:.2f}" for r in summary.itertuples(index=False)
    }


# --- score level -------------------------------------------------------------------------------------


def _scan_seconds_per_head_param() -> tuple[float, str]:
    """Seconds of one task's scan per (head x parameter) on this machine, from the reference model's
    committed scan (its metadata records the time), and a note saying so."""
    from harness.runs.recompute import RunSpec, committed_head_table

    spec = registry.get(registry.REFERENCE_MODEL)
    tasks = committed_head_table(spec, RunSpec()).attrs["tasks"]
    seconds = max(meta["seconds"] for meta in tasks.values())
    note = f"{registry.REFERENCE_MODEL}'s committed scan took {seconds:.0f} s per task ({spec.n_heads_total} heads)"
    return seconds / (spec.n_heads_total * spec.n_params), note


def scan_cost_seconds(models: Iterable[str], n_tasks: int = 2) -> tuple[float, str]:
    """Rough CPU time of scoring `models` from weights on this machine: the reference model's committed
    scan time scaled by heads x parameters (a scan runs about one forward per head)."""
    rate, note = _scan_seconds_per_head_param()
    total = sum(rate * registry.get(m).n_heads_total * registry.get(m).n_params * n_tasks for m in models)
    return total, note


def measured_scan_seconds(meta: dict[str, Any], n_layers: int) -> float | None:
    """What one stored layered scan cost here: every layer's seconds over all its runs when the meta
    records them (`layer_seconds_all_runs`); for a scan resumed before shards kept their seconds, its
    last run's seconds scaled to all layers (an underestimate: early layers cost more); else its
    seconds; None when the meta has none."""
    if "layer_seconds_all_runs" in meta:
        return float(meta["layer_seconds_all_runs"])
    seconds = meta.get("seconds")
    if seconds is None:
        return None
    resumed = int(meta.get("resumed_layers") or 0)
    return float(seconds) * n_layers / (n_layers - resumed) if 0 < resumed < n_layers else float(seconds)


def design_scan_cost(source: str, models: Iterable[str]) -> tuple[float, str] | None:
    """For a design source (zoo:<method>, a user design's): the summed seconds its models' own stored
    scans under the source's method took on this machine (a variant scan re-runs each once), and a
    note saying so; None when a model has no stored scan with a time (then the rough scaling serves)."""
    from harness.claims import sources
    from harness.runs.zoo import zoo_entry

    kind, method = sources.parse(source)
    if kind in (sources.PUBLISHED, sources.FILE, "recomputed"):
        return None
    design = sources.design_of(source)
    total, parts = 0.0, []
    for model in models:
        spec = design.spec_of(model)
        entry = zoo_entry(spec, method, design)
        seconds = measured_scan_seconds(entry[1], spec.n_layers) if entry is not None else None
        if seconds is None:
            return None
        total += seconds
        parts.append(f"{model} {seconds / 60:.0f} min")
    return total, f"measured: the {method} scans of this source took {', '.join(parts)}"


def _hours(seconds: float) -> str:
    return f"~{seconds / 3600:.1f} h" if seconds >= 3600 else f"~{seconds / 60:.0f} min"


def _half_table(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """The head table scored from one half of the prompts: delta_ioi = that half's delta, categories
    redone by the signed tau rule (the zoo's rule; harness.runs.zoo)."""
    from harness.data.head_table import DEFAULT_TAU, categorize, with_derived_columns

    half = table.drop(columns=["abs_delta_ioi", "abs_delta_anti", "strength"], errors="ignore").assign(delta_ioi=table[column])
    half = with_derived_columns(half)
    half["category"] = categorize(half["delta_ioi"], half["delta_anti"], DEFAULT_TAU, "signed")
    return half


# split_half values -> the table column holding that half's deltas (stored by the sharded scan)
_HALF_COLUMNS = {"first": "delta_a", "second": "delta_b"}


def score_level(
    source: str, models: list[str], checks: dict[tuple[str, str], bool], grid: Grid, table: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Score-level variants of one source, one at a time around the defaults.

    A variant is another source scored with that value (e.g. method zero of `recomputed:mean` is
    `recomputed:zero`); where it has a head table its checks are evaluated at the default table-level
    choices. Returns long rows like `sweep` (choice, value, holds) and one note per variant that is not
    computed, with why and roughly what computing it would cost.
    """
    from harness.claims import sources

    kind, method = sources.parse(source)
    rows, notes = [], []
    score = grid.score()
    if kind == sources.PUBLISHED:
        return pd.DataFrame(rows), [
            f"{source}: score-level choices do not apply: these are the origin's scores (zero ablation, 200 unseeded "
            "prompts, one template); a recomputed source varies them"
        ]
    measured = design_scan_cost(source, models)
    if measured is not None:
        cost, basis = measured
    else:
        try:
            cost, basis = scan_cost_seconds(models)
            basis = f"rough: {basis}, scaled by heads x parameters"
        except FileNotFoundError as err:
            cost, basis = float("nan"), str(err)
    for name, choice in score.items():
        for value in (v for v in choice.values if v != choice.default):
            half = _HALF_COLUMNS.get(value) if name == "split_half" else None
            if half is not None and table is not None and half in table and table[half].notna().all():
                ev = claims.evaluate(_half_table(table, half), source)
                for claim, variant in checks:
                    other = ev.checks.get((claim, variant))
                    if other is not None:
                        rows.append({"source": source, "claim": claim, "variant": variant, "choice": name, "value": value, "holds": other.holds})
                continue
            sibling = choice.sibling.format(kind=kind, value=value) if choice.sibling else None
            reason = None
            if sibling is None:
                reason = f"no source holds scores under {choice.label(value)}"
            else:
                try:
                    sources.parse(sibling)
                except ValueError:
                    reason = f"no source {sibling!r} ({choice.label(value)} is not implemented)"
            if reason is None:
                src = sources.load(sibling, compute=False)
                if src.table.empty:
                    reason = f"{sibling} has no head table ({'; '.join(src.notes) or 'nothing cached'})"
                else:
                    ev = claims.evaluate(src.table, sibling)
                    for claim, variant in checks:
                        other = ev.checks.get((claim, variant))
                        if other is not None:
                            rows.append({"source": source, "claim": claim, "variant": variant, "choice": name, "value": value, "holds": other.holds})
                    continue
            cost_text = f"{_hours(cost)} for {', '.join(models)}" if models and cost == cost else "cost unknown"
            notes.append(f"{source}: {choice.label(value)} not computed: {reason}; costs {cost_text} on this CPU ({basis})")
    return pd.DataFrame(rows), notes


@dataclass
class Sweep:
    """A robustness run over sources: long table-level rows, score-level rows, one summary row per
    check, the choices swept, and notes on what was not computed (and why)."""

    long: pd.DataFrame
    score_rows: pd.DataFrame
    summary: pd.DataFrame
    choices: dict[str, Choice]
    notes: list[str]


def run(source_names: Iterable[str], *, quick: bool = False, only: Iterable[str] | None = None) -> Sweep:
    """The sweep of each named source from its cached or committed head table (never a model scan).
    `quick`: table-level grid only. `only`: restrict the table-level choices swept (the others stay at
    their defaults). A source without a head table is a note, not an error; an unknown name is."""
    from harness.claims import sources

    names = list(source_names)
    for name in names:
        sources.parse(name)  # ValueError with the known names, before any work
    grid = grid_mod.load()
    choices = grid.table(only)
    longs, scores, notes = [], [], []
    for name in names:
        src = sources.load(name, compute=False)
        if src.table.empty:
            notes.append(f"{name}: no head table ({'; '.join(src.notes) or 'nothing cached'}); not swept")
            continue
        if "entry" in src.table:  # which stored entry each model's table came from
            notes += [f"{name}: {m} from {e}" for m, e in src.table.groupby("model", sort=False)["entry"].first().items()]
        long = sweep(src.table, name, choices, extras=src.extras)
        longs.append(long)
        if quick:
            continue
        default = long[_is_default(long, choices)]
        held = {(r.claim, r.variant): r.holds for r in default.itertuples(index=False)}
        models = [m for m in registry.MODELS if m in set(src.table["model"])]
        rows, more = score_level(name, models, held, grid, src.table)
        scores.append(rows)
        notes += more
    if not longs:
        raise LookupError("no source with a head table among " + ", ".join(names) + ": " + " | ".join(notes))
    long = pd.concat(longs, ignore_index=True)
    score_rows = pd.concat(scores, ignore_index=True) if scores else pd.DataFrame()
    return Sweep(long, score_rows, summarize(long, choices, grid.labels, score_rows), choices, notes)


def sweep_evaluations(evaluations: Iterable[claims.Evaluation]) -> Sweep:
    """The table-level sweep (`--quick`) of evaluated sources, from each evaluation's own head table
    (evaluations without one are left out); one Sweep, empty frames when none."""
    grid = grid_mod.load()
    choices = grid.table()
    # The known-answer controls are not swept: their thresholds are fixed expectations of an instrument
    # on a case whose truth is known (docs/controls.md), not an analyst's choices; their robustness cell reads "-".
    longs = [sweep(ev.table, ev.source, choices, extras=ev.extras) for ev in evaluations
             if ev.table is not None and not ev.source.startswith(UNSWEPT)]
    long = pd.concat(longs, ignore_index=True) if longs else pd.DataFrame()
    summary = summarize(long, choices, grid.labels) if len(long) else pd.DataFrame(columns=SUMMARY_COLUMNS)
    return Sweep(long, pd.DataFrame(), summary, choices, [])


UNSWEPT = ("controls:",)  # source prefixes the gate's robustness column leaves out


def notes_for(evaluations: Iterable[claims.Evaluation]) -> dict[str, str]:
    """Verdict-table notes ('robust 0.97') for the checks of evaluations (table-level grid), from each
    evaluation's own table; {} for none."""
    return verdict_notes(sweep_evaluations(evaluations).summary)
