"""A model name is resolved once, where it enters (the CLI's arguments, a design, a claims source):
runs/, scoring/ and models/ take the `ModelSpec` and never look a name up in the registry again.

An AST scan of those packages: any call of the registry's `get` (`registry.get(...)`, or `get` imported
from harness.models.registry) or any subscript of `MODELS` is a failure naming file and line. The one
place left that resolves a name is `tokenizers.load_tokenizer`: its argument is a TOKENIZER name a
design file may give ("gguf:MODEL", a twin borrowing another model's GGUF tokenizer), text at an entry.
"""

from __future__ import annotations

import ast

from harness.paths import REPO_ROOT

PACKAGES = ("runs", "scoring", "models")
# (file, function) pairs allowed to resolve a name, each with its reason above
ALLOWED = {("harness/models/tokenizers.py", "load_tokenizer")}


def _resolutions(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, function) of every registry look-up by name in a module: registry.get(...), a `get`
    imported from harness.models.registry, MODELS[...]."""
    imported_get = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "harness.models.registry"
        for alias in node.names
        if alias.name == "get"
    }
    found = []

    def visit(node: ast.AST, function: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = node.name
        looked_up = (
            isinstance(node, ast.Call)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                 and isinstance(node.func.value, ast.Name) and node.func.value.id == "registry")
                or (isinstance(node.func, ast.Name) and node.func.id in imported_get)
            )
        ) or (
            isinstance(node, ast.Subscript) and isinstance(node.value, (ast.Name, ast.Attribute))
            and (getattr(node.value, "id", None) or getattr(node.value, "attr", None)) == "MODELS"
        )
        if looked_up:
            found.append((node.lineno, function))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, "<module>")
    return found


def test_runs_scoring_and_models_never_look_a_model_name_up_again():
    offenders = []
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / "harness" / package).glob("*.py")):
            relative = path.relative_to(REPO_ROOT).as_posix()
            if relative == "harness/models/registry.py":  # the registry itself: `get` is defined there
                continue
            for line, function in _resolutions(ast.parse(path.read_text(), filename=relative)):
                if (relative, function) not in ALLOWED:
                    offenders.append(f"{relative}:{line} in {function}")
    assert not offenders, "a model name resolved again below its entry (take the ModelSpec instead): " + "; ".join(offenders)


def test_the_scan_finds_each_form_of_look_up():
    """The scan itself: each form it must catch, caught (a check that never fires checks nothing)."""
    source = (
        "from harness.models import registry\n"
        "from harness.models.registry import get as lookup, MODELS\n"
        "def a(name):\n    return registry.get(name)\n"
        "def b(name):\n    return lookup(name)\n"
        "def c(name):\n    return MODELS[name]\n"
        "def d(spec):\n    return spec.n_layers\n"
    )
    assert [function for _, function in _resolutions(ast.parse(source))] == ["a", "b", "c"]
