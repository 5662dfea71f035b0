"""Role tables of the zoo models (harness.scoring.roles), cached by content and committed like the
head tables: fixtures/roles/<model>/<digest>/{table.csv, meta.json}, read-only, tried after the user
cache (<cache>/roles/). The digest hashes the content key: model, weights fingerprint, the IOI prompt
spec (the zoo style: the same sentences as the committed zoo head tables, `ROLE_N_PROMPTS` of them),
the repeated-token spec, the copy-score settings, the dtype and the harness version.

`stored_roles(model)` reads a table without the weights; `compute_roles(model)` loads them.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness import HARNESS_VERSION
from harness.data.ioi_dataset import TaskSpec
from harness.models.registry import ModelSpec
from harness.paths import FIXTURES_DIR, cache_dir
from harness.runs.cache import digest_of

log = logging.getLogger("harness.roles")

ROLES_VERSION = 1  # bump when a score's definition changes (it is part of the key)
ROLE_N_PROMPTS = 32  # IOI prompts per role table: attention and DLA are means, 32 suffice for a map
COMMITTED_ROOT = FIXTURES_DIR / "roles"


@dataclass(frozen=True)
class RoleSpec:
    """Everything that decides a role table besides the model."""

    n_prompts: int = ROLE_N_PROMPTS
    prompt_seed: int = 0
    repeat_n_seqs: int = 16
    repeat_length: int = 32
    repeat_seed: int = 0
    copy_names: int = 32
    dtype: str = "float32"

    def ioi(self, model: ModelSpec) -> TaskSpec:
        """The zoo prompt spec (harness.runs.recompute.zoo_run's style) with this spec's count."""
        return TaskSpec(task="ioi", style="zoo", n_prompts=self.n_prompts, seed=self.prompt_seed,
                        prepend_bos=model.prepend_bos)

    def repeat(self):
        from harness.scoring.roles import RepeatSpec

        return RepeatSpec(n_seqs=self.repeat_n_seqs, length=self.repeat_length, seed=self.repeat_seed)


def role_key(model: ModelSpec, spec: RoleSpec = RoleSpec()) -> dict[str, Any]:
    """The content key of `model`'s role table under `spec` (no weights needed: GGUF fingerprints are pinned)."""
    from harness.models.weights import weights_fingerprint

    return {
        "model": model.name,
        "fingerprint": weights_fingerprint(model),
        "ioi": spec.ioi(model).key(),
        "repeat": {"n_seqs": spec.repeat_n_seqs, "length": spec.repeat_length, "seed": spec.repeat_seed},
        "copy": {"names": spec.copy_names, "top": 5},
        "dtype": spec.dtype,
        "harness_version": HARNESS_VERSION,
        "roles_version": ROLES_VERSION,
    }


def user_root() -> Path:
    return cache_dir() / "roles"


def _folder(root: Path, key: dict[str, Any]) -> Path:
    return root / key["model"] / digest_of(key)


def _read(folder: Path) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    table_path, meta_path = folder / "table.csv", folder / "meta.json"
    if not (table_path.is_file() and meta_path.is_file()):
        return None
    text = table_path.read_text()
    meta = json.loads(meta_path.read_text())
    if hashlib.sha256(text.encode()).hexdigest() != meta.get("table_sha256"):
        log.warning("role table %s does not match its sha256: ignored", folder)
        return None
    return pd.read_csv(io.StringIO(text)), meta


def write_entry(root: Path, key: dict[str, Any], table: pd.DataFrame, meta: dict[str, Any]) -> Path:
    folder = _folder(root, key)
    folder.mkdir(parents=True, exist_ok=True)
    text = table.to_csv(index=False, float_format="%.6g")
    meta = {**meta, "key": key, "table_sha256": hashlib.sha256(text.encode()).hexdigest()}
    for name, payload in (("table.csv", text), ("meta.json", json.dumps(meta, indent=2, sort_keys=True) + "\n")):
        tmp = folder / f".{name}.tmp"
        tmp.write_text(payload)
        tmp.replace(folder / name)
    return folder


def stored_entry(model: ModelSpec, spec: RoleSpec = RoleSpec()) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    key = role_key(model, spec)
    for root in (user_root(), COMMITTED_ROOT):
        hit = _read(_folder(root, key))
        if hit is not None:
            return hit
    return None


def design_role_spec(design: Any, model: str) -> RoleSpec:
    """The role spec of a design model: the default, on the model's own prompt seed (a prompt twin's
    role table is made on its independent draw: prompts and repeated tokens on that seed)."""
    seed = int(dict(design.run_of(model)).get("prompt_seed", 0))
    return RoleSpec(prompt_seed=seed, repeat_seed=seed)


def stored_roles(model: ModelSpec, spec: RoleSpec = RoleSpec()) -> pd.DataFrame | None:
    """`model`'s role table (columns model, layer, head, one per score), from the user cache or the
    committed fixtures, or None when neither has one under `spec`."""
    hit = stored_entry(model, spec)
    if hit is None:
        return None
    table = hit[0]
    return table.assign(model=model.name)[["model", *[c for c in table.columns if c != "model"]]]


def compute_command(model: str) -> str:
    return f"python -m harness roles --model {model} --compute"


@dataclass
class RoleRun:
    table: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)


def compute_roles(model: ModelSpec, spec: RoleSpec = RoleSpec(), *, device: str = "auto", progress: bool = True) -> RoleRun:
    """Load `model`, score every head's roles, store the table in the user cache; the seconds it took
    (load and scoring separately) are in the meta."""
    from harness.data.ioi_dataset import build_prompts
    from harness.models.loaders import load_model
    from harness.runs.recompute import _versions
    from harness.scoring.roles import role_table

    started = time.perf_counter()
    loaded = load_model(model, device=device, dtype=spec.dtype, progress=progress)
    loaded_at = time.perf_counter()
    prompts = build_prompts(spec.ioi(model), loaded.tokenizer)
    table = role_table(loaded.bridge, prompts, spec.repeat(), model.prepend_bos,
                       copy_names=spec.copy_names, progress=progress)
    done = time.perf_counter()
    meta = {
        "load_seconds": round(loaded_at - started, 1),
        "seconds": round(done - loaded_at, 1),
        "n_names": table.attrs.get("n_names"),
        "device": str(loaded.device),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": _versions(),
    }
    key = role_key(model, spec)
    write_entry(user_root(), key, table, meta)
    return RoleRun(table, meta)


def commit_roles(model: ModelSpec, spec: RoleSpec = RoleSpec()) -> Path:
    """Copy `model`'s role table from the user cache into fixtures/roles/ (to be committed)."""
    key = role_key(model, spec)
    hit = _read(_folder(user_root(), key))
    if hit is None:
        raise FileNotFoundError(f"no role table of {model.name} under this spec in {user_root()}; run `{compute_command(model.name)}` first")
    table, meta = hit
    kept = {k: v for k, v in meta.items() if k not in ("key", "table_sha256")}
    return write_entry(COMMITTED_ROOT, key, table, kept)


def zoo_roles() -> dict[str, pd.DataFrame]:
    """The stored role tables of the zoo models that have one."""
    from harness.data.designs import builtin

    out = {}
    for model in builtin("zoo").specs:
        table = stored_roles(model)
        if table is not None:
            out[model.name] = table
    return out
