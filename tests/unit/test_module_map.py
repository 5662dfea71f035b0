"""docs/ARCHITECTURE.md's module map is generated from the module docstrings (harness.report.module_map)
and held current here, like docs/roles_section.md: a module added, removed or re-described without
regenerating the map is red, and so is a module without a docstring."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.paths import REPO_ROOT
from harness.report import module_map

pytestmark = pytest.mark.unit

ARCHITECTURE = REPO_ROOT / "docs" / "ARCHITECTURE.md"


def test_the_committed_module_map_is_the_one_the_docstrings_give():
    assert module_map.committed_section(ARCHITECTURE.read_text()) == module_map.section(), (
        "docs/ARCHITECTURE.md's module map is out of date: python -m harness.report.module_map --write"
    )


def test_every_module_of_the_package_has_an_entry():
    text = module_map.section()
    modules = sorted(p.relative_to(REPO_ROOT / "harness").with_suffix("") for p in (REPO_ROOT / "harness").rglob("*.py"))
    for module in modules:
        if module.name == "__init__":
            assert f"### `{Path('harness', module.parent).as_posix()}/`" in text, f"{module} has no heading in the module map"
        else:
            assert f"- `{module.as_posix()}.py`: " in text, f"{module} has no entry in the module map"


def test_a_module_without_a_docstring_is_refused(tmp_path):
    (tmp_path / "harness").mkdir()
    (tmp_path / "harness" / "__init__.py").write_text('"""A package."""\n')
    (tmp_path / "harness" / "silent.py").write_text("X = 1\n")
    with pytest.raises(module_map.MissingDocstring, match="silent.py"):
        module_map.section(tmp_path / "harness")


def test_the_summary_is_the_first_sentence_of_the_docstring():
    assert module_map.first_sentence("Where things live: fixtures, e.g. the cache. More here.\n\nDetails.") == (
        "Where things live: fixtures, e.g. the cache."
    )
    assert module_map.first_sentence("One line without a full stop\nwrapped") == "One line without a full stop wrapped"
