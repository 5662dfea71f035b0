"""How big an input may ask a run to be: upper bounds on the sizes a design, a settings file or an
option can hold (layers, heads, prompts, resampling draws), and the one check that an allocation fits
this machine's memory, made before allocating and refused in one line with the estimate (issue 31).
Imports nothing from the harness."""

from __future__ import annotations

import os

# Bounds no real run reaches; beyond them a number is a typo or an attack, refused where it is read.
MAX_LAYERS = 1024  # the deepest released transformers have ~130 blocks
MAX_HEADS = 1024  # attention heads of one layer
MAX_PROMPTS = 10**6  # prompts of one table (the zoo's are ~200 to 1000)
MAX_DRAWS = 10**6  # bootstrap draws, permutations, random sets (the gate's are 2000 and 10000)


class TooLarge(ValueError):
    """An allocation that cannot fit in this machine's memory: one line with the estimate."""


def machine_memory() -> int:
    """Bytes of physical memory on this machine."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.3g} GiB"


def check_fits(n_bytes: int, what: str, fix: str) -> None:
    """Refuse (TooLarge) `what` when its estimate `n_bytes` exceeds this machine's memory: nothing of it
    could be allocated. `fix` says what to lower."""
    memory = machine_memory()
    if n_bytes > memory:
        raise TooLarge(f"{what} needs about {gib(n_bytes)} of memory, more than this machine's {gib(memory)}; {fix}")


def check_draws(n_draws: int, n_items: int, bytes_per_cell: int, what: str) -> None:
    """Refuse a resampling of `n_draws` x `n_items` cells (indices and the values they gather,
    `bytes_per_cell` in all) that cannot fit in memory, before a single draw."""
    check_fits(n_draws * n_items * bytes_per_cell, f"{what} ({n_draws} draws x {n_items} items)",
               "lower the draws ([uncertainty] n_boot / n_perm of claims/thresholds.toml, or --n-boot)")


# What one prompt of a scan holds until its table is written, at the least: its text and token ids
# (clean and corrupted), and one ablated logit difference per head (float32 in the shards, float64
# once merged).
PROMPT_BYTES = 1024
PER_HEAD_PROMPT_BYTES = 4 + 8


def scan_bytes(n_layers: int, n_heads: int, n_prompts: int) -> int:
    """A lower estimate of the memory a scan of `n_prompts` prompts over every head needs."""
    return n_prompts * (PROMPT_BYTES + n_layers * n_heads * PER_HEAD_PROMPT_BYTES)


def check_scan(model: str, n_layers: int, n_heads: int, n_prompts: int) -> None:
    """Refuse a scan whose prompts and per-prompt arrays cannot fit in memory, before it starts."""
    check_fits(scan_bytes(n_layers, n_heads, n_prompts), f"a scan of {model} on {n_prompts} prompts "
               f"({n_layers} x {n_heads} heads)", "lower n_prompts (the design's, or --n-prompts)")
