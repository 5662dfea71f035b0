"""What every command prints through: `UserError` (harness.errors: one line on stderr, exit 2),
`_emit` (a frame as CSV or Markdown, to stdout or atomically to a file) and `one_line` (an error message on one line)."""

from __future__ import annotations

import sys
from pathlib import Path

from harness.errors import UserError

__all__ = ["UserError", "_emit", "one_line"]


def _emit(frame, fmt: str, out: Path | None) -> None:
    from harness.report.format import csv_safe, markdown_table

    text = csv_safe(frame).to_csv(index=False) if fmt == "csv" else markdown_table(frame) + "\n"
    if out:
        from harness.files import atomic_write_text

        try:
            atomic_write_text(out, text, streams=True)  # a FIFO or device is written into; a Ctrl-C or a full disk never leaves half a file
        except OSError as err:
            raise UserError(f"cannot write {out}: {err.strerror or err}") from None
        print(f"written to {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def one_line(err: BaseException) -> str:
    """An exception's message on one line (a KeyError's without its quotes; its class name when empty)."""
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    return " ".join(text.split()) or type(err).__name__
