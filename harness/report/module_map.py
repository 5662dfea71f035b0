"""The module map of docs/ARCHITECTURE.md, generated from the package and module docstrings.

Each module's entry is the first sentence of its docstring, read with `ast` (nothing is imported), so
the docstring is the one home of what a module is for; tests/unit/test_module_map.py holds the
committed section equal to what this gives. Regenerate with `python -m harness.report.module_map --write`.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

from harness.paths import REPO_ROOT

HARNESS = REPO_ROOT / "harness"
ARCHITECTURE = REPO_ROOT / "docs" / "ARCHITECTURE.md"
# The layers of docs/ARCHITECTURE.md, in order: each may import the layers before it (and itself);
# tests/unit/test_import_layers.py holds the imports to it.
LAYERS = ("errors", "paths", "sizes", "files", "schema", "options", "models", "data", "scoring", "runs", "analysis", "claims", "report", "cli", "pytest_plugin")
BEGIN = ("<!-- module map: generated from the module docstrings by `python -m harness.report.module_map --write` "
         "(tests/unit/test_module_map.py holds it current); edit the docstrings, not this section -->")
END = "<!-- end of module map -->"
SENTENCE_END = re.compile(r"[.!?](?=\s+[A-Z`(\"']|$)")


class MissingDocstring(ValueError):
    """A module of the package says nothing about itself: the map has no entry to give it."""


def first_sentence(docstring: str) -> str:
    """The first sentence of a docstring's first paragraph, on one line ("e.g. x" does not end it)."""
    paragraph = " ".join(docstring.strip().split("\n\n")[0].split())
    end = SENTENCE_END.search(paragraph)
    return paragraph[: end.end()] if end else paragraph


def docstring_of(path: Path) -> str:
    """The module docstring of `path`, parsed, not imported; MissingDocstring when it has none."""
    doc = ast.get_docstring(ast.parse(path.read_text(), str(path)))
    if not doc:
        raise MissingDocstring(f"{path}: no module docstring (the module map of docs/ARCHITECTURE.md is made from them)")
    return doc


def _layer_order(name: str) -> tuple[int, str]:
    return (LAYERS.index(name) if name in LAYERS else len(LAYERS), name)


def section(package: Path = HARNESS) -> str:
    """The module map: the top-level modules, then each subpackage in layer order with its own first
    sentence and one line per module (alphabetical)."""
    lines = [BEGIN, "## Module map", "", "Each module's first docstring sentence; the subpackages in the order of the layers above.", ""]
    top = sorted((p for p in package.glob("*.py") if p.name != "__init__.py"), key=lambda p: _layer_order(p.stem))
    lines += [f"### `{package.name}/`", "", first_sentence(docstring_of(package / "__init__.py")), ""]
    lines += [f"- `{p.name}`: {first_sentence(docstring_of(p))}" for p in top]
    subpackages = sorted((d for d in package.iterdir() if (d / "__init__.py").is_file()), key=lambda d: _layer_order(d.name))
    for sub in subpackages:
        lines += ["", f"### `{package.name}/{sub.name}/`", "", first_sentence(docstring_of(sub / "__init__.py")), ""]
        lines += [f"- `{sub.name}/{p.name}`: {first_sentence(docstring_of(p))}" for p in sorted(sub.glob("*.py")) if p.name != "__init__.py"]
    return "\n".join([*lines, END])


def committed_section(text: str) -> str | None:
    """The module map as committed in `text` (docs/ARCHITECTURE.md), markers included; None without one."""
    start, end = text.find(BEGIN), text.find(END)
    return text[start: end + len(END)] if start >= 0 and end > start else None


def with_section(text: str, new: str) -> str:
    """`text` with its module map replaced by `new` (appended when it has none)."""
    old = committed_section(text)
    return text.replace(old, new) if old is not None else text.rstrip("\n") + "\n\n" + new + "\n"


def main(argv: list[str]) -> int:
    """Print the module map; --write puts it into docs/ARCHITECTURE.md."""
    new = section()
    if "--write" not in argv:
        print(new)
        return 0
    from harness.files import atomic_write_text

    atomic_write_text(ARCHITECTURE, with_section(ARCHITECTURE.read_text(), new))
    print(f"module map written to {ARCHITECTURE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
