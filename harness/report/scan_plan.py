"""What a scan is about to compute and roughly how long it will take, said before it starts.

Each (model, method) table is either stored (committed or in the user cache: nothing to compute) or
to be scanned; a scan's time is estimated from the stored scans of the same model on this machine
(their meta.json `seconds`, harness.claims.robustness.measured_scan_seconds), scaled by prompt count,
else from the reference model's committed scan scaled by heads x parameters (scan_cost_seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from harness.claims.robustness import measured_scan_seconds, scan_cost_seconds
from harness.models import registry
from harness.runs.recompute import design_run, stored_scores
from harness.scoring.methods import ABLATION_METHODS

TASK = "ioi"


@dataclass(frozen=True)
class PlannedTable:
    model: str
    method: str
    n_prompts: int
    stored: str | None  # the entry that answers, or None: to be scanned
    seconds: float | None  # estimated scan time (None: stored, or no basis to estimate)
    basis: str = ""


def _estimate(design, model: str, method: str, n_prompts: int) -> tuple[float | None, str]:
    """Seconds of one IOI scan of `model` with `n_prompts` prompts, and what the number rests on."""
    spec = registry.get(model)
    for other in dict.fromkeys((method, *ABLATION_METHODS)):  # the same method's stored scan first
        found = stored_scores(spec, TASK, design_run(design, model, other))
        seconds = measured_scan_seconds(found[1], spec.n_layers) if found is not None else None
        stored_n = found[1].get("n_prompts") if found is not None else None
        if seconds is not None and stored_n:
            return seconds * n_prompts / int(stored_n), f"its stored {other} scan: {seconds:.0f} s for {stored_n} prompts"
    if spec.n_params > 0:
        seconds, note = scan_cost_seconds([model], n_tasks=1)
        return seconds, note
    return None, "no stored scan of this model to estimate from"


def plan(design, models: Iterable[str], methods: Iterable[str], *, dtype: str | None = None, weights: str | None = None,
         n_prompts: int | None = None, refresh: bool = False) -> list[PlannedTable]:
    """One row per (model, method): stored or to be scanned, with its estimated time."""
    rows = []
    for model in models:
        for method in methods:
            run = design_run(design, model, method, dtype, weights=weights, n_prompts=n_prompts)
            found = None if refresh else stored_scores(registry.get(model), TASK, run)
            if found is not None:
                rows.append(PlannedTable(model, method, run.n_prompts, found[1].get("entry", "stored"), None))
                continue
            seconds, basis = _estimate(design, model, method, run.n_prompts)
            rows.append(PlannedTable(model, method, run.n_prompts, None, seconds, basis))
    return rows


def plan_lines(rows: list[PlannedTable], what: str) -> list[str]:
    """The plan as printed: a head line (how many scans, roughly how long) and one line per table."""
    todo = [r for r in rows if r.stored is None]
    known = [r.seconds for r in todo if r.seconds is not None]
    methods = ", ".join(dict.fromkeys(r.method for r in rows))
    if not todo:
        head = f"{what}: all {len(rows)} tables stored (methods {methods}); nothing to scan"
    else:
        total = f"about {sum(known) / 60:.0f} min" if known else "time unknown"
        unknown = f" (+{len(todo) - len(known)} without an estimate)" if known and len(known) < len(todo) else ""
        head = f"{what}: will scan {len(todo)} of {len(rows)} tables (methods {methods}), {total}{unknown} on this machine"
    lines = [head]
    for r in rows:
        if r.stored is not None:
            lines.append(f"  {r.model} {r.method}: stored ({r.stored})")
        else:
            eta = f"~{r.seconds / 60:.1f} min" if r.seconds is not None else "time unknown"
            lines.append(f"  {r.model} {r.method}: scan, {r.n_prompts} prompts, {eta} ({r.basis})")
    return lines
