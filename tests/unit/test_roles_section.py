"""The report's section on heads matched by role (`python -m harness report --roles-section PATH`):
written for the sources that carry role tables, with its figures beside it; a source without role
tables is named, never a crash."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.models import registry
from harness.cli import report as cli
from harness.report.roles_section import write_section
from harness.runs.roles import stored_roles

pytestmark = pytest.mark.unit


COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "roles_section.md"


def test_the_section_has_every_zoo_pair_and_its_figures_and_the_committed_one_is_current(tmp_path, tmp_cache):
    # an empty user cache: the section is made from the committed tables only, as on a fresh clone
    out = write_section(["zoo:mean", "zoo:zero"], tmp_path / "roles.md", tmp_path)
    text = out.read_text()
    assert text == COMMITTED.read_text(), (
        "docs/roles_section.md is not what the committed tables give: "
        "IOI_CLAIMS_CACHE=$(mktemp -d) python -m harness report --roles-section docs/roles_section.md"
    )
    for pair in ("qwen2.5-coder-0.5b -> qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b -> smollm2-135m",
                 "qwen2.5-coder-0.5b -> gemma-3-270m", "smollm2-135m -> gemma-3-270m"):
        assert f"| {pair} |" in text
    models = [m for m in ("smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "gemma-3-270m") if stored_roles(registry.get(m)) is not None]
    assert models, "the zoo's role tables are committed"
    for model in models:
        assert f"![{model}](roles_{model}.png)" in text and (tmp_path / f"roles_{model}.png").stat().st_size > 0
    assert (tmp_path / "role_transfer_zoo_mean.png").stat().st_size > 0


def test_the_report_writes_it_only_for_sources_with_role_tables(tmp_path, monkeypatch, capsys):
    called = []
    monkeypatch.setattr("harness.report.roles_section.write_section", lambda names, out, figures: called.append(names) or out)
    with_roles = SimpleNamespace(extras={"roles": {"m": object()}})
    without = SimpleNamespace(extras={})
    cli.write_roles_section({"zoo:mean": with_roles, "published": without, "broken": "FAILED: x"}, tmp_path / "r.md")
    assert called == [["zoo:mean"]]
    assert "no role tables: published, broken" in capsys.readouterr().err
    cli.write_roles_section({"published": without}, tmp_path / "none.md")
    assert called == [["zoo:mean"]] and not (tmp_path / "none.md").exists()
    assert "roles section not written: no source of published has role tables" in capsys.readouterr().err
