"""Data sources for the claims: the origin's published tables, or head tables recomputed from weights.

A source is a name and one combined head table (published schema) over the models it covers. Claims
whose models a source lacks are reported as unavailable with the reason, never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from harness.data import head_table
from harness.data import published

PUBLISHED = "published"
from harness.scoring.methods import ABLATION_METHODS as RECOMPUTED_METHODS
SOURCES = (PUBLISHED,) + tuple(f"recomputed:{m}" for m in RECOMPUTED_METHODS)


@dataclass
class Source:
    name: str
    table: pd.DataFrame
    findings: list[head_table.Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # why models are absent, what was computed


def parse(name: str) -> tuple[str, str | None]:
    """'published' -> ('published', None); 'recomputed:mean' -> ('recomputed', 'mean')."""
    if name == PUBLISHED:
        return PUBLISHED, None
    kind, _, method = name.partition(":")
    if kind != "recomputed" or method not in RECOMPUTED_METHODS:
        raise ValueError(f"unknown source {name!r}; use one of {SOURCES}")
    return kind, method


def load(name: str, *, allow_modified: bool | None = None, compute: bool = True, device: str = "auto") -> Source:
    """Load a source by name. Recomputed sources use cached head tables and, when `compute` is true,
    compute the missing ones for every model whose weights are on this machine."""
    kind, method = parse(name)
    if kind == PUBLISHED:
        table, findings = published.load_heads(allow_modified=allow_modified)
        return Source(name, table, findings)
    from harness.runs.recompute import recomputed_tables  # torch is imported only for this source

    table, notes = recomputed_tables(method, compute=compute, device=device)
    return Source(name, table, head_table.validate(table, mode="audit") if len(table) else [], notes)
