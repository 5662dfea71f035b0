"""Resumable scans: each finished layer of an exact scan is stored as one shard under the scan's key.

A shard holds, for one layer, every prompt's logit difference with each of the layer's heads ablated
(n_heads, N) and the clean ones (N,), as float64, so the table merged from shards is bit-identical to
the one an uninterrupted scan gives. Shards live in `<cache>/shards/<model>/<key digest>/`, beside a
copy of the key; writes are atomic (temporary file, then rename), so a killed scan leaves whole shards
or none, and the next run of the same scan starts from the layers it finds. Any process (a worker, a
Ray task on another node sharing the cache path) may write any shard: shards of one key never clash.
"""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
import warnings
import zipfile
from pathlib import Path

import numpy as np

from harness.files import atomic_write_bytes, atomic_write_text, contained, locked, path_component, unwritable
from harness.paths import CACHE_ENV, cache_dir
from harness.runs.cache import CacheKey, UnstoredResult, fallback_root

log = logging.getLogger("harness.shards")
_ROOTS: dict[Path, Path] = {}  # preferred shard root -> the root used (itself, or the fallback)


def shard_root() -> Path:
    """Where this process keeps shards: <cache>/shards, or, when that cannot be written (a read-only
    cache, IOI_CLAIMS_CACHE naming a file), the private fallback folder, with a warning naming it.
    Decided before any layer is scanned, so no finished layer is lost to a failed write."""
    preferred = cache_dir() / "shards"
    if preferred not in _ROOTS:
        problem = unwritable(preferred)
        _ROOTS[preferred] = preferred
        if problem is not None:
            _ROOTS[preferred] = fallback_root().parent / "shards"
            message = (
                f"the cache {preferred.parent} cannot be written ({problem}): shards and results go to {_ROOTS[preferred].parent} "
                f"instead (set {CACHE_ENV} to a writable folder to keep them)"
            )
            warnings.warn(message, UnstoredResult, stacklevel=2)
            log.warning(message)
    return _ROOTS[preferred]

_SHARD = re.compile(r"layer_(\d+)\.npz$")


class ShardStore:
    """The shards of one scan (one CacheKey)."""

    def __init__(self, key: CacheKey, root: Path | None = None):
        self.key = key
        self.root = Path(root) if root else shard_root()
        self.folder = self.root / path_component(key.model) / key.digest  # a name that is no single folder: UnsafePath

    def path(self, layer: int) -> Path:
        return self.folder / f"layer_{layer:03d}.npz"

    def done(self) -> list[int]:
        """The layers whose shard is stored and readable, in order."""
        if not self.folder.is_dir():
            return []
        out = []
        for path in self.folder.iterdir():
            match = _SHARD.match(path.name)
            if match and self._readable(path):
                out.append(int(match.group(1)))
        return sorted(out)

    @staticmethod
    def _readable(path: Path) -> bool:
        """Whole and of the right shapes: both arrays load (a truncated or corrupted zip does not)
        and the ablated rows have one column per clean prompt."""
        try:
            with np.load(path) as data:
                ablated, clean = data["ablated"], data["clean"]
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
            return False
        return ablated.ndim == 2 and clean.ndim == 1 and ablated.shape[1] == clean.shape[0]

    def save(self, layer: int, ablated: np.ndarray, clean: np.ndarray, *, seconds: float | None = None) -> Path:
        """Store one layer's shard atomically, with the seconds its scan took when given (so a scan
        resumed across sessions can still say what it cost in all)."""
        contained(self.folder, self.root)  # never made or written outside the shard root (a link, a hostile name)
        self.folder.mkdir(parents=True, exist_ok=True)
        contained(self.folder, self.root)  # nor through a link made meanwhile
        key_file = self.folder / "key.json"
        if not key_file.exists():
            atomic_write_text(key_file, json.dumps(self.key.as_dict(), indent=2, sort_keys=True))
        buffer = io.BytesIO()
        extra = {} if seconds is None else {"seconds": np.float64(seconds)}
        np.savez(buffer, ablated=np.asarray(ablated, dtype=np.float64), clean=np.asarray(clean, dtype=np.float64), **extra)
        return atomic_write_bytes(self.path(layer), buffer.getvalue())

    def seconds(self, layers: list[int]) -> float | None:
        """The summed scan seconds of `layers`' shards, over every run that stored one; None when a
        shard does not record it (one stored before shards kept their seconds)."""
        total = 0.0
        for layer in layers:
            with np.load(self.path(layer)) as data:
                if "seconds" not in data.files:
                    return None
                total += float(data["seconds"])
        return total

    def load(self, layers: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(ablated (len(layers), n_heads, N), clean (N,)) from the shards of `layers`; the clean
        logit differences of every shard must agree (they come from the same prompts and weights)."""
        ablated, clean = [], None
        for layer in layers:
            with np.load(self.path(layer)) as data:
                ablated.append(data["ablated"])
                if clean is None:
                    clean = data["clean"]
                elif not np.allclose(clean, data["clean"], rtol=0, atol=1e-4):
                    raise RuntimeError(
                        f"shard {self.path(layer)} was computed on other clean logit differences than layer "
                        f"{layers[0]}'s; delete {self.folder} and rescan"
                    )
        return np.stack(ablated), clean

    def scan_lock(self):
        """The lock one scan of this key holds from its first layer until its table is stored
        (`.MODEL.DIGEST.lock` in the shard root): a second scan of the same key waits, then finds the
        first one's table instead of clearing its shards."""
        self.root.mkdir(parents=True, exist_ok=True)
        return locked(self.root / f"{self.folder.parent.name}.{self.key.digest}")

    def clear(self) -> None:
        """Remove the shards once their merged table is stored (never through a link: a folder that
        resolves outside the shard root is refused, UnsafePath)."""
        if not self.folder.exists() and not self.folder.is_symlink():
            return
        if self.folder.is_symlink():
            self.folder.unlink()  # the link only, never what it points at
        else:
            contained(self.folder, self.root)
            shutil.rmtree(self.folder)
        try:
            self.folder.parent.rmdir()
        except OSError:
            pass
