"""Loads claims/thresholds.toml, the one file that turns the seed's words into numbers."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from harness.paths import REPO_ROOT

THRESHOLDS_FILE = REPO_ROOT / "claims" / "thresholds.toml"


@lru_cache(maxsize=4)
def load(path: Path = THRESHOLDS_FILE) -> dict[str, Any]:
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def quantifier_holds(word: str, value: float, thresholds: dict[str, Any]) -> bool:
    """Whether a fraction satisfies a quantifier word ('moderate', 'most', ...) of the thresholds file."""
    try:
        rule = thresholds["quantifiers"][word]
    except KeyError:
        raise KeyError(f"quantifier {word!r} has no entry in {THRESHOLDS_FILE.name}") from None
    ok = True
    if "min" in rule:
        ok &= value >= rule["min"]
    if "min_exclusive" in rule:
        ok &= value > rule["min_exclusive"]
    if "max_exclusive" in rule:
        ok &= value < rule["max_exclusive"]
    return bool(ok)


def quantifier_text(word: str, thresholds: dict[str, Any]) -> str:
    """The quantifier as a readable condition, e.g. 'moderate: 0.20 <= x < 0.50'."""
    rule = thresholds["quantifiers"][word]
    parts = []
    if "min" in rule:
        parts.append(f"{rule['min']:.2f} <= x")
    if "min_exclusive" in rule:
        parts.append(f"{rule['min_exclusive']:.2f} < x")
    cond = " and ".join(parts) if parts else "x"
    if "max_exclusive" in rule:
        cond = f"{cond} < {rule['max_exclusive']:.2f}" if parts else f"x < {rule['max_exclusive']:.2f}"
    return f"{word}: {cond}"
