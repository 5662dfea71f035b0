"""Syrupy snapshots of the transfer summary, the verdict table and the committed SmolLM2 head table,
one readable line per number.

A change of data, model or code shows as a diff naming the pair, metric or head that moved:
`pytest claims/ --snapshot-update` after reviewing it. Stored under snapshots/claims/.
The SmolLM2 table is read from fixtures/recomputed/ (no model needed); after regenerating it
(`python -m harness scores --model smollm2-135m --task both --method mean|zero --refresh --commit`) this snapshot shows
which heads moved and which changed category.
"""

import pytest

from harness.claims import checks as claims
from harness.data import published
from harness.runs.recompute import RunSpec, committed_head_table
from harness.models.registry import REFERENCE_METHODS, REFERENCE_MODEL

DECIMALS = 4  # rounding of snapshotted numbers: float noise below this never shows as a diff


@pytest.fixture(scope="module")
def evaluation():
    table, _ = published.load_heads()
    return claims.evaluate(table, "published")


def test_transfer_summary_snapshot(evaluation, snapshot):
    lines = []
    for row in evaluation.summary.to_dict("records"):
        pair = f"{row.pop('base_model')} -> {row.pop('tgt_model')}"
        for metric, value in row.items():
            shown = f"{value:.{DECIMALS}f}" if isinstance(value, float) else str(value)
            lines.append(f"{pair:32s} {metric:30s} {shown}")
    assert "\n".join(lines) == snapshot


def test_verdict_table_snapshot(evaluation, snapshot):
    lines = [
        f"{c.key:46s} {c.verdict if c.verdict == 'reproduced' else c.verdict.upper():15s} {c.measured}"
        for c in evaluation.checks.values()
    ]
    assert "\n".join(lines) == snapshot


@pytest.mark.parametrize("method", REFERENCE_METHODS)
def test_smollm2_head_table_snapshot(method, snapshot):
    run = RunSpec(method=method)
    table = committed_head_table(REFERENCE_MODEL, run)
    lines = [f"spec: {run}"]
    for task, meta in table.attrs["tasks"].items():
        lines.append(
            f"{task}: clean logit diff {meta['clean_logit_diff']:.{DECIMALS}f}, accuracy {meta['clean_accuracy']:.{DECIMALS}f}, "
            f"{meta['n_prompts']} prompts, weights sha256 {meta['key']['fingerprint'][:16]}"
        )
    for row in table.sort_values(["layer", "head"]).itertuples():
        lines.append(
            f"L{row.layer:02d}H{row.head} delta_ioi {row.delta_ioi:+.{DECIMALS}f} delta_anti {row.delta_anti:+.{DECIMALS}f} {row.category}"
        )
    assert "\n".join(lines) == snapshot


def _design_tables():
    """(design, model, method) of every committed IOI table of the shipped IOI-only designs."""
    from harness.data.designs import BUILTIN, builtin

    out = []
    for name in BUILTIN:
        design = builtin(name)
        if tuple(design.run.tasks) == ("ioi",):
            out += [pytest.param(name, model, method, id=f"{name}-{model}-{method}") for model in design.models for method in REFERENCE_METHODS]
    return out


@pytest.mark.parametrize("design_name, model, method", _design_tables())
def test_design_head_table_snapshot(design_name, model, method, snapshot):
    """One line per head of each committed table of a design (the zoo's): a rescan after a model, prompt
    or code change shows which heads moved."""
    from harness.data.designs import builtin
    from harness.runs.zoo import zoo_entry

    entry = zoo_entry(model, method, builtin(design_name))
    if entry is None:
        pytest.skip(f"no committed {method} table of {model} in the {design_name} design")
    scores, meta, _ = entry
    key = meta["key"]
    lines = [f"{model} {method}: {meta['n_prompts']} prompts, {key.get('dtype', 'float32')}, weights sha256 {key['fingerprint'][:16]}, "
             f"clean logit diff {meta['clean_logit_diff']:.{DECIMALS}f}, accuracy {meta['clean_accuracy']:.{DECIMALS}f}"]
    lines += [f"L{int(r.layer):02d}H{int(r.head):02d} delta {r.delta:+.{DECIMALS}f}" for r in scores.sort_values(["layer", "head"]).itertuples()]
    assert "\n".join(lines) == snapshot


@pytest.mark.parametrize("method", REFERENCE_METHODS)
def test_design_pair_summary_snapshot(method, snapshot):
    """The zoo design's pair metrics under each method, one line per (pair, metric)."""
    from harness.data.designs import builtin
    from harness.runs.zoo import zoo_head_table

    table, _ = zoo_head_table(method)
    summary = claims.evaluate(table, f"zoo:{method}", design=builtin("zoo")).summary
    lines = []
    for row in summary.to_dict("records"):
        pair = f"{row.pop('base_model')} -> {row.pop('tgt_model')}"
        lines += [f"{pair:44s} {metric:30s} {value:.{DECIMALS}f}" if isinstance(value, float) else f"{pair:44s} {metric:30s} {value}"
                  for metric, value in row.items()]
    assert "\n".join(lines) == snapshot
