"""Agreement of two head tables of one model (e.g. mean vs zero ablation): the statistic is
harness.scoring.rank_agreement.agreement (Spearman of the deltas, shared top-k heads), the one
implementation; this module only feeds it a column of two head tables.
"""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from harness.scoring.rank_agreement import TOP_K_AGREEMENT, agreement


def table_agreement(first: pd.DataFrame, second: pd.DataFrame, column: str = "delta_ioi", k: int | None = None) -> dict[str, float]:
    """rank_agreement.agreement of `column` of two head tables (one row per layer, head each)."""
    def as_scan(table: pd.DataFrame) -> SimpleNamespace:
        if table.duplicated(["layer", "head"]).any():
            raise ValueError("table_agreement: a head table holds a (layer, head) twice")
        return SimpleNamespace(table=table[["layer", "head", column]].rename(columns={column: "delta"}))

    return agreement(as_scan(first), as_scan(second), k=k or TOP_K_AGREEMENT)
