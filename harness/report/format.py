"""Formatting helpers every report module uses: a Markdown table, writing a matplotlib figure."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def markdown_cell(value: object) -> str:
    """A value as one Markdown table cell: a pipe escaped, a line break written as \\n (never a new row)."""
    return str(value).replace("|", "\\|").replace("\r", "\\r").replace("\n", "\\n")


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub Markdown table (no extra dependency); every cell through `markdown_cell`."""
    cols = [markdown_cell(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(markdown_cell(v) for v in row) + " |")
    return "\n".join(lines)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet reads a cell starting so as a formula


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every text cell that a spreadsheet would run as a formula prefixed by a quote
    ('=cmd): numbers stay numbers, so a negative delta is untouched."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = [("'" + v) if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v for v in out[column]]
    return out


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
