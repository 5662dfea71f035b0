"""How the harness writes files: atomically, inside the folder they belong to, and cleaning up only
after itself. Imports only harness.paths.

- `atomic_write_bytes` / `atomic_write_text`: a temporary file of the harness's own naming
  (`.NAME.XXXX.ioi-tmp`) in the target's folder, fsync, then rename over the target, so a reader (or a
  killed writer) sees the old file or the new one, never a truncated one.
- `atomic_write_bytes(..., streams=True)` (the outputs a user names: `--out`, `--markdown`, `--plot`,
  `--claims-report`): a character device or FIFO there is written into, as every Unix tool does; any
  other file that is not a regular one (a socket, a block device, a directory) is refused
  (NotRegularFile, one line). Nothing but a regular file is ever replaced.
- `locked(path)`: an exclusive lock beside `path` (`.NAME.lock`) for a read-modify-write.
- `contained(path, root)`: `path` resolved, refused (UnsafePath, one line) when a link takes it out of
  `root`; every write or delete in a cache goes through it.
- `remove_orphan_temps(folder)`: deletes only the harness's own temporary files, never a link.
- `cache_folder(kind)` / `fall_back(kind, err)`: the one fallback rule of every cache (scores, shards,
  tokenizers, weights, GGUF): `<cache>/<kind>` while files can be written there, else the same folder
  under this process's private fallback folder (`fallback_root`), with a warning naming both.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import tempfile
from pathlib import Path
import warnings
from typing import Iterator

from harness.paths import CACHE_ENV, cache_dir, current_umask

log = logging.getLogger("harness.files")

TEMP_SUFFIX = ".ioi-tmp"  # the harness's own temporary files end so; nothing else is ever deleted as one


class UnsafePath(PermissionError):
    """A write or delete that a symbolic link would take out of the folder it belongs to."""


class NotRegularFile(OSError):
    """A write whose target exists and is not a regular file (a rename would replace a device, a FIFO...)."""


_KINDS = {
    stat.S_IFCHR: "character device", stat.S_IFIFO: "FIFO", stat.S_IFBLK: "block device",
    stat.S_IFSOCK: "socket", stat.S_IFDIR: "directory",
}
STREAM_KINDS = frozenset({"character device", "FIFO"})  # written into, never replaced


def special_kind(path: Path) -> str | None:
    """What `path` is (links followed) when it exists and is not a regular file; None otherwise."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    return None if stat.S_ISREG(mode) else _KINDS.get(stat.S_IFMT(mode), "special file")


def output_problem(path: Path, *, streams: bool = True) -> str | None:
    """Why `path` cannot be written as an output (it is a socket, a directory...), or None."""
    kind = special_kind(path)
    if kind is None or (streams and kind in STREAM_KINDS):
        return None
    return f"{path} is a {kind}, not a regular file" + (" (only a character device or a FIFO is written into)" if streams else "")


def contained(path: Path, root: Path) -> Path:
    """`path` resolved (links followed), which must lie inside `root` resolved; UnsafePath otherwise."""
    path, root = Path(path), Path(root)
    resolved, base = path.resolve(), root.resolve()
    if resolved != base and base not in resolved.parents:
        raise UnsafePath(f"refusing to write or delete {path}: it resolves to {resolved}, outside {base} (a symbolic link?)")
    return resolved


def path_component(name: str) -> str:
    """`name` as one folder name under a root (a model's folder in a cache); UnsafePath, before anything
    is made, for a name that would leave the root or be no folder of its own (empty, '.', '..', a separator)."""
    if not name or name in (".", "..") or "/" in name or "\0" in name or (os.altsep and os.altsep in name):
        raise UnsafePath(f"refusing to use {name!r} as a folder name: it is empty, '.', '..' or holds a separator")
    return name


def atomic_write_bytes(path: Path, payload: bytes, *, mode: int | None = None, streams: bool = False) -> Path:
    """Replace `path` by `payload` atomically (temporary file in its folder, fsync, rename). The file
    gets `mode`, default 0666 & ~umask (mkstemp alone would leave 0600). Only a regular file (or none)
    is replaced: with `streams`, a character device or FIFO is written into; anything else is refused
    (NotRegularFile)."""
    path = Path(path)
    problem = output_problem(path, streams=streams)
    if problem:
        raise NotRegularFile(problem)
    if special_kind(path) is not None:  # a character device or FIFO, and streams: write into it
        with open(path, "wb") as fh:
            fh.write(payload)
        return path
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, (0o666 & ~current_umask()) if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # the rename itself survives a crash once the folder is synced
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path


