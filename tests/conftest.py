"""Fixtures shared by every test tier."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.paths import CACHE_ENV


@pytest.fixture
def tmp_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private harness cache ($IOI_CLAIMS_CACHE)."""
    cache = tmp_path / "harness-cache"
    monkeypatch.setenv(CACHE_ENV, str(cache))
    return cache


@pytest.fixture(autouse=True)
def _unit_tier_loads_no_pretrained_weights(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The unit tier is what its marker says (pyproject.toml): under `unit`, loading a model whose real
    weights are on this machine (hub, local directory or GGUF, a re-quantised twin included) fails the
    test. Seeded twins load, and so does a load that ends in WeightsNotFound."""
    if request.node.get_closest_marker("unit") is None or request.node.get_closest_marker("integration") is not None:
        return  # a test of a unit module that marks itself integration (it reads a small weights file) may load
    from harness.models import loaders
    from harness.models.weights import weights_available

    def guarded(load):
        def refuse_real_weights(spec, *args, **kwargs):
            if weights_available(spec)[0]:
                pytest.fail(f"a unit test loaded the pretrained weights of {spec.name}; the unit tier loads none "
                            "(mark it integration, or use weights='twin')", pytrace=False)
            return load(spec, *args, **kwargs)

        return refuse_real_weights

    for name in ("_load_hub", "_local_module", "_gguf_module"):
        monkeypatch.setattr(loaders, name, guarded(getattr(loaders, name)))


@pytest.fixture
def one_error_line(capsys: pytest.CaptureFixture[str]):
    """Read what a refused command wrote to stderr: exactly one line (notes aside) that starts with
    "error: " and holds no traceback; returns it."""

    def read() -> str:
        err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("note:")]
        assert len(err) == 1, err
        assert err[0].startswith("error: ") and "Traceback" not in err[0]
        return err[0]

    return read
