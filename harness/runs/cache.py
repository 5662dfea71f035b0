"""Content-addressed cache of computed head scores: a CSV table plus a JSON metadata file per key.

Key = model name + weights fingerprint + dataset spec + method + algorithm + harness version, hashed.
Writes are atomic (temporary file, then os.replace) under a file lock, so two pytest-xdist workers
writing the same key lose nothing. The metadata records the table's sha256: an entry whose table does
not match (a torn or edited file) is reported with a warning and treated as absent, so it is recomputed.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import logging
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from filelock import FileLock

from harness import HARNESS_VERSION, files
from harness.files import UnsafePath, atomic_write_bytes, atomic_write_text, contained, path_component, remove_orphan_temps
from harness.paths import CACHE_ENV, FIXTURES_DIR, cache_dir
from harness.errors import UserError

log = logging.getLogger("harness.cache")


class CorruptCacheEntry(UserWarning):
    """A cache entry failed its integrity check and will be recomputed."""


class CommittedEntryCorrupt(UserError, ValueError):
    """A committed entry (fixtures/recomputed/) failed its integrity check. Unlike a user-cache entry
    it is never treated as absent: a source that silently lost a committed table would give verdicts
    on fewer models (fewer checks, green). One line naming the file; exit 2 from the CLI."""


class UnstoredResult(files.CacheFallback):
    """A finished result could not be stored in its cache and went to the fallback cache instead."""


def fallback_root() -> Path:
    """Where a result goes when its cache cannot be written: `scores` in this process's private fallback
    folder (harness.files.fallback_root, shared by every cache)."""
    return files.fallback_root() / "scores"


def fallback_cache() -> tuple[ScoreCache, ...]:
    """This process's fallback folder as a score cache, once a result went there (so the run that
    computed a result it could not store still reads it); () before."""
    if files._FALLBACK and (files._FALLBACK[0] / "scores").is_dir():
        return (ScoreCache(files._FALLBACK[0] / "scores"),)
    return ()


@dataclass(frozen=True)
class CacheKey:
    model: str
    fingerprint: str  # weights identity: hub revision, GGUF sha256, or twin seed + recipe digest
    dataset: tuple[tuple[str, Any], ...]  # TaskSpec.key() items, sorted
    method: str
    algorithm: str
    harness_version: str = HARNESS_VERSION
    dtype: str = "float32"  # compute dtype; float32 (the reference) is left out of the stored key
    # which weights of the model: a perturbed twin's "requant:SCHEME" is stored, so its tables are found
    # apart from the original's; "pretrained" and "twin" are left out (those keys read as before)
    weights: str = "pretrained"

    @classmethod
    def make(
        cls, model: str, fingerprint: str, dataset: dict[str, Any], method: str, algorithm: str, dtype: str = "float32",
        weights: str = "pretrained",
    ) -> "CacheKey":
        return cls(model, fingerprint, tuple(sorted(dataset.items())), method, algorithm, HARNESS_VERSION, dtype, weights)

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> "CacheKey":
        """The key as `as_dict` wrote it (e.g. from an entry's meta.json), harness version included."""
        return cls(
            stored["model"],
            stored["fingerprint"],
            tuple(sorted(stored["dataset"].items())),
            stored["method"],
            stored["algorithm"],
            stored["harness_version"],
            stored.get("dtype", "float32"),
            stored.get("weights", "pretrained"),
        )

    def as_dict(self) -> dict[str, Any]:
        key = {
            "model": self.model,
            "fingerprint": self.fingerprint,
            "dataset": dict(self.dataset),
            "method": self.method,
            "algorithm": self.algorithm,
            "harness_version": self.harness_version,
        }
        if self.dtype != "float32":  # float32 keys read as they did before dtypes existed
            key["dtype"] = self.dtype
        if self.weights not in ("pretrained", "twin"):
            key["weights"] = self.weights
        return key

    @property
    def digest(self) -> str:
        return digest_of(self.as_dict())


def digest_of(key: dict[str, Any]) -> str:
    """The folder name of a cache entry: a hash of its key (CacheKey.as_dict(), or as stored)."""
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


ARRAYS_FILE = "per_prompt.npz"
TABLE_FILE = "table.csv"


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


SCORE_COLUMNS = ("layer", "head", "delta", "delta_norm")


def _checked_table(table: pd.DataFrame) -> pd.DataFrame:
    """A cached score table as the scans write it: the score columns, one row per (layer, head).
    ValueError otherwise (the entry is then treated as corrupt and recomputed)."""
    missing = [c for c in SCORE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"table.csv lacks column(s) {', '.join(missing)}")
    duplicated = table.duplicated(["layer", "head"])
    if duplicated.any():
        first = table.loc[duplicated, ["layer", "head"]].iloc[0]
        raise ValueError(f"table.csv has {int(duplicated.sum())} duplicate (layer, head) row(s), e.g. ({first['layer']}, {first['head']})")
    return table


class ScoreCache:
    """Head-score tables on disk, by CacheKey. `root` defaults to harness.paths.cache_dir()/scores.

    A `read_only` cache (the committed tables under fixtures/recomputed/) is read without taking
    locks, so it works from a read-only checkout and leaves no lock files behind; `put` refuses."""

    def __init__(self, root: Path | None = None, *, read_only: bool = False):
        self.root = Path(root) if root else cache_dir() / "scores"
        self.read_only = read_only

    def entry_dir(self, key: CacheKey) -> Path:
        return self.root / path_component(key.model) / key.digest  # a name that is no single folder: UnsafePath

    def get(self, key: CacheKey) -> tuple[pd.DataFrame, dict[str, Any]] | None:
        """The cached table and metadata, or None when absent or corrupt (with a warning). In a
        `read_only` (committed) cache a corrupt entry raises CommittedEntryCorrupt naming the file."""
        folder = self.entry_dir(key)
        meta_path, table_path = folder / "meta.json", folder / "table.csv"
        if not meta_path.exists():
            return None
        try:
            try:
                meta, text = self._read(folder, meta_path, table_path)
            except json.JSONDecodeError as exc:
                raise _Bad(meta_path, f"is not JSON ({exc})") from None
            except OSError as exc:
                raise _Bad(Path(exc.filename or folder), exc.strerror or str(exc)) from None
            except ValueError as exc:  # not UTF-8
                raise _Bad(folder, " ".join(str(exc).split())) from None
            if not isinstance(meta, dict):
                raise _Bad(meta_path, f"holds {type(meta).__name__}, not an object")
            if meta.get("key") != key.as_dict():
                raise _Bad(meta_path, "records another key than its folder's")
            if meta.get("table_sha256") != _sha256_text(text):
                raise _Bad(table_path, "fails its checksum (sha256 differs from meta.json's table_sha256)")
            try:
                return _checked_table(pd.read_csv(io.StringIO(text))), meta
            except (ValueError, pd.errors.ParserError) as exc:
                raise _Bad(table_path, str(exc)) from None
        except _Bad as bad:
            self._corrupt(bad)
            return None

    def _corrupt(self, bad: "_Bad") -> None:
        """A failed integrity check: an error in the committed layer, a warning (entry ignored) elsewhere."""
        if self.read_only:
            raise CommittedEntryCorrupt(
                f"committed scores {_shown(bad.path)} {bad.reason}: restore it (`git checkout -- {_shown(bad.path.parent)}`) "
                "or re-commit the entry (`python -m harness scores|zoo ... --commit`)"
            )
        warnings.warn(
            f"corrupt cache entry {bad.path} ({bad.reason}); ignored (a scan of this key recomputes it)", CorruptCacheEntry, stacklevel=3
        )

    def _read(self, folder: Path, meta_path: Path, table_path: Path) -> tuple[Any, str]:
        """meta.json (parsed) and table.csv, under the entry's lock when it can be taken. Reading needs
        no write access: a read-only or another user's cache is read without the lock (writers replace
        files atomically, and the checksum catches a table and metadata of two different writes)."""
        if not self.read_only:
            try:
                with FileLock(str(folder / ".lock")):
                    return json.loads(meta_path.read_text()), table_path.read_text()
            except PermissionError:
                log.debug("cannot lock %s (read-only); reading without the lock", folder)
            except OSError as exc:
                if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                    raise
        return json.loads(meta_path.read_text()), table_path.read_text()

    def put(
        self, key: CacheKey, table: pd.DataFrame, meta: dict[str, Any], arrays: dict[str, np.ndarray] | None = None
    ) -> Path:
        """Store a table (and optional per-prompt arrays, `ARRAYS_FILE`); the data files are
        replaced before the metadata that vouches for them."""
        if self.read_only:
            raise PermissionError(f"{self.root} is a read-only score cache")
        try:
            return self._put(self.entry_dir(key), key, table, meta, arrays)
        except OSError as exc:
            # A finished result is never dropped: it goes to a fallback cache the user is told about.
            fallback = fallback_root() / path_component(key.model) / key.digest
            if self.root == fallback_root() or fallback_root() in self.root.parents:
                raise
            folder = self._put(fallback, key, table, meta, arrays)
            message = (
                f"could not store the result in {self.entry_dir(key)} ({exc.strerror or exc}); it was written to {folder} "
                f"instead: copy that folder into {self.entry_dir(key).parent}/ or set {CACHE_ENV}={fallback_root().parent}"
            )
            warnings.warn(message, UnstoredResult, stacklevel=2)
            log.warning(message)
            return folder

    def _put(self, folder: Path, key: CacheKey, table: pd.DataFrame, meta: dict[str, Any], arrays: dict[str, np.ndarray] | None) -> Path:
        contained(folder, folder.parent.parent)  # ROOT/MODEL/DIGEST: never made through a link out of ROOT
        folder.mkdir(parents=True, exist_ok=True)
        contained(folder, folder.parent.parent)  # nor written through one made meanwhile
        text = table.to_csv(index=False)
        record = {**meta, "key": key.as_dict(), "table_sha256": _sha256_text(text)}
        payload = _npz_bytes(arrays) if arrays else None
        if payload is not None:
            record["arrays_sha256"] = hashlib.sha256(payload).hexdigest()
        with FileLock(str(folder / ".lock")):
            remove_orphan_temps(folder)  # under the lock no writer is active here: each of ours is a killed writer's
            atomic_write_text(folder / "table.csv", text)
            if payload is not None:
                atomic_write_bytes(folder / ARRAYS_FILE, payload)
            atomic_write_text(folder / "meta.json", json.dumps(record, indent=2, sort_keys=True, default=str))
        log.info("cached %s", folder)
        return folder

    def arrays(self, key: CacheKey) -> dict[str, np.ndarray] | None:
        """The per-prompt arrays stored with an entry, checked against the sha256 its metadata
        records; None when the entry has none (or is corrupt, with a warning)."""
        hit = self.get(key)
        if hit is None or "arrays_sha256" not in hit[1]:
            return None
        path = self.entry_dir(key) / ARRAYS_FILE
        try:
            payload = path.read_bytes()
        except OSError as exc:
            self._corrupt(_Bad(path, exc.strerror or str(exc)))
            return None
        if hashlib.sha256(payload).hexdigest() != hit[1]["arrays_sha256"]:
            self._corrupt(_Bad(path, "fails its checksum (sha256 differs from meta.json's arrays_sha256)"))
            return None
        try:
            with np.load(io.BytesIO(payload), allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except (OSError, ValueError) as exc:
            self._corrupt(_Bad(path, str(exc)))
            return None

    def remove(self, stored_key: dict[str, Any]) -> None:
        """Delete the entry of a key as stored in an entry's meta.json (e.g. a stale committed one)."""
        if self.read_only:
            raise PermissionError(f"{self.root} is a read-only score cache")
        folder = self.root / stored_key["model"] / digest_of(stored_key)
        if folder.is_symlink():
            raise UnsafePath(f"refusing to delete {folder}: it is a symbolic link")
        if folder.exists():
            contained(folder, self.root)  # never delete through a model folder linked out of the cache
            shutil.rmtree(folder)

    def unlock(self, key: CacheKey) -> None:
        """Remove an entry's lock file (for entries that are committed to git, which keeps no locks)."""
        (self.entry_dir(key) / ".lock").unlink(missing_ok=True)

    def verify(self) -> int:
        """Every entry folder checked as a read checks it, without reading the tables: a folder with no
        meta.json (its table cannot be verified), metadata that is no JSON object or records another key
        than its folder's, a table or per-prompt arrays failing their recorded sha256. A failure goes
        through `_corrupt` (CommittedEntryCorrupt naming the file in the committed layer). The number of
        entries checked."""
        folders = sorted(p for p in self.root.glob("*/*") if p.is_dir()) if self.root.is_dir() else []
        for folder in folders:
            try:
                _verify_entry(folder)
            except _Bad as bad:
                self._corrupt(bad)
        return len(folders)

    def entries(self, model: str | None = None) -> list[dict[str, Any]]:
        """Metadata of every readable entry (optionally of one model)."""
        base = self.root / model if model else self.root
        out = []
        for meta_path in sorted(base.glob("**/meta.json")):
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                if self.read_only:  # a committed entry that cannot be read is lost data, never skipped
                    self._corrupt(_Bad(meta_path, f"cannot be read ({exc})"))
                continue
            if isinstance(meta, dict):  # [] or null is a corrupt entry, not metadata
                out.append(meta)
            elif self.read_only:
                self._corrupt(_Bad(meta_path, f"holds {type(meta).__name__}, not an object"))
        return out


def _verify_entry(folder: Path) -> None:
    """_Bad naming the file when the entry in `folder` fails an integrity check (ScoreCache.verify)."""
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise _Bad(folder, "has no meta.json: its table cannot be verified")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise _Bad(meta_path, f"cannot be read ({' '.join(str(exc).split())})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("key"), dict):
        raise _Bad(meta_path, "holds no object with a key")
    if meta["key"].get("model") != folder.parent.name or digest_of(meta["key"]) != folder.name:
        raise _Bad(meta_path, "records another key than its folder's")
    for name, recorded in ((TABLE_FILE, "table_sha256"), (ARRAYS_FILE, "arrays_sha256")):
        path = folder / name
        if recorded not in meta:
            if name == TABLE_FILE or path.exists():
                raise _Bad(path, f"has no {recorded} in meta.json: it cannot be verified")
            continue
        try:  # the table's digest is of its text, as `get` reads it; the arrays', of their bytes
            actual = _sha256_text(path.read_text()) if name == TABLE_FILE else hashlib.sha256(path.read_bytes()).hexdigest()
        except (OSError, ValueError) as exc:
            raise _Bad(path, getattr(exc, "strerror", None) or " ".join(str(exc).split())) from None
        if actual != meta[recorded]:
            raise _Bad(path, f"fails its checksum (sha256 differs from meta.json's {recorded})")


class _Bad(Exception):
    """Why an entry failed its integrity check: the file and the reason."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = Path(path), reason


def _shown(path: Path) -> str:
    """A path as a user names it: relative to the repository when inside it."""
    from harness.paths import REPO_ROOT

    try:
        return str(Path(path).relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def committed_cache() -> ScoreCache:
    """The head scores committed with the repository (fixtures/recomputed/), read-only: the harness
    answers from them when their key matches exactly (same weights, dataset, method, algorithm and
    harness version), so a fresh clone gets the SmolLM2 head table without a 30-minute scan."""
    return ScoreCache(FIXTURES_DIR / "recomputed", read_only=True)
