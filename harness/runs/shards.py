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
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from harness.runs.cache import CacheKey
from harness.paths import cache_dir, current_umask

_SHARD = re.compile(r"layer_(\d+)\.npz$")


class ShardStore:
    """The shards of one scan (one CacheKey)."""

    def __init__(self, key: CacheKey, root: Path | None = None):
        self.key = key
        self.folder = Path(root or cache_dir() / "shards") / key.model / key.digest

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

    def save(self, layer: int, ablated: np.ndarray, clean: np.ndarray) -> Path:
        """Store one layer's shard atomically."""
        self.folder.mkdir(parents=True, exist_ok=True)
        key_file = self.folder / "key.json"
        if not key_file.exists():
            key_file.write_text(json.dumps(self.key.as_dict(), indent=2, sort_keys=True))
        buffer = io.BytesIO()
        np.savez(buffer, ablated=np.asarray(ablated, dtype=np.float64), clean=np.asarray(clean, dtype=np.float64))
        target = self.path(layer)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(buffer.getvalue())
            os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600: a shared cache needs the umask's mode
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return target

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

    def clear(self) -> None:
        """Remove the shards once their merged table is stored."""
        shutil.rmtree(self.folder, ignore_errors=True)
        for parent in (self.folder.parent,):
            try:
                parent.rmdir()
            except OSError:
                pass
