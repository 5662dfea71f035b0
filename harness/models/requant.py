"""Perturbed twins of a GGUF model: its dequantised weights re-quantised with the `gguf` package's own
quantisers and dequantised again, and the size of that perturbation and of each file's own quantisation.

A perturbed twin is the same model with a second, independent rounding of its weight matrices: the
noise a different quantisation of the same checkpoint would bring. Its head table against the
original's is the *weights-noise floor* (harness.analysis.noise_floor): how much of a pair's loss of
heads weight rounding alone could produce. Only the tensors the file stores quantised are touched:
every 2-D weight (the matrices and the embedding; the norms and biases are F32 in the zoo's files and
stay exact), which `quantised_tensor_count` checks against the file.

Pure numpy; the loaders (harness.models.loaders) apply `requantize` to a dequantised copy and store
the result in the cache under a fingerprint of (original sha256, scheme, gguf version): content-addressed,
never committed.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# The schemes the gguf package can quantise to (it dequantises many more, K-quants included).
SCHEMES: tuple[str, ...] = ("Q8_0", "Q5_1", "Q5_0", "Q4_1", "Q4_0")
PREFIX = "requant:"


def weights_kind(scheme: str) -> str:
    """The `weights` value of a registry model's twin re-quantised with `scheme`, e.g. "requant:Q4_0"."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown re-quantisation scheme {scheme!r}; the gguf package quantises to {', '.join(SCHEMES)}")
    return PREFIX + scheme


def scheme_of(weights: str) -> str | None:
    """The scheme of a "requant:SCHEME" weights kind, None for any other kind; ValueError for an unknown scheme."""
    if not weights.startswith(PREFIX):
        return None
    scheme = weights[len(PREFIX):]
    weights_kind(scheme)  # validates
    return scheme


def _qtype(scheme: str):
    from gguf import GGMLQuantizationType

    return GGMLQuantizationType[scheme]


def requantize(array: np.ndarray, scheme: str) -> np.ndarray:
    """`array` (float32, last dim a multiple of 32: a GGUF row) quantised with `scheme` and dequantised
    back to float32, by the gguf package's own quantiser."""
    from gguf import quants

    values = np.ascontiguousarray(array, dtype=np.float32)
    qtype = _qtype(scheme)
    return quants.dequantize(quants.quantize(values, qtype), qtype).reshape(values.shape).astype(np.float32)


def should_perturb(shape: tuple[int, ...]) -> bool:
    """Whether a state-dict tensor of this shape is one the GGUF file stores quantised: every 2-D
    weight (matrices, embeddings); 1-D norms and biases are F32 in the file."""
    return len(shape) == 2


@dataclass(frozen=True)
class Error:
    """The size of a perturbation x -> x' over a set of values."""

    mean_abs: float  # mean |x' - x|
    rel_rms: float  # ||x' - x|| / ||x||
    n: int

    def as_dict(self) -> dict[str, float]:
        return {"mean_abs": self.mean_abs, "rel_rms": self.rel_rms, "n": self.n}


def error(original: np.ndarray, perturbed: np.ndarray) -> Error:
    diff = perturbed.astype(np.float64) - original.astype(np.float64)
    norm = float(np.sqrt((original.astype(np.float64) ** 2).sum()))
    return Error(float(np.abs(diff).mean()), float(np.sqrt((diff**2).sum())) / norm if norm else 0.0, diff.size)


def gaussian_errors(n_rows: int = 256, row: int = 4096, seed: int = 0) -> dict[str, Error]:
    """Each scheme's error on standard Gaussian rows (seeded): the scheme's own size, data-independent."""
    x = np.random.default_rng(seed).standard_normal((n_rows, row)).astype(np.float32)
    return {scheme: error(x, requantize(x, scheme)) for scheme in SCHEMES}


class ErrorSum:
    """Accumulates sum |d|, sum d^2, sum x^2 and n over many tensors, for one pooled Error."""

    def __init__(self) -> None:
        self.abs = self.sq = self.ref = 0.0
        self.n = 0

    def add(self, original: np.ndarray, perturbed: np.ndarray) -> None:
        diff = perturbed.astype(np.float64) - original.astype(np.float64)
        self.abs += float(np.abs(diff).sum())
        self.sq += float((diff**2).sum())
        self.ref += float((original.astype(np.float64) ** 2).sum())
        self.n += diff.size

    def result(self) -> Error:
        return Error(self.abs / self.n if self.n else 0.0, float(np.sqrt(self.sq / self.ref)) if self.ref else 0.0, self.n)


# ---------------------------------------------------------------------------------------------
# what the file says about itself


