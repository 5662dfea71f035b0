"""The scans' one progress bar (tqdm on stderr, gone when done)."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


def bar(total: int, desc: str, progress: bool) -> tqdm:
    return tqdm(total=total, desc=desc, disable=not progress, file=sys.stderr, leave=False)
