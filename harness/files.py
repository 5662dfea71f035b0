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
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from pathlib import Path
from typing import Iterator

from harness.paths import current_umask

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
