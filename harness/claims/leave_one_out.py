"""Does a verdict survive dropping any one model? (issue 27: uncertainty over models, not only prompts)

The intervals of the group claims (X2, X3) and the role claims (M1-M3) resample heads or prompts with
the models fixed: they say nothing about which models were chosen. `leave_one_out` re-evaluates a
source once per model with that model and every pair it is in removed from the design, and reports
each check's outcome per dropped model; a check whose variant needs a removed pair is "gone". Only
claims that pool several pairs (`POOLED`) are shown: a per-pair check simply disappears with its pair.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from harness.claims import checks as checks_mod
from harness.claims.sources import Source

POOLED = ("X2", "X3", "T1", "T2", "T3")  # claims whose one check reads several pairs
GONE = "gone"  # the check cannot be computed without the dropped model (e.g. no within pair is left)


def without(design, model: str):
    """`design` with `model` and every pair it is in removed (None when no pair is left)."""
    pairs = tuple(p for p in design.pairs if model not in p)
    if not pairs:
        return None
    return dataclasses.replace(
        design, models=tuple(m for m in design.models if m != model), pairs=pairs,
        kinds={p: k for p, k in design.kinds.items() if p in pairs},
        ladders={n: steps for n, steps in design.ladders.items() if model not in steps},
    )


def leave_one_out(src: Source, claims: tuple[str, ...] = POOLED, cfg=None) -> pd.DataFrame:
    """One row per pooled check of `src`: its outcome with every model, then with each model dropped;
    `survives` = the outcome is the same whichever model is dropped."""
    full = checks_mod.evaluate_source(src, cfg)
    design = src.design
    kept = {key: c for key, c in full.checks.items() if c.claim in claims}
    rows = {key: {"check": c.key, "all models": c.verdict} for key, c in kept.items()}
    for model in design.models:
        sub = without(design, model)
        outcomes = {}
        if sub is not None:
            table = src.table[src.table["model"] != model]
            ev = checks_mod.evaluate(table, src.name, cfg, floors=src.floors or None, design=sub, extras=src.extras)
            outcomes = {key: c.verdict for key, c in ev.checks.items()}
        for key in kept:
            rows[key][f"without {model}"] = outcomes.get(key, GONE)
    frame = pd.DataFrame(list(rows.values()))
    if len(frame):
        dropped = [c for c in frame.columns if c.startswith("without ")]
        frame["survives"] = frame[dropped].eq(frame["all models"], axis=0).all(axis=1)
    return frame
