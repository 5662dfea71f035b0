"""frac_missing_geometry for the seed's pairs, checked against the geometry of architecture twins.

The registry says how many layers and heads each model has; here each target model's random twin
(exact architecture, no weights) is run once and its hook_z activations say it instead. The seed's
"missing" reading (an index that does not exist in the target) must come out the same either way.
"""

import pytest
import torch

from harness.data.designs import builtin
from harness.data import published
from harness.models import registry
from harness.analysis import transfer
from harness.claims import thresholds
from harness.models.loaders import load_model

pytestmark = pytest.mark.integration

TARGETS = sorted({t for _, t in builtin("seed").pairs})


def twin_geometry(name: str) -> tuple[int, int]:
    """(n_layers, n_heads) read off the twin's hook_z activations on a short prompt."""
    loaded = load_model(registry.get(name), weights="twin", device="cpu", progress=False)
    shapes = {}

    def record(z, hook):
        shapes[hook.name] = tuple(z.shape)

    names = [k for k in loaded.bridge.hook_dict if k.endswith("attn.hook_z")]
    with torch.no_grad():
        loaded.bridge.run_with_hooks(torch.tensor([[1, 2, 3]]), fwd_hooks=[(n, record) for n in names])
    n_heads = {s[2] for s in shapes.values()}
    assert len(n_heads) == 1, shapes
    return len(shapes), n_heads.pop()


@pytest.mark.parametrize("target", TARGETS)
def test_missing_geometry_agrees_with_the_twin(target):
    n_layers, n_heads = twin_geometry(target)
    assert (n_layers, n_heads) == (registry.get(target).n_layers, registry.get(target).n_heads)
    table, _ = published.load_heads()
    for base, tgt in builtin("seed").pairs:
        if tgt != target:
            continue
        heads = transfer.transfer_heads(table, base, tgt, **thresholds.load().transfer.kwargs())
        from_twin = [not (layer < n_layers and head < n_heads) for layer, head in zip(heads["layer"], heads["head"])]
        assert heads["missing_geometry"].tolist() == from_twin
