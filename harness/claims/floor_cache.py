"""The noise floors of a source's models (and its pairs' intervals over prompts), kept by the content of
what they are computed from.

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
import logging
from typing import Any, Callable

import numpy as np

from harness.analysis.noise_floor import Floor
from harness.claims.sweep_cache import code_digest, read_entry, write_entry

log = logging.getLogger("harness.floor_cache")
FOLDER = "floors"  # <cache>/floors/


def floor_key(kind: str, model: str, family: str, arrays: tuple[np.ndarray, ...], settings: dict[str, Any]) -> str:
    """The sha256 naming one floor: its kind, model, family, settings and every array's dtype, shape and bytes."""
    h = hashlib.sha256(code_digest().encode())
    h.update(repr((kind, model, family, sorted(settings.items()))).encode())
    for array in arrays:
        a = np.ascontiguousarray(array)
        h.update(repr((str(a.dtype), a.shape)).encode() + b"\0" + a.tobytes() + b"\1")
    return h.hexdigest()


def _read(key: str) -> Floor | None:
    value = read_entry(FOLDER, key, "noise floor")
    try:
        return Floor(**value) if value is not None else None
    except TypeError:  # a JSON value that is no floor
        log.warning("stored noise floor %s is not a floor: recomputed", key)
        return None


def cached_floor(key: str, compute: Callable[..., Floor], *args: Any, **kwargs: Any) -> Floor:
    """The floor stored under `key`, else `compute(*args, **kwargs)` stored under it."""
    floor = _read(key)
    if floor is None:
        floor = compute(*args, **kwargs)
        write_entry(FOLDER, key, dataclasses.asdict(floor), "noise floor")
    return floor


def cached_pair_interval(key: str, compute: Callable[..., dict], *args: Any, **kwargs: Any) -> dict[str, tuple[float, float, float]]:
    """A pair's metrics (point, lo, hi) stored under `key` (harness.analysis.noise_floor.pair_interval),
    else computed and stored under it."""
    value = read_entry(FOLDER, key, "pair interval")
    if isinstance(value, dict) and all(isinstance(v, list) and len(v) == 3 for v in value.values()):
        return {metric: tuple(float(x) for x in v) for metric, v in value.items()}
    interval = compute(*args, **kwargs)
    write_entry(FOLDER, key, {metric: list(v) for metric, v in interval.items()}, "pair interval")
    return interval
