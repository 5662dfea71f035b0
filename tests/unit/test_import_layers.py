"""The layers of docs/ARCHITECTURE.md hold: no module imports a subpackage above its own, at the top
of the file or inside a function (a function-local import is still an edge), and no two modules of
one subpackage import each other in a cycle. Parsed from the source with `ast`; nothing is imported."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from harness.paths import REPO_ROOT

pytestmark = pytest.mark.unit

HARNESS = REPO_ROOT / "harness"
# The order of docs/ARCHITECTURE.md: each layer may import the layers before it (and itself).
LAYERS = ("paths", "sizes", "files", "schema", "options", "models", "data", "scoring", "runs", "analysis", "claims", "report", "cli", "pytest_plugin")
# analysis and runs are siblings: analysis reads tables, never scans; runs never analyses.
FORBIDDEN = {("analysis", "runs"), ("runs", "analysis")}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _edges() -> list[tuple[str, str, int]]:
    """(importing module, imported harness module, line) for every import in harness/."""
    out = []
    for path in sorted(HARNESS.rglob("*.py")):
        module = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("harness.") and (HARNESS.parent / Path(*name.split("."))).with_suffix(".py").exists() or (
                    name.startswith("harness.") and (HARNESS.parent / Path(*name.split("."))).is_dir()
                ):
                    out.append((module, name, node.lineno))
    return out


def test_layer_order_is_documented():
    text = (REPO_ROOT / "docs" / "ARCHITECTURE.md").read_text()
    documented = re.findall(r"^\| `harness/(\w+)", text, flags=re.M)
    assert [layer for layer in documented if layer in LAYERS] == [layer for layer in LAYERS if layer in documented]


def test_no_import_runs_up_the_layers():
    bad = []
    for src, dst, line in _edges():
        a, b = _layer(src), _layer(dst)
        if a in ("__init__", "__main__") or a == b:
            continue
        if b not in LAYERS or a not in LAYERS or LAYERS.index(b) > LAYERS.index(a) or (a, b) in FORBIDDEN:
            bad.append(f"{src}:{line} imports {dst}")
    assert not bad, "imports running up docs/ARCHITECTURE.md's layers:\n" + "\n".join(bad)


def test_no_import_cycle_between_modules():
    graph: dict[str, set[str]] = {}
    modules = {m for m, _, _ in _edges()}
    for src, dst, _ in _edges():
        target = dst if dst in modules else dst.rpartition(".")[0]
        if target in modules and target != src and not target.endswith(("harness",)):
            graph.setdefault(src, set()).add(target)
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in stack:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif len(stack) < 12:
                visit(nxt, stack + [nxt])

    for start in sorted(graph):
        visit(start, [start])
    assert not cycles, "import cycles:\n" + "\n".join(sorted(set(cycles))[:20])


def test_the_claims_gate_path_imports_no_torch():
    """`pytest claims/` loads sources, asks which weights are here and evaluates claims; none of it
    needs torch (about 2-3 s to import), so none of it may import torch or transformers at module level."""
    import subprocess
    import sys

    code = (
        "import sys; import harness.pytest_plugin, harness.claims.sources, harness.claims.checks, "
        "harness.runs.recompute, harness.models.weights; "
        "print(','.join(m for m in ('torch', 'transformers', 'transformer_lens') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "", f"the claims gate imports {done.stdout.strip()}"
