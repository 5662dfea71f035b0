"""Syrupy snapshots of the transfer summary and the verdict table, one readable line per number.

A change of data, model or code shows as a diff naming the pair and metric that moved:
`pytest claims/ --snapshot-update` after reviewing it. Stored under snapshots/claims/.
"""

import pytest

from harness import claims, published

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
        f"{c.key:46s} {'reproduced' if c.holds else 'NOT REPRODUCED':15s} {c.measured}"
        for c in evaluation.checks.values()
    ]
    assert "\n".join(lines) == snapshot
