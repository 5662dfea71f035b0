"""Argument types of `python -m harness` and the options several commands share, each declared once
here (or, when the pytest plugin shares it too, in harness.options): a value out of range is refused by
argparse with one line naming the option (exit 2), before anything runs (devices: harness.options.device)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from harness import options
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


def add_source(p: argparse.ArgumentParser) -> None:
    """--source and the options of a source that may scan: --no-compute, --device, --design."""
    p.add_argument(
        "--source", default="published",
        help="published | recomputed:mean | recomputed:zero | zoo:mean | zoo:zero | file:PATH (report: comma-separated list)"
    )
    options.add_argparse(p, "no-compute", "device", "design")


def add_transfer_overrides(p: argparse.ArgumentParser) -> None:
    """--k and --ties: the [transfer] values of claims/thresholds.toml a run overrides."""
    from harness.analysis.transfer import TIE_POLICIES

    p.add_argument("--k", type=int, default=None, help="base heads per pair (default: [transfer] k of claims/thresholds.toml)")
    p.add_argument("--ties", default=None, choices=TIE_POLICIES, help="tie policy (default: [transfer] ties of claims/thresholds.toml)")


def add_scan_options(p: argparse.ArgumentParser, dtype: str | None = "float32") -> None:
    """--dtype, --workers, --executor, --ray-address: how a scan runs."""
    from harness.runs.sharded_scan import EXECUTORS

    p.add_argument("--dtype", default=dtype, choices=["float32", "bfloat16", "float16"],
                   help="compute dtype (float32 is the reference; bfloat16 ~2x faster on this CPU)"
                   + ("" if dtype else "; default: the design's dtype of each model"))
    p.add_argument("--workers", type=POSITIVE, default=1,
                   help="processes (or Ray tasks) scanning layer shards in parallel (local: at most the CPU count)")
    p.add_argument("--executor", default="local", choices=EXECUTORS, help="local processes, or Ray tasks on a cluster")
    p.add_argument("--ray-address", default=None, help="ray.init(address=...) for --executor ray (default: a local Ray)")


def add_output(p: argparse.ArgumentParser, default_format: str, *, out: bool = True) -> None:
    """--format (csv or markdown) and, with `out`, --out PATH: how a command's table is written."""
    p.add_argument("--format", default=default_format, choices=["csv", "markdown"])
    if out:
        p.add_argument("--out", type=Path)
