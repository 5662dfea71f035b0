"""How a set of attention heads is written in a results table: 'L.H L.H ...', sorted; '' = the
empty set. One format for the faithfulness plans, their stored results and the claims reading them."""

from __future__ import annotations

from collections.abc import Iterable

Head = tuple[int, int]


def heads_text(heads: Iterable[Head]) -> str:
    """'L.H L.H ...' of `heads`, sorted by (layer, head), without duplicates."""
    return " ".join(f"{layer}.{head}" for layer, head in sorted({(int(a), int(b)) for a, b in heads}))


def parse_heads(text: str) -> list[Head]:
    """The inverse of `heads_text`; a missing value or blank string is the empty set."""
    if not isinstance(text, str) or not text.strip():
        return []
    return [(int(a), int(b)) for a, b in (item.split(".") for item in text.split())]
