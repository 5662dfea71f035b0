"""The origin's published tables, embedded under fixtures/published/ and checked by sha256."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd

from harness.data import head_table, validation
from harness.paths import FIXTURES_DIR
from harness.errors import UserError

PUBLISHED_DIR = FIXTURES_DIR / "published"
HEADS_FILE = "joint_ioi_anti_repeat_heads.csv"
TRANSFER_FILE = "ioi_transfer_generic.csv"
ALLOW_MODIFIED_ENV = "IOI_CLAIMS_ALLOW_MODIFIED"


class FixtureModified(UserError, RuntimeError):
    """A published table no longer matches the checksum it was copied with."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def expected_checksums(directory: Path = PUBLISHED_DIR) -> dict[str, str]:
    """File name -> sha256, from SHA256SUMS (sha256sum's format)."""
    sums = {}
    for line in (directory / "SHA256SUMS").read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.strip().lstrip("*")] = digest
    return sums


def verify(name: str, directory: Path = PUBLISHED_DIR, allow_modified: bool | None = None) -> Path:
    """Path of a published file after checking its sha256; FixtureModified names the file if it changed."""
    if allow_modified is None:
        allow_modified = os.environ.get(ALLOW_MODIFIED_ENV, "") not in ("", "0")
    path = directory / name
    sums = expected_checksums(directory)
    if name not in sums:
        raise FileNotFoundError(f"{name} is not one of the published tables: {sorted(sums)}")
    if not path.is_file():
        raise FileNotFoundError(f"published table {path} is missing; restore it from git")
    actual = sha256_of(path)
    if actual != sums[name] and not allow_modified:
        raise FixtureModified(
            f"{path} was modified: sha256 {actual[:12]}... != published {sums[name][:12]}... "
            f"(fixtures/published/PROVENANCE.md). Restore it with `git checkout -- {path.relative_to(directory.parent.parent)}`, "
            f"or set {ALLOW_MODIFIED_ENV}=1 (pytest: --allow-modified-fixtures) to run on the edited table on purpose."
        )
    return path


def modified_files(directory: Path = PUBLISHED_DIR) -> list[str]:
    """The published tables whose sha256 no longer matches SHA256SUMS (missing ones included)."""
    sums = expected_checksums(directory)
    return [name for name, digest in sums.items() if not (directory / name).is_file() or sha256_of(directory / name) != digest]


def read_table(name: str, directory: Path = PUBLISHED_DIR, allow_modified: bool | None = None) -> pd.DataFrame:
    return pd.read_csv(verify(name, directory, allow_modified))


def load_heads(directory: Path = PUBLISHED_DIR, allow_modified: bool | None = None) -> tuple[pd.DataFrame, list[head_table.Finding]]:
    """The published head table (normalised) and its audit findings (the data has known defects, which
    are reported, not repaired: the claims are about what the origin computed from this table). It goes
    through harness.data.validation like every head table; its recorded defects
    (fixtures/published/KNOWN_FINDINGS.toml) pass, any other error stops it with one line."""
    table = validation.read_csv(verify(HEADS_FILE, directory, allow_modified))
    findings = validation.check(table, str(directory / HEADS_FILE), known=validation.known_findings())
    return head_table.normalize(table), findings


def load_origin_transfer(directory: Path = PUBLISHED_DIR, allow_modified: bool | None = None) -> pd.DataFrame:
    """The origin's own per-head transfer rows for the six pairs (what our transfer code must reproduce)."""
    return read_table(TRANSFER_FILE, directory, allow_modified)
