"""What each zoo GGUF file says it is, against what the registry states; and a perturbed twin's weights.

- The registry's `GgufFacts` (general.name, the nominal file type, the tensor types and counts, tied or
  untied output, base or instruct) equal what `harness.models.requant.read_file_quantisation` reads from
  each installed file (header and tensor infos only: no dequantisation).
- SmolLM2-135M's twin re-quantised with the registry's scheme changes exactly the tensors the file
  stores quantised (every 2-D weight, 211), by the size benchmarks/requant_errors.py measured for the
  scheme, and leaves the F32 norms bit-identical; it has its own fingerprint (its own cache keys).
"""

from __future__ import annotations

import pytest
import torch

from harness.models import registry
from harness.models.weights import weights_available

pytestmark = pytest.mark.integration

GGUF_MODELS = [name for name, spec in registry.MODELS.items() if spec.gguf is not None]


def _need(model: str) -> None:
    ok, why = weights_available(registry.get(model))
    if not ok:
        pytest.skip(f"weights not installed: {why}")


@pytest.mark.parametrize("model", GGUF_MODELS)
def test_the_registry_states_what_the_gguf_file_says(model):
    _need(model)
    from harness.models import gguf as gguf_weights
    from harness.models.requant import read_file_quantisation

    stated = registry.get(model).gguf.facts
    assert stated is not None, f"{model}: the registry states no GgufFacts (python -m harness models --details prints them)"
    read = read_file_quantisation(gguf_weights.gguf_path(registry.get(model)), estimate_error=False)
    assert read.general.get("name") == stated.general_name
    assert read.file_type_name == stated.file_type
    assert read.tensor_types() == stated.tensor_types
    assert read.untied_output == stated.untied_output
    assert read.tuning == stated.tuning


def test_the_perturbed_twin_changes_exactly_the_quantised_tensors():
    model = "smollm2-135m"
    _need(model)
    from harness.models import requant
    from harness.models.loaders import load_model, requant_marker

    scheme = requant.scheme_of(registry.ZOO_WEIGHTS_TWIN)
    original = load_model(registry.get(model), device="cpu", progress=False)
    twin = load_model(registry.get(model), weights=registry.ZOO_WEIGHTS_TWIN, device="cpu", progress=False)
    assert twin.fingerprint != original.fingerprint and twin.fingerprint.startswith("requant-")
    a = original.bridge.original_model.state_dict()
    b = twin.bridge.original_model.state_dict()
    assert a.keys() == b.keys()
    changed = {n for n in a if not torch.equal(a[n], b[n])}
    two_d = {n for n in a if a[n].ndim == 2}
    assert changed <= two_d and all(torch.equal(a[n], b[n]) for n in a if a[n].ndim == 1)
    marker = requant_marker(registry.get(model), scheme)
    assert marker["tensors_requantized"] == registry.get(model).gguf.facts.tensor_types[0][1] + 1  # 210 Q4_1 + the Q8_0 embedding
    total, seen = requant.ErrorSum(), set()
    for n in sorted(two_d):
        if a[n].data_ptr() in seen:  # the tied head is the embedding: count it once, as the file stores it
            continue
        seen.add(a[n].data_ptr())
        total.add(a[n].numpy(), b[n].numpy())
    err = total.result()
    assert err.rel_rms == pytest.approx(marker["error"]["rel_rms"], rel=1e-3)
    assert 0.05 < err.rel_rms < 0.15  # a Q4_0-sized change (Gaussian rows: 0.086), not a no-op nor a new model
