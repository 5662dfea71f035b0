"""Formatting helpers every report module uses: a Markdown table, writing a matplotlib figure."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub Markdown table (no extra dependency)."""
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


def save_figure(fig, path: Path, dpi: int = 120) -> Path:
    """Lay out, write (making the folder) and close a matplotlib figure; returns the path."""
    import matplotlib.pyplot as plt

    import io

    from harness.files import atomic_write_bytes

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue(), streams=True)  # a FIFO or device is written into; whole or absent, never half a PNG
