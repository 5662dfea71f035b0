"""Pair designs as data: which models a claims run compares, in which pairs and ladders, and how their
head tables are computed. A design is a TOML file (claims/designs/seed.toml and zoo.toml ship with the
suite; a user writes their own and passes it with `--design FILE` / `--claims-design FILE`).

    name = "mine"
    [run]                      # prompt style, prompts, tasks, dtype of every table (per model overridable)
    style = "wang"; n_prompts = 200; tasks = ["ioi", "anti"]; dtype = "float32"
    methods = ["mean", "zero"] # the ablation methods its sources scan (default: the gate's two)
    [models]
    "pythia-70m" = {}                                   # a registry entry
    "my-7b" = { hub = "org/my-7b", family = "mine" }    # a hub id (local Hugging Face cache)
    "ckpt" = { local = "/data/ckpt", family = "mine" }  # a local Hugging Face directory
    "q4" = { gguf = "/data/q4.gguf", sha256 = "...", family = "mine", config_from = "pythia-70m" }
    "q4~perm" = { derive = "q4", transform = "permute-heads", seed = 0 }  # a control (harness.models.transforms)
    "big" = { n_prompts = { mean = 200, zero = 64 } }   # a prompt count per ablation method
    "again" = { derive = "big", transform = "none", prompt_seed = 1 }  # the same weights, an independent prompt draw
    [[pairs]]
    base = "pythia-70m"; target = "my-7b"; kind = "cross"   # kind: within | cross (default: from families)
    [ladders]
    mine = ["pythia-70m", "ckpt", "my-7b"]                 # ordered by size; W2 walks along it

The file's shape is the `DesignFile` schema below (harness.schema: unknown keys, types and ranges);
what refers to something else (a model in the registry, a pair's models, a ladder's order, a pair's
kind against the families) is checked after it. Inline models are added to the registry of this process
(`registry.register`), with geometry read from their config.json when the entry does not give it.
Every error is one line naming the file and the entry (`DesignError`, a ValueError: exit 2 from the
CLI, a usage error under pytest), and nothing is written.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping

from msgspec import Meta, structs

from harness.data.ioi_dataset import STYLES
from harness.data.published import sha256_of
from harness.models import registry
from harness.models.registry import GgufSource, ModelSpec
from harness.paths import REPO_ROOT, name_problem
from harness.sizes import MAX_HEADS, MAX_LAYERS
from harness.schema import Heads, Layers, Prompts, Schema, Seed, Text, convert, read_toml
from harness.errors import UserError

DESIGNS_DIR = REPO_ROOT / "claims" / "designs"
BUILTIN = ("seed", "zoo", "controls")
PAIR_KINDS = ("within", "cross")
DTYPES = ("float32", "bfloat16", "float16")
TASKS = ("ioi", "anti")
WEIGHTS = ("pretrained", "twin")
MODEL_RUN_KEYS = ("n_prompts", "dtype", "style", "weights", "weights_floor_n_prompts", "prompt_seed")
DERIVE_KEYS = ("derive", "transform", "seed", "at", "heads")  # a control: its base, transform and parameters
WEIGHT_KEYS = ("hub", "local", "gguf", "hf_config")  # exactly one for an inline model
# A design's name names sources and check ids ("zoo:mean", "P1[mine-mfr]"): no [ ] : , or newline.
DesignName = Annotated[str, Meta(pattern=r"^[^\[\]:,\n]*[^\s\[\]:,][^\[\]:,\n]*$",
                                 description="a non-empty name without [ ] : , (it names sources and check ids)")]
Sha256 = Annotated[str, Meta(pattern=r"^[0-9a-fA-F]{64}$", description="64 hex digits")]


class DesignError(UserError, ValueError):
    """A design file that cannot be used: one line naming the file and the entry."""


class RunDefaults(Schema):
    """[run]: how every table of the design is made (a model entry may override style, n_prompts, dtype)."""

    style: Literal[STYLES] = "wang"
    n_prompts: Prompts = 200
    tasks: Annotated[tuple[Literal[TASKS], ...], Meta(min_length=1)] = TASKS
    dtype: Literal[DTYPES] = "float32"
    # The ablation methods its sources and `python -m harness zoo` scan (default: the gate's,
    # harness.scoring.methods.GATE_METHODS; names are checked against the methods registry where
    # the design is used, harness.claims.sources.design_methods: data/ does not import scoring/).
    methods: Annotated[tuple[Text, ...], Meta(min_length=1)] = ("mean", "zero")


class ModelEntry(Schema):
    """One [models] entry: run overrides, and for a model outside the registry where its weights are."""

    n_prompts: Prompts | Annotated[dict[str, Prompts], Meta(min_length=1)] | None = None
    dtype: Literal[DTYPES] | None = None
    style: Literal[STYLES] | None = None
    weights: Literal[WEIGHTS] | None = None
    weights_floor_n_prompts: Prompts | None = None
    hub: Text | None = None
    local: Text | None = None
    gguf: Text | None = None
    hf_config: dict[str, Any] | None = None
    sha256: Sha256 | None = None
    family: Text | None = None
    architecture: Text | None = None
    n_layers: Layers | None = None
    n_heads: Heads | None = None
    tokenizer: Text | None = None
    prepend_bos: bool | None = None
    config_from: Text | None = None
    licence: Text | None = None
    prompt_seed: Seed | None = None  # the prompt draw (a prompt twin's own seed)
    derive: Text | None = None  # a control (harness.models.transforms): its base model...
    transform: Text | None = None  # ...the transform...
    seed: int | None = None  # ...and its parameters, checked by the transform
    at: list[int] | None = None
    heads: list[str] | None = None

    def given(self) -> dict[str, Any]:
        return {k: v for k, v in structs.asdict(self).items() if v is not None}


class PairEntry(Schema):
    base: str
    target: str
    kind: Literal[PAIR_KINDS] | None = None  # default: from the families


class DesignFile(Schema):
    """A design file as written."""

    name: DesignName
    models: dict[str, ModelEntry]
    pairs: list[PairEntry] = []
    description: str = ""
    run: RunDefaults = RunDefaults()
    ladders: dict[str, list[str]] = {}


@dataclass(frozen=True)
class Design:
    """A pair design: models, (base, target) pairs with their kind, ladders, and how tables are made."""

    name: str
    path: Path
    models: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...]
    kinds: Mapping[tuple[str, str], str]
    ladders: Mapping[str, tuple[str, ...]]
    run: RunDefaults = RunDefaults()
    model_run: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # per-model run overrides
    description: str = ""

    @property
    def within(self) -> tuple[tuple[str, str], ...]:
        return tuple(p for p in self.pairs if self.kinds[p] == "within")

    @property
    def cross(self) -> tuple[tuple[str, str], ...]:
        return tuple(p for p in self.pairs if self.kinds[p] == "cross")

    @property
    def ladder_pairs(self) -> dict[str, tuple[tuple[str, str], ...]]:
        """Each ladder's consecutive (smaller, bigger) pairs, in order."""
        return {name: tuple(zip(models, models[1:])) for name, models in self.ladders.items()}

    def run_of(self, model: str) -> dict[str, Any]:
        """style, n_prompts, tasks, dtype and weights of `model`'s tables in this design."""
        base = {"style": self.run.style, "n_prompts": self.run.n_prompts, "tasks": self.run.tasks,
                "dtype": self.run.dtype, "weights": "pretrained"}
        return {**base, **self.model_run.get(model, {})}

    def n_prompts_of(self, model: str, method: str, weights: str = "pretrained") -> int:
        """The prompt count of `model`'s `method` tables: its `n_prompts` (one count, or one per method,
        the [run] count for a method it does not name). The tables of its re-quantised twin
        (`weights` "requant:SCHEME") and the original's they are compared with for the weights floor
        use `weights_floor_n_prompts` when the entry gives it."""
        run = self.run_of(model)
        if weights.startswith("requant:") and "weights_floor_n_prompts" in run:
            return int(run["weights_floor_n_prompts"])
        count = run["n_prompts"]
        return int(count.get(method, self.run.n_prompts)) if isinstance(count, Mapping) else int(count)

    def kind(self, pair: tuple[str, str]) -> str:
        return self.kinds[pair]

    def spec_of(self, model: str) -> ModelSpec:
        """The spec of one of the design's models (registry entries and the design's inline ones,
        registered when it was loaded): where a design's model name becomes its spec."""
        if model not in self.models:
            raise DesignError(f"design {self.name}: no model {model!r} (its models: {', '.join(self.models)})")
        return registry.get(model)

    @property
    def specs(self) -> tuple[ModelSpec, ...]:
        """The specs of the design's models, in the design's order."""
        return tuple(self.spec_of(model) for model in self.models)


