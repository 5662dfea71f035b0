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
