"""A source's robustness sweep, kept by the content of everything it is computed from.

`pytest claims/`, `report` and `robustness` re-run the table-level sweep (every check in every universe
of claims/robustness.toml) on each run; on unchanged inputs it gives the same rows. This module names
those inputs by one sha256 (`content_key`): the source's name, design, head table and extras (role
tables, faithfulness results), the thresholds and the grid's choices, and the source code of the whole
`harness` package (a change of any function the sweep could call is a new key). A stored sweep is read
only under its own key; an unreadable one is recomputed and replaced. Entries are JSON rows (the
choices' values, claim, variant, holds), written atomically into `<cache>/sweeps/`; they feed the
robustness notes and heatmaps, never a verdict of the main evaluation.
`read_entry` / `write_entry` are the JSON store every content-keyed cache of the claims uses (the noise
floors' too: harness.claims.floor_cache).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

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


def content_key(source: str, table: pd.DataFrame, extras: dict | None, settings: Any, choices: Any, design: Any) -> str:
    """The sha256 naming one source's sweep: its name, design, head table and extras under `settings`
    (Thresholds) and `choices` (the grid's table-level choices)."""
    h = hashlib.sha256(code_digest().encode())
    _feed(h, repr(settings))
    _feed(h, repr(choices))
    _feed(h, (source, repr(design)))
    _feed(h, table)
    _feed(h, dict(extras or {}))
    return h.hexdigest()


def read_entry(kind: str, key: str, what: str) -> Any:
    """The JSON value stored under `key` in `<cache>/<kind>/`, or None when absent or unreadable (a
    warning names `what` and says it is recomputed). Shared by every content-keyed cache here."""
    path = cache_dir() / kind / f"{key}.json"
    try:
        if path.is_symlink() or not path.is_file():
            return None
        return json.loads(path.read_text())
    except (OSError, ValueError):
        log.warning("stored %s %s unreadable: recomputed", what, path)
        return None


def write_entry(kind: str, key: str, value: Any, what: str) -> None:
    """Store `value` as JSON under `key` in `<cache>/<kind>/`, atomically; a cache that cannot be written
    only costs time (numpy scalars become numbers, anything else unknown its text)."""
    folder = cache_dir() / kind
    if unwritable(folder) is not None:
        return
    try:
        text = json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v))
        atomic_write_text(contained(folder / f"{key}.json", folder), text)
    except OSError as err:
        log.warning("%s not stored (%s)", what, err)


def read(key: str) -> pd.DataFrame | None:
    """The stored sweep under `key` (one row per universe and check), or None when absent or unreadable."""
    rows = read_entry("sweeps", key, "robustness sweep")
    if rows is None:
        return None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "holds" in r and isinstance(r["holds"], bool) for r in rows):
        log.warning("stored robustness sweep %s is not a sweep: recomputed", cache_dir() / "sweeps" / f"{key}.json")
        return None
    return pd.DataFrame(rows)


def write(key: str, long: pd.DataFrame) -> None:
    """Store the sweep `long` under `key` (atomically); a cache that cannot be written only costs time."""
    write_entry("sweeps", key, long.to_dict(orient="records"), "robustness sweep")