def builtin(name: str) -> Design:
    """One of the designs that ship with the suite (claims/designs/NAME.toml)."""
    if name not in BUILTIN:
        raise DesignError(f"unknown design {name!r}; the suite ships {', '.join(BUILTIN)} (or give a design file)")
    return load(DESIGNS_DIR / f"{name}.toml")


def resolve(name_or_path: str | Path) -> Design:
    """A built-in design by name, or a design file by path."""
    if str(name_or_path) in BUILTIN:
        return builtin(str(name_or_path))
    return load(Path(name_or_path))


@functools.lru_cache(maxsize=None)
def _load_cached(path: Path, mtime_ns: int, size: int) -> Design:
    return _parse(path)


def load(path: Path | str) -> Design:
    """Read and validate a design file (cached per file version); registers its inline models."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as err:
        raise DesignError(f"design file {path}: cannot be read ({err.strerror or err})") from None
    if not path.is_file():
        raise DesignError(f"design file {path}: not a regular file")
    design = _load_cached(path.resolve(), stat.st_mtime_ns, stat.st_size)
    for spec in _inline_specs(design.path).values():
        registry.register(spec)  # idempotent; a second process-level load re-adds nothing
    return design


_INLINE: dict[Path, dict[str, ModelSpec]] = {}


def _inline_specs(path: Path) -> dict[str, ModelSpec]:
    return _INLINE.get(path, {})


def _parse(path: Path) -> Design:
    where = f"design file {path}"
    file = convert(read_toml(path, DesignError), DesignFile, where, DesignError)
    if len(file.models) < 2:
        raise DesignError(f"{where}: [models] must list at least two models")
    inline: dict[str, ModelSpec] = {}
    model_run: dict[str, dict[str, Any]] = {}
    derived: dict[str, str] = {}  # control -> its base
    for model, entry in file.models.items():
        entry_where = f"{where}, models.{model!r}"
        name_problem = _name_problem(model)
        if name_problem:
            raise DesignError(f"{entry_where}: {name_problem}")
        given = entry.given()
        overrides = {k: v for k, v in given.items() if k in MODEL_RUN_KEYS}
        if overrides:
            model_run[model] = overrides
        spec_keys = {k: v for k, v in given.items() if k not in MODEL_RUN_KEYS}
        if "derive" in spec_keys or "transform" in spec_keys:  # a control: another model's weights through a transform
            inline[model] = _derived_spec(model, spec_keys, inline, entry_where)
            derived[model] = inline[model].derive.base.name
            continue
        stray = sorted(set(spec_keys) & set(DERIVE_KEYS))
        if stray:
            raise DesignError(f"{entry_where}: {', '.join(stray)} only go with derive = BASE, transform = NAME")
        if not spec_keys:
            if model not in registry.MODELS:
                raise DesignError(
                    f"{entry_where}: not in the registry; give its weights inline (hub = ..., local = ..., gguf = ...) "
                    f"or use one of {', '.join(sorted(registry.MODELS))}"
                )
            continue
        inline[model] = _inline_spec(model, spec_keys, path.parent, entry_where)
        if "hf_config" in spec_keys:  # a config alone has no weights: a seeded architecture twin
            model_run.setdefault(model, {}).setdefault("weights", "twin")
        elif overrides.get("weights") == "twin":
            raise DesignError(f"{entry_where}: weights = 'twin' needs hf_config = {{ model_type = ..., num_hidden_layers = ..., "
                              "... }} (the model's config.json) to build its architecture twin from")
    for model, base in derived.items():  # a control is scanned on its base's run spec (same prompts), unless it says otherwise
        merged = {**model_run.get(base, {}), **model_run.get(model, {})}
        if merged:
            model_run[model] = merged
    pairs, kinds = _pairs(file.pairs, set(file.models), inline, where)
    ladders = _ladders(file.ladders, set(file.models), where, set(pairs))
    _INLINE[path] = inline
    for spec in inline.values():
        registry.register(spec)
    return Design(
        name=file.name, path=path, models=tuple(file.models), pairs=pairs, kinds=kinds, ladders=ladders, run=file.run,
        model_run=model_run, description=file.description,
    )


def _name_problem(model: str) -> str | None:
    """Why `model` cannot name a model (it becomes a folder and a table cell), or None: the one rule
    of harness.paths."""
    return name_problem(model)


def _pairs(items: list[PairEntry], models: set[str], inline: Mapping[str, ModelSpec], where: str):
    if not items:
        raise DesignError(f"{where}: at least one [[pairs]] entry (base, target, kind) is needed")
    pairs, kinds = [], {}
    for i, item in enumerate(items, 1):
        item_where = f"{where}, pairs #{i}"
        pair = (item.base, item.target)
        for model in pair:
            if model not in models:
                raise DesignError(f"{item_where}: model {model!r} is not in the design's [models]")
        if pair[0] == pair[1]:
            raise DesignError(f"{item_where}: base and target are the same model {pair[0]!r}")
        if pair in kinds:
            raise DesignError(f"{item_where}: duplicate pair {pair[0]} -> {pair[1]}")
        families = [(inline.get(m) or registry.get(m)).family for m in pair]
        derived = "within" if families[0] == families[1] else "cross"
        kind = item.kind or derived
        if kind != derived:
            raise DesignError(f"{item_where}: kind {kind!r} but the families are {families[0]} and {families[1]} ({derived})")
        pairs.append(pair)
        kinds[pair] = kind
    return tuple(pairs), kinds


def _ladders(table: Mapping[str, list[str]], models: set[str], where: str, pairs: set[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    out = {}
    for name, ladder in table.items():
        ladder_where = f"{where}, ladders.{name}"
        if len(ladder) < 2:
            raise DesignError(f"{ladder_where}: a ladder needs at least two models in order of size")
        for model in ladder:
            if model not in models:
                raise DesignError(f"{ladder_where}: model {model!r} is not in the design's [models]")
        if len(set(ladder)) != len(ladder):
            raise DesignError(f"{ladder_where}: a model appears twice")
        for step in zip(ladder, ladder[1:]):  # W2 reads each step as one of the design's pairs
            if step not in pairs:
                raise DesignError(f"{ladder_where}: the step {step[0]} -> {step[1]} is not one of the design's [[pairs]] "
                                  "(each consecutive step of a ladder is compared as a pair: add it)")
        out[name] = tuple(ladder)
    return out


def _read_config(folder: Path, where: str) -> dict[str, Any]:
    config = folder / "config.json"
    try:
        return json.loads(config.read_text())
    except (OSError, ValueError) as err:
        raise DesignError(f"{where}: {folder} is not a Hugging Face model directory (config.json: {err})") from None


def _geometry(config: Mapping[str, Any]) -> tuple[int | None, int | None]:
    layers = next((config[k] for k in ("num_hidden_layers", "n_layer", "num_layers") if k in config), None)
    heads = next((config[k] for k in ("num_attention_heads", "n_head", "num_heads") if k in config), None)
    return layers, heads


def _size_problem(value: Any, most: int) -> str | None:
    """Why `value` is no layer or head count (a boolean is none), or None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return f"must be an integer in [1, {most}]"
    return None if 1 <= value <= most else f"must be in [1, {most}] (no model has more)"


