"""The robustness notes of the verdict table, kept by the content of everything they are computed from.

`pytest claims/` re-runs the table-level robustness sweep (every check in every universe of
claims/robustness.toml) on each run; on unchanged inputs it gives the same notes. This module names
those inputs by one sha256 (`content_key`): each evaluated source's name, design, head table and
extras (role tables, faithfulness results), the loaded thresholds and grid, and the source code of the
whole `harness` package (a change of any function the sweep could call is a new key). A stored entry is
read only under its own key; an unreadable one is recomputed and replaced. Entries are JSON (check key
-> note), written atomically into `<cache>/sweeps/`; nothing here is ever a verdict, only its note.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from harness.files import atomic_write_text, contained, unwritable
from harness.paths import cache_dir

log = logging.getLogger("harness.sweep_cache")
_PACKAGE = Path(__file__).resolve().parents[1]  # harness/
_CODE_DIGEST: str | None = None


def code_digest() -> str:
    """sha256 over every .py file of the harness package (relative path and bytes), once per process."""
    global _CODE_DIGEST
    if _CODE_DIGEST is None:
        h = hashlib.sha256()
        for path in sorted(_PACKAGE.rglob("*.py")):
            h.update(str(path.relative_to(_PACKAGE)).encode() + b"\0" + path.read_bytes() + b"\0")
        _CODE_DIGEST = h.hexdigest()
    return _CODE_DIGEST


def _feed(h: "hashlib._Hash", value: Any) -> None:
    """Hash `value` by content: frames by columns, dtypes and every cell; mappings by sorted key."""
    if isinstance(value, pd.DataFrame):
        h.update(repr((list(value.columns), [str(t) for t in value.dtypes], value.shape)).encode())
        try:
            h.update(pd.util.hash_pandas_object(value, index=True).to_numpy().tobytes())
        except TypeError:  # cells pandas cannot hash (lists): their text
            h.update(value.to_csv().encode())
    elif isinstance(value, dict):
        for key in sorted(value, key=repr):
            h.update(repr(key).encode())
            _feed(h, value[key])
    else:
        h.update(repr(value).encode())
    h.update(b"\1")


def content_key(evaluations: Iterable[Any], settings: Any, grid: Any) -> str:
    """The sha256 naming the notes of `evaluations` (claims.checks.Evaluation) under `settings`
    (Thresholds) and `grid` (claims.grid.Grid)."""
    h = hashlib.sha256(code_digest().encode())
    _feed(h, repr(settings))
    _feed(h, repr(grid))
    for ev in evaluations:
        design = ev.design
        _feed(h, (ev.source, None if design is None else (design.name, design.pairs, design.kinds)))
        _feed(h, ev.table)
        _feed(h, dict(ev.extras or {}))
    return h.hexdigest()


def _path(key: str) -> Path:
    return cache_dir() / "sweeps" / f"{key}.json"


def read(key: str) -> dict[str, str] | None:
    """The stored notes under `key`, or None (absent, unreadable, or not a str -> str mapping)."""
    path = _path(key)
    try:
        if path.is_symlink() or not path.is_file():
            return None
        notes = json.loads(path.read_text())
    except (OSError, ValueError):
        log.warning("robustness notes %s unreadable: recomputed", path)
        return None
    if not isinstance(notes, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in notes.items()):
        return None
    return notes


def write(key: str, notes: dict[str, str]) -> None:
    """Store `notes` under `key` (atomically); a cache that cannot be written only costs the next run time."""
    folder = cache_dir() / "sweeps"
    if unwritable(folder) is not None:
        return
    try:
        atomic_write_text(contained(_path(key), folder), json.dumps(notes, sort_keys=True))
    except OSError as err:
        log.warning("robustness notes not stored (%s)", err)