def _block_steps(tensor) -> tuple[np.ndarray, int]:
    """Per-sub-block rounding steps of a quantised GGUF tensor read from its raw blocks, and the
    values per sub-block (the step is the distance between adjacent levels of that sub-block)."""
    from gguf import GGMLQuantizationType as T
    from gguf.quants import Q4_K

    kind = tensor.tensor_type
    raw = np.asarray(tensor.data).view(np.uint8)
    if kind in (T.Q8_0, T.Q5_0, T.Q4_0, T.Q4_1, T.Q5_1):
        size = {T.Q8_0: 34, T.Q5_0: 22, T.Q4_0: 18, T.Q4_1: 20, T.Q5_1: 24}[kind]
        blocks = raw.reshape(-1, size)
        return np.abs(blocks[:, :2].copy().view(np.float16).astype(np.float64)).ravel(), 32
    if kind == T.Q4_K:
        blocks = raw.reshape(-1, 144)
        d = blocks[:, :2].copy().view(np.float16).astype(np.float64)
        sc, _ = Q4_K.get_scale_min(blocks[:, 4:16].copy())
        return np.abs(d * sc.astype(np.float64)).ravel(), 32
    if kind == T.Q6_K:
        blocks = raw.reshape(-1, 210)
        scales = blocks[:, 192:208].copy().view(np.int8).astype(np.float64)
        d = blocks[:, 208:210].copy().view(np.float16).astype(np.float64)
        return np.abs(d * scales).ravel(), 16
    raise ValueError(f"no step rule for {kind.name}")


@dataclass(frozen=True)
class FileQuantisation:
    """A GGUF file's quantisation, read from the file: tensor types and counts, whether it stores an
    output matrix (untied head), its general.* names, and each quantised type's estimated rounding
    error relative to the weights (step^2 / 12 per value, from the blocks' own scales)."""

    general: dict[str, str]
    file_type: int | None
    type_counts: dict[str, int]  # tensor type -> number of tensors
    type_values: dict[str, int]  # tensor type -> number of values
    untied_output: bool
    has_chat_template: bool
    rounding_rel_rms: dict[str, float]  # quantised type -> estimated relative RMS rounding error
    rounding_rel_rms_all: float  # pooled over every quantised tensor
    output_type: str | None
    embedding_type: str | None

    @property
    def file_type_name(self) -> str:
        from gguf import LlamaFileType

        try:
            return LlamaFileType(self.file_type).name
        except ValueError:
            return str(self.file_type)

    @property
    def tuning(self) -> str:
        """"instruct" when the file carries a fine-tune tag or name saying so, or a chat template; else "base"."""
        words = (self.general.get("finetune", "") + " " + self.general.get("name", "")).lower()
        return "instruct" if ("instruct" in words or self.general.get("finetune") or self.has_chat_template) else "base"

    def tensor_types(self) -> tuple[tuple[str, int], ...]:
        """(type, count) by count, F32 last: the registry's GgufFacts.tensor_types order."""
        return tuple(sorted(self.type_counts.items(), key=lambda kv: (kv[0] == "F32", -kv[1], kv[0])))

    @property
    def quantised_tensor_count(self) -> int:
        return sum(n for kind, n in self.type_counts.items() if kind not in ("F32", "F16", "BF16"))

    def mix(self) -> str:
        """e.g. "Q5_0 x133, Q8_0 x13, Q4_K x12, Q6_K x12, F32 x121"."""
        return ", ".join(f"{k} x{n}" for k, n in self.tensor_types())


def read_file_quantisation(path: Path, *, estimate_error: bool = True) -> FileQuantisation:
    """The quantisation facts of the GGUF file at `path` (header and tensor infos; with
    `estimate_error` also the blocks' scales, a few seconds for a 1.5B file)."""
    from gguf import GGUFReader

    from harness.models.gguf import reading

    with reading(path):  # a truncated file whose hash is the pinned one: a line naming it
        reader = GGUFReader(str(path))
    general = {}
    for key, field in reader.fields.items():
        if key.startswith("general.") and key not in ("general.file_type", "general.quantization_version"):
            try:
                value = field.contents()
            except Exception:  # a field type the reader cannot render: leave it out
                continue
            general[key[len("general."):]] = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    file_type = reader.fields["general.file_type"].contents() if "general.file_type" in reader.fields else None
    counts: collections.Counter[str] = collections.Counter()
    values: collections.Counter[str] = collections.Counter()
    step_sq: collections.Counter[str] = collections.Counter()
    ref_sq: collections.Counter[str] = collections.Counter()
    names = {}
    for tensor in reader.tensors:
        kind = tensor.tensor_type.name
        names[tensor.name] = kind
        counts[kind] += 1
        values[kind] += int(tensor.n_elements)
        if estimate_error and kind not in ("F32", "F16", "BF16"):
            from gguf import quants

            steps, per = _block_steps(tensor)
            step_sq[kind] += float((steps**2).sum()) * per / 12.0
            ref_sq[kind] += float((quants.dequantize(np.asarray(tensor.data), tensor.tensor_type).astype(np.float64) ** 2).sum())
    rel = {kind: float(np.sqrt(step_sq[kind] / ref_sq[kind])) for kind in step_sq if ref_sq[kind]}
    pooled = float(np.sqrt(sum(step_sq.values()) / sum(ref_sq.values()))) if ref_sq else float("nan")
    return FileQuantisation(
        general=general,
        file_type=int(file_type) if file_type is not None else None,
        type_counts=dict(counts),
        type_values=dict(values),
        untied_output="output.weight" in names,
        has_chat_template="tokenizer.chat_template" in reader.fields,
        rounding_rel_rms=rel,
        rounding_rel_rms_all=pooled,
        output_type=names.get("output.weight"),
        embedding_type=names.get("token_embd.weight"),
    )