def _config_key(config: Mapping[str, Any], key: str) -> str:
    names = ("num_hidden_layers", "n_layer", "num_layers") if key == "layers" else ("num_attention_heads", "n_head", "num_heads")
    return next((k for k in names if k in config), names[0])


def _inline_spec(model: str, entry: dict[str, Any], base_dir: Path, where: str) -> ModelSpec:
    """A ModelSpec for a model given inline: a hub id, a local HF directory, a GGUF file, or a twin config."""
    given = [k for k in WEIGHT_KEYS if k in entry]
    if len(given) != 1:
        raise DesignError(f"{where}: give exactly one of {', '.join(WEIGHT_KEYS)} (got {', '.join(given) or 'none'})")
    if "family" not in entry:
        raise DesignError(f"{where}: an inline model needs a family (pairs of one family are 'within')")
    kind = given[0]
    config: dict[str, Any] = dict(entry.get("hf_config", {}))
    hub_id, local_dir, gguf = entry.get("hub", ""), None, None
    if kind == "local":
        local_dir = Path(entry["local"]).expanduser()
        local_dir = local_dir if local_dir.is_absolute() else base_dir / local_dir
        config = _read_config(local_dir, where)
        hub_id = str(local_dir)
    elif kind == "gguf":
        gguf = _gguf_source(model, entry, base_dir, where)
        donor = entry.get("config_from")
        if donor is None or donor not in registry.MODELS:
            raise DesignError(f"{where}: a GGUF model needs config_from = <a registry model of the same architecture>")
        config = dict(registry.get(donor).hf_config)
        entry = {"architecture": registry.get(donor).architecture, **entry}
    elif kind == "hf_config" and "architecture" not in entry:
        raise DesignError(f"{where}: a twin (hf_config) needs architecture = '<HF class name>'")
    elif kind == "hub":
        if "architecture" not in entry or "n_layers" not in entry or "n_heads" not in entry:
            raise DesignError(f"{where}: a hub model needs architecture, n_layers and n_heads (its config is not on this machine)")
    layers, heads = _geometry(config)
    layers, heads = entry.get("n_layers", layers), entry.get("n_heads", heads)
    if layers is None or heads is None:
        raise DesignError(f"{where}: geometry unknown (give n_layers and n_heads, or a config with them)")
    for key, value, most in (("layers", layers, MAX_LAYERS), ("heads", heads, MAX_HEADS)):
        problem = _size_problem(value, most)
        if problem:
            named = "n_" + key if "n_" + key in entry else f"its config's {_config_key(config, key)}"
            shown = str(value).lower() if isinstance(value, bool) else repr(value)  # as TOML writes it
            raise DesignError(f"{where}: {named} = {shown} {problem}")
    architecture = entry.get("architecture") or (config.get("architectures") or [None])[0]
    if not architecture:
        raise DesignError(f"{where}: architecture unknown (give architecture = '<HF class name>')")
    return ModelSpec(
        name=model, family=str(entry["family"]), hub_id=hub_id or model, architecture=architecture, n_layers=layers,
        n_heads=heads, n_params=0, tokenizer=entry.get("tokenizer", "gguf" if gguf else "gpt2"), hf_config=config,
        gguf=gguf, prepend_bos=bool(entry.get("prepend_bos", True)), local_dir=str(local_dir) if local_dir else None,
    )


