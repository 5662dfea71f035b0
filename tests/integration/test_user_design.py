"""A design nobody wrote into the code, scored end to end: two seeded Llama twins of different size and
SmolLM2-135M (tests/integration/designs/twins.toml). The twins are scanned (16 prompts, seconds) into a
private cache; SmolLM2's committed zoo table is read as is. Every registry claim that the design has the
pieces for is checked, W2 walks the design's own ladder, the Pythia claims are not applicable; a model
from a local Hugging Face directory is one design entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.models import registry
from harness.analysis.weights_floor import weights_key
from harness.claims import checks, sources
from harness.data import designs
from harness.scoring.methods import GATE_METHODS

pytestmark = pytest.mark.integration

DESIGN = Path(__file__).parent / "designs" / "twins.toml"


@pytest.fixture
def user_design(monkeypatch):
    monkeypatch.setattr(sources, "_USER_SOURCES", [])
    monkeypatch.setattr(sources, "_USER_DESIGNS", {})
    return sources.use_design(DESIGN)


def test_twins_design_end_to_end(tmp_cache, user_design):
    assert user_design == tuple(f"twins:{m}" for m in GATE_METHODS)  # a design without [run] methods: the gate's
    src = sources.load("twins:zero", compute=True)
    assert set(src.table["model"]) == {"smollm2-135m", "twin-small", "twin-big"}
    # prompt floors from the per-prompt arrays of the fresh scans too; a weights floor where a twin's
    # table is stored on the same prompts (SmolLM2's committed zero-ablation twin), none for the twins
    assert set(src.floors) == {"smollm2-135m", "twin-small", "twin-big", weights_key("smollm2-135m")}
    ev = checks.evaluate_source(src)
    claims = {claim for claim, _ in ev.checks}
    assert {"W1", "W2", "X1", "X2", "X3", "T1", "T2", "T3", "F1"} <= claims
    assert ev.checks[("W2", "lost")].measured.startswith("frac_lost along the ladder = ")  # twin-small -> twin-big
    assert all(("P%d" % i, "not_applicable") in ev.unavailable for i in range(1, 7))
    # smollm2 (30 layers) -> a 2-layer twin: every base head's index is absent from the target
    assert ev.checks[("X1", "smollm2-135m->twin-small")].value == 1.0


def test_a_local_hugging_face_directory_is_one_design_entry(tmp_cache, tmp_path, monkeypatch):
    """A twin saved with save_pretrained is a model directory; the design names it with `local = PATH`
    and the harness scores it like any other model (its fingerprint is the directory's content)."""
    from harness.models.loaders import build_twin_module, load_model
    from harness.models.weights import weights_fingerprint
    from harness.models.tokenizers import tokenizer_of

    twin = designs.load(DESIGN)
    spec = registry.get("twin-small")
    folder = tmp_path / "ckpt"
    build_twin_module(spec, seed=3).save_pretrained(folder)
    tokenizer_of(registry.get("smollm2-135m")).save_pretrained(folder)
    text = DESIGN.read_text().replace('name = "twins"', 'name = "localdir"')
    text = text.replace("[models.twin-big]", f'[models.ckpt]\nlocal = "{folder}"\nfamily = "twin"\nn_prompts = 16\n\n[models.twin-big]')
    text += '\n[[pairs]]\nbase = "twin-small"\ntarget = "ckpt"\n'
    path = tmp_path / "local.toml"
    path.write_text(text)
    monkeypatch.setattr(sources, "_USER_SOURCES", [])
    monkeypatch.setattr(sources, "_USER_DESIGNS", {})
    sources.use_design(path)
    assert registry.get("ckpt").source == "local" and registry.get("ckpt").n_layers == 2
    fingerprint = weights_fingerprint(registry.get("ckpt"))
    assert fingerprint.startswith("local-") and load_model(registry.get("ckpt")).fingerprint == fingerprint
    src = sources.load("localdir:mean", compute=True)
    assert "ckpt" in set(src.table["model"])
    ev = checks.evaluate_source(src)
    assert ("W1", "twin-small->ckpt") in ev.checks and twin.name == "twins"
