"""Argument types of `python -m harness` and its bench: a value out of range is refused by argparse
with one line naming the option (exit 2), before anything runs (devices: harness.options.device)."""

from __future__ import annotations

import argparse
from typing import Callable

from harness.sizes import MAX_DRAWS, MAX_PROMPTS


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """An int type accepting low <= value (<= high)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} must be >= {low}" + (f" and <= {high}" if high is not None else ""))
        return value

    parse.__name__ = "int"  # argparse names the type in its message
    return parse


def model_name(text: str) -> str:
    """A registry model name (exact: surrounding spaces are named as such)."""
    from harness.models import registry

    if text in registry.MODELS:
        return text
    if text.strip() in registry.MODELS:
        raise argparse.ArgumentTypeError(f"{text!r} has leading or trailing spaces (did you mean {text.strip()!r}?)")
    raise argparse.ArgumentTypeError(f"unknown model {text!r}; known: {', '.join(registry.MODELS)}")


SEED = int_in(0, 2**32 - 1)  # numpy's seed range
POSITIVE = int_in(1)
PROMPTS = int_in(2, MAX_PROMPTS)  # a split half needs two; beyond the bound a count is a typo (harness.sizes)
DRAWS = int_in(0, MAX_DRAWS)
