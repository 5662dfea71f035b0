"""Syrupy snapshots of the transfer summary, the verdict table and the committed SmolLM2 head table,
one readable line per number.

A change of data, model or code shows as a diff naming the pair, metric or head that moved:
`pytest claims/ --snapshot-update` after reviewing it. Stored under snapshots/claims/.
The SmolLM2 table is read from fixtures/recomputed/ (no model needed); after regenerating it
(`python -m harness scores --model smollm2-135m --task both --method mean|zero --refresh --commit`) this snapshot shows
which heads moved and which changed category.
A user's design (--claims-design mine.toml) gets one per-head snapshot per model and method of the
design, stored beside it in <design dir>/snapshots/mine/ (docs/provenance.md).
"""

import pytest

from harness.claims import checks as claims
from harness.data import published
from harness.runs.recompute import RunSpec, committed_head_table
from harness.models import registry
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
    table = committed_head_table(registry.get(REFERENCE_MODEL), run)
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
    """(design, model, method) of every per-head table this run snapshots: each committed IOI table of
    the shipped IOI-only designs under the reference methods, and each model of every user design
    (--claims-design) under each of the design's own methods."""
    from harness.claims.sources import user_designs
    from harness.data.designs import BUILTIN, builtin

    out = []
    for name in BUILTIN:
        design = builtin(name)
        if tuple(design.run.tasks) == ("ioi",):
            out += [pytest.param(design, model, method, id=f"{name}-{model}-{method}") for model in design.models for method in design.run.methods]
    for design in user_designs():
        out += [pytest.param(design, model, method, id=f"{design.name}-{model}-{method}") for model in design.models for method in design.run.methods]
    return out


@pytest.mark.parametrize("design, model, method", _design_tables())
def test_design_head_table_snapshot(design, model, method, snapshot, claims_evaluation):
    """One line per head of each table of a design (the zoo's committed ones; every table of a user's
    design, scanned when missing): a rescan after a model, prompt or code change shows which heads
    moved. A user design's snapshots are stored beside it, in <design dir>/snapshots/<design name>/."""
    from harness.claims.sources import user_designs
    from harness.pytest_plugin import design_snapshot_extension

    if design in user_designs():
        _table_of_source(claims_evaluation(f"{design.name}:{method}"), model, method)  # scans a missing table
        snapshot = snapshot.use_extension(design_snapshot_extension(design.path.resolve().parent / "snapshots" / design.name))
    assert "\n".join(_head_table_lines(design, model, method)) == snapshot


def _table_of_source(evaluation, model: str, method: str) -> None:
    """Fail on a source that broke, skip (with its reason) a model the source has no table of."""
    from harness.pytest_plugin import Broken

    if isinstance(evaluation, Broken):
        pytest.fail(f"source {evaluation}", pytrace=False)
    if isinstance(evaluation, str):
        pytest.skip(f"no {method} table of {model}: {evaluation}")
    if model not in set(evaluation.table["model"]):
        pytest.skip(f"no {method} table of {model} in source {evaluation.source}")


def _head_table_lines(design, model: str, method: str) -> list[str]:
    """The stored IOI scores of `model` under `design` and `method`: its run and weights, then one line
    per head; an IOI+anti design's table (both tasks, categories) from its score cache."""
    from harness.runs.zoo import zoo_entry

    if tuple(design.run.tasks) != ("ioi",):
        return _two_task_lines(design, model, method)
    entry = zoo_entry(design.spec_of(model), method, design)
    if entry is None:
        pytest.skip(f"no stored {method} table of {model} in the {design.name} design")
    scores, meta, _ = entry
    key = meta["key"]
    lines = [f"{model} {method}: {meta['n_prompts']} prompts, {key.get('dtype', 'float32')}, weights sha256 {key['fingerprint'][:16]}, "
             f"clean logit diff {meta['clean_logit_diff']:.{DECIMALS}f}, accuracy {meta['clean_accuracy']:.{DECIMALS}f}"]
    lines += [f"L{int(r.layer):02d}H{int(r.head):02d} delta {r.delta:+.{DECIMALS}f}" for r in scores.sort_values(["layer", "head"]).itertuples()]
    return lines


def _two_task_lines(design, model: str, method: str) -> list[str]:
    from harness.runs.recompute import design_run, head_table

    run = design_run(design, model, method)
    table = head_table(design.spec_of(model), run, progress=False)  # cached: the source scanned it
    lines = [f"{model} {method}: spec {run}"]
    for task, meta in table.attrs["tasks"].items():
        lines.append(f"{task}: {meta['n_prompts']} prompts, weights sha256 {meta['key']['fingerprint'][:16]}, "
                     f"clean logit diff {meta['clean_logit_diff']:.{DECIMALS}f}, accuracy {meta['clean_accuracy']:.{DECIMALS}f}")
    lines += [f"L{int(r.layer):02d}H{int(r.head):02d} delta_ioi {r.delta_ioi:+.{DECIMALS}f} delta_anti {r.delta_anti:+.{DECIMALS}f} {r.category}"
              for r in table.sort_values(["layer", "head"]).itertuples()]
    return lines


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
