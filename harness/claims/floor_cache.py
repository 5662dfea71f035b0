"""The noise floors of a source's models, kept by the content of what they are computed from.

Loading a zoo or controls source computes each model's split-half prompt floor and its weights floor
(harness.analysis.noise_floor, weights_floor): a bootstrap of a few hundred rankings per model, the
same numbers on every run of unchanged inputs. This module names those inputs by one sha256 (the
per-prompt arrays' bytes, the model, its family, the floor's settings, and the source code of the
whole `harness` package, as the robustness sweep's cache does) and keeps each floor as JSON in
`<cache>/floors/`. A stored floor is read only under its own key; an unreadable one is recomputed
and replaced; a cache that cannot be written only costs time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Callable

import numpy as np

from harness.analysis.noise_floor import Floor
from harness.claims.sweep_cache import code_digest
from harness.files import atomic_write_text, contained, unwritable
from harness.paths import cache_dir

log = logging.getLogger("harness.floor_cache")


def floor_key(kind: str, model: str, family: str, arrays: tuple[np.ndarray, ...], settings: dict[str, Any]) -> str:
    """The sha256 naming one floor: its kind, model, family, settings and every array's dtype, shape and bytes."""
    h = hashlib.sha256(code_digest().encode())
    h.update(repr((kind, model, family, sorted(settings.items()))).encode())
    for array in arrays:
        a = np.ascontiguousarray(array)
        h.update(repr((str(a.dtype), a.shape)).encode() + b"\0" + a.tobytes() + b"\1")
    return h.hexdigest()


def _path(key: str) -> Path:
    return cache_dir() / "floors" / f"{key}.json"


def _read(key: str) -> Floor | None:
    path = _path(key)
    try:
        if path.is_symlink() or not path.is_file():
            return None
        return Floor(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        log.warning("stored noise floor %s unreadable: recomputed", path)
        return None


def _write(key: str, floor: Floor) -> None:
    folder = cache_dir() / "floors"
    if unwritable(folder) is not None:
        return
    try:
        atomic_write_text(contained(_path(key), folder), json.dumps(dataclasses.asdict(floor)))
    except OSError as err:
        log.warning("noise floor not stored (%s)", err)


def cached_floor(key: str, compute: Callable[..., Floor], *args: Any, **kwargs: Any) -> Floor:
    """The floor stored under `key`, else `compute(*args, **kwargs)` stored under it."""
    floor = _read(key)
    if floor is None:
        floor = compute(*args, **kwargs)
        _write(key, floor)
    return floor