def atomic_write_text(path: Path, text: str, *, streams: bool = False) -> Path:
    return atomic_write_bytes(path, text.encode(), streams=streams)


@contextlib.contextmanager
def locked(path: Path, timeout: float = -1) -> Iterator[None]:
    """Hold the exclusive lock of `path` (the file `.NAME.lock` beside it) for a read-modify-write."""
    from filelock import FileLock

    path = Path(path)
    with FileLock(str(path.parent / f".{path.name}.lock"), timeout=timeout):
        yield


def unwritable(folder: Path) -> str | None:
    """Why files cannot be created in `folder` (made if absent), or None when they can: checked before
    long work whose results must be stored there."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def remove_orphan_temps(folder: Path) -> list[Path]:
    """Delete the temporary files a killed writer of the harness left in `folder` (its own naming
    only, regular files only: a link or someone else's `.x.tmp` stays); call it only under the lock
    of the folder's writes."""
    removed = []
    for tmp in Path(folder).glob(f".*{TEMP_SUFFIX}"):
        try:
            if not stat.S_ISREG(tmp.lstat().st_mode):
                continue
            tmp.unlink()
            removed.append(tmp)
        except FileNotFoundError:
            pass
    if removed:
        log.info("removed %d orphan temporary files in %s", len(removed), folder)
    return removed


class CacheFallback(UserWarning):
    """A cache folder that could not be written: its files went to this process's fallback folder."""


_FALLBACK: list[Path] = []  # this process's private fallback folder, made on first use
_CACHE_FOLDERS: dict[Path, Path] = {}  # <cache>/<kind> -> the folder used (itself, or the fallback's)


def fallback_root() -> Path:
    """Where results go when their cache cannot be written: a private folder made for this process
    (tempfile.mkdtemp: mode 0700, owned by the user, a fresh unpredictable name, so nothing planted in
    the shared temp dir is followed); the warnings name its resolved path."""
    if not _FALLBACK or not _FALLBACK[0].is_dir():
        _FALLBACK[:] = [Path(tempfile.mkdtemp(prefix="ioi-claims-fallback-")).resolve()]
    return _FALLBACK[0]


def cache_folder(kind: str) -> Path:
    """`<cache>/<kind>` when files can be created there (checked once per process), else `kind` under
    the fallback folder, with a warning: IOI_CLAIMS_CACHE naming a file, a read-only cache."""
    preferred = cache_dir() / kind
    if preferred not in _CACHE_FOLDERS:
        problem = unwritable(preferred)
        _CACHE_FOLDERS[preferred] = preferred
        if problem is not None:
            _switch(preferred, kind, problem)
    return _CACHE_FOLDERS[preferred]


# What a cache folder's storage says when it cannot hold a file: full, over quota, read-only, not ours,
# not a folder. Any other OSError (a missing input file...) is no reason to fall back.
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EEXIST})


def fall_back(kind: str, err: OSError) -> Path:
    """After a write into `cache_folder(kind)` failed with `err` (a full disk...): the fallback's folder
    for `kind`, used by the rest of this process, with a warning. Raises `err` when it is no storage
    error, or when the write that failed was already in the fallback."""
    preferred = cache_dir() / kind
    if err.errno not in STORAGE_ERRNOS or isinstance(err, UnsafePath) or _CACHE_FOLDERS.get(preferred, preferred) != preferred:
        raise err
    return _switch(preferred, kind, err.strerror or str(err))


def _switch(preferred: Path, kind: str, problem: str) -> Path:
    folder = _CACHE_FOLDERS[preferred] = fallback_root() / kind
    message = (f"the cache folder {preferred} cannot be written ({problem}): {kind} go to {folder} instead, for this run "
               f"(set {CACHE_ENV} to a writable folder to keep them)")
    warnings.warn(message, CacheFallback, stacklevel=3)
    log.warning(message)
    return folder