def _derived_spec(model: str, entry: dict[str, Any], inline: Mapping[str, ModelSpec], where: str) -> ModelSpec:
    """A control's ModelSpec: `derive = BASE, transform = NAME` and the transform's parameters
    (harness.models.transforms); BASE is a registry model or one given earlier in the design."""
    from harness.models import transforms

    base_name, name = entry.get("derive"), entry.get("transform")
    base = inline.get(base_name) or registry.MODELS.get(base_name) if isinstance(base_name, str) else None
    if base is None:
        raise DesignError(f"{where}: derive = {base_name!r} is no registry model nor one given earlier in [models]")
    if not isinstance(name, str):
        raise DesignError(f"{where}: a derived model needs transform = one of {', '.join(transforms.TRANSFORMS)}")
    geometry = transforms.spec_geometry(base)
    try:
        params = transforms.check_params(name, {k: v for k, v in entry.items() if k not in ("derive", "transform")}, geometry)
    except ValueError as err:
        raise DesignError(f"{where}: {err}") from None
    n_layers, n_heads, _ = transforms.derived_geometry(name, params, geometry)
    return ModelSpec(
        name=model, family=base.family, hub_id=base.hub_id, architecture=base.architecture, n_layers=n_layers,
        n_heads=n_heads, n_params=base.n_params, tokenizer=f"gguf:{base.name}" if base.tokenizer == "gguf" else base.tokenizer,
        hf_config=base.hf_config, prepend_bos=base.prepend_bos, derive=registry.Derivation(base, name, params),
    )


def _gguf_source(model: str, entry: dict[str, Any], base_dir: Path, where: str) -> GgufSource:
    path = Path(entry["gguf"]).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        raise DesignError(f"{where}: GGUF file {path} does not exist")
    pinned = entry.get("sha256")
    if not isinstance(pinned, str) or len(pinned) != 64:
        raise DesignError(f"{where}: a GGUF model needs sha256 = <64 hex digits> (its file is refused otherwise)")
    actual = sha256_of(path)
    if actual != pinned.lower():
        raise DesignError(f"{where}: GGUF file {path} has sha256 {actual}, not the pinned {pinned}")
    return GgufSource(packages=(), parts=((GgufSource.LOCAL, str(path)),), sha256=actual, file_name=path.name,
                      licence=str(entry.get("licence", "unstated")), upstream=model)
