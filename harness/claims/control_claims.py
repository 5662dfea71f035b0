"""Claims K1-K8: the known-answer controls (docs/controls.md) as checks of a controls design's source.

A controls design (claims/designs/controls.toml) pairs a zoo model with models derived from it by a
transform whose truth is known (harness.models.transforms: heads permuted, identity blocks inserted,
heads knocked out, the same model on other prompts). Each K claim reads the pairs' stored tables
(scanned from the derived weights), scores every correspondence against the transform's true map
(harness.analysis.controls.pair_summary) and holds the expectations committed in docs/controls.md
before any control was scanned (harness.analysis.controls.expectations). A variant is one control.
"""

from __future__ import annotations

from typing import Any

from harness.claims.check import Check, Context
from harness.data.designs import Design

EXTRA = "controls"  # the source extra: control -> its true map (harness.claims.sources attaches it)
KINDS = {"permute-heads": "permute", "insert-identity": "insert", "knockout": "knockout", "none": "prompts"}
FLOORED = ("K1", "K2", "K3")  # the claims that read the prompt twin's floor
CLAIM_KINDS = {
    "K1": ("permute", "insert"), "K2": ("permute", "insert"), "K3": ("permute", "insert"), "K4": ("permute",),
    "K5": ("permute",), "K6": ("insert",), "K7": ("knockout",), "K8": ("prompts",), "K9": ("permute",),
}
FAITHFULNESS = "control_faithfulness"  # the source extra with the stored faithfulness results K9 reads


def kind_of(model: str) -> str | None:
    """permute | insert | knockout | prompts for a derived model, None for any other."""
    from harness.models import registry

    derive = registry.get(model).derive if model in registry.MODELS else None
    return KINDS.get(derive.transform) if derive is not None else None


def controls_of(design: Design) -> tuple[str, ...]:
    """The design's pair targets that are derived models (controls), in pair order."""
    return tuple(dict.fromkeys(t for _, t in design.pairs if kind_of(t) is not None))


def variants_of(claim: str):
    def variants(design: Design) -> tuple[str, ...]:
        return tuple(c for c in controls_of(design) if kind_of(c) in CLAIM_KINDS[claim])

    return variants


def _expectations(ctx: Context) -> Any:
    """Every expectation row of the source (memoised per evaluation: K1-K9 share them)."""
    import pandas as pd

    t = ctx.cfg.transfer  # what the expectations read of it (tau and the rank metric do not enter)
    key = ("controls", ctx.source, id(ctx.table), t.k, t.ties, t.missing, t.weak_above, t.categories)
    memo = {} if ctx.memo is None else ctx.memo
    if key not in memo:
        rows = expectation_rows(pair_summaries(ctx.table, ctx.extras, ctx.design, ctx.cfg, memo))
        memo[key] = pd.concat([rows, faithfulness_rows(ctx.extras.get(FAITHFULNESS), ctx.design, t.k)], ignore_index=True)
    return memo[key]


def faithfulness_rows(results: Any, design: Design, k: int) -> Any:
    """K9 of every permuted control of `design` whose faithfulness results are stored (`results`, one
    method's, all models), one row each (harness.analysis.controls.faithfulness_expectation)."""
    import pandas as pd

    from harness.analysis import causal_transfer as ct
    from harness.analysis import controls

    pairs = [(b, c) for b, c in design.pairs if kind_of(c) in CLAIM_KINDS["K9"]]
    if results is None or not len(results) or not pairs:
        return pd.DataFrame(columns=["k", "control", "measured", "condition", "holds", "base"])
    transfer = ct.transfer_frame(results, pairs, k)
    rows = []
    for base, control in pairs:
        row = controls.faithfulness_expectation(transfer, base, control) if len(transfer) else None
        if row is not None:
            rows.append({**row, "base": base})
    return pd.DataFrame(rows, columns=["k", "control", "measured", "condition", "holds", "base"])


def pair_summaries(table: Any, extras: dict[str, Any], design: Design, cfg: Any, memo: dict | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """base -> control -> harness.analysis.controls.pair_summary, for every pair of `design` whose control
    has a true map in `extras` and whose two tables are in `table` (with categories); role+depth where
    role tables are stored. What K1-K8 read, and what `python -m harness controls` tabulates."""
    from harness.analysis import controls

    memo = {} if memo is None else memo
    truth, roles = extras[EXTRA], dict(extras.get("roles") or {})
    roles_key = ("control_roles", design.name)
    if roles_key not in memo:  # read once per evaluation or sweep, not once per universe
        memo[roles_key] = _stored_roles([m for pair in design.pairs for m in pair if m not in roles], design)
    roles.update(memo[roles_key])
    by_base: dict[str, dict[str, dict[str, float]]] = {}
    present = set(table["model"])
    for base, control in design.pairs:
        if control in truth and {base, control} <= present:
            by_base.setdefault(base, {})[control] = controls.pair_summary(table, roles, base, control, truth[control], cfg, memo)
    return by_base


def expectation_rows(by_base: dict[str, dict[str, dict[str, float]]]) -> Any:
    """docs/controls.md's expectations over every base's pair summaries, one row per (K, control), with
    the base; K1-K3 left out for a base without a prompt twin (they read its floor)."""
    import pandas as pd

    from harness.analysis import controls

    frames = []
    for base, summaries in by_base.items():
        kinds = {c: kind_of(c) for c in summaries}
        twins = [c for c, k in kinds.items() if k == "prompts"]
        floor = summaries[twins[0]]["index_lost"] if twins else float("nan")
        rows = controls.expectations(summaries, kinds, floor=floor).assign(base=base)
        if not twins:  # K1-K3 read the prompt twin's index frac_lost as their floor: without it they have none
            rows = rows[~rows["k"].isin(FLOORED)]
        frames.append(rows)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["k", "control", "measured", "condition", "holds", "base"])


def _stored_roles(models: list[str], design: Design) -> dict[str, Any]:
    """The role tables stored for `models` (a prompt twin's on its own seed); the source attaches role
    tables only when every model of the design has one, the controls read whichever exist."""
    from harness.runs.roles import design_role_spec, stored_roles

    out = {}
    for model in dict.fromkeys(models):
        try:
            table = stored_roles(design.spec_of(model), design_role_spec(design, model))
        except Exception:  # no weights to key the role table by: no role table
            table = None
        if table is not None:
            out[model] = table
    return out


def evaluate(claim: str):
    """The registry's evaluate function of K claim `claim`."""

    def run(ctx: Context) -> list[Check]:
        import pandas as pd

        rows = _expectations(ctx)
        out = []
        for row in rows[rows["k"] == claim].itertuples(index=False):
            if pd.isna(row.holds):
                ctx.unavailable[(claim, row.control)] = f"an input of {claim} is absent for {row.control}: {row.measured}"
                continue
            out.append(Check(claim, ctx.source, row.control, row.measured, row.condition, bool(row.holds), 1.0 if row.holds else 0.0))
        for control in variants_of(claim)(ctx.design):
            if control not in set(rows["control"]) and (claim, control) not in ctx.unavailable:
                ctx.unavailable[(claim, control)] = (f"{control}: no stored table, or its base has no prompt twin table "
                                                     "(K1-K3 read the prompt twin as their floor)")
        return out

    return run
