"""The package's floors, checked from the source: every import between top-level packages of `workbench/`
goes down (or sideways within a floor without a cycle), and there is no import cycle between packages, which
a module-level check cannot see (a <-> b through different modules of each)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "workbench"

# Lowest first. A unit may import its own floor's other units (no cycle) and any floor below.
FLOORS: list[set[str]] = [
    {"errors", "config", "fsutil", "logs", "csvsafe", "stops", "gguf_meta", "clock"},
    {"engine"},
    {"library"},  # records and sandboxed rendering: templates, datasets, chat formats, files
    {"scoring"},  # checks, metrics, judges (a judge model is handed in), agreement statistics
    {"store"},  # the only SQL; stores engine and library records
    {"models"},  # registry, added files, load settings, connections, opening an engine
    {"text"},
    {"runs"},  # generating N samples and keeping them; history; copy as code
    {"chat", "explore"},
    {"experiments"},
    {"suites"},  # promptfoo configs in, eval JSON out
    {"cli", "ui", "__main__"},
]


def unit_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "workbench" else None


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
            found.extend(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return found


def package_edges(root: Path = ROOT) -> dict[tuple[str, str], str]:
    """(importing unit, imported unit) -> the first place it happens (file:line of the module)."""
    modules = {module_name(p, root): p for p in root.rglob("*.py")}
    edges: dict[tuple[str, str], str] = {}
    for name, path in sorted(modules.items()):
        source = unit_of(name)
        for target in imported_modules(path):
            if target not in modules:
                continue
            dest = unit_of(target)
            if source and dest and dest != source:
                edges.setdefault((source, dest), str(path.relative_to(root.parent)))
    return edges


def cycles(edges) -> list[list[str]]:
    """Strongly connected groups of more than one unit (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def floor_of(unit: str) -> int:
    for level, units in enumerate(FLOORS):
        if unit in units:
            return level
    raise AssertionError(f"workbench/{unit} is on no floor: add it to FLOORS in {__file__}")


def upward(edges) -> list[str]:
    return [
        f"{a} imports {b} ({where}): {b} is above {a}"
        for (a, b), where in sorted(edges.items())
        if floor_of(b) > floor_of(a)
    ]


def test_no_cycle_between_packages():
    assert cycles(package_edges()) == []


def test_every_import_goes_down():
    edges = package_edges()
    assert len(edges) > 20  # the check sees the real graph
    assert upward(edges) == []


def test_every_unit_has_a_floor():
    units = {module_name(p).split(".")[1] for p in ROOT.rglob("*.py") if module_name(p) != "workbench"}
    for unit in units:
        floor_of(unit)


@pytest.mark.parametrize(
    ("importer", "line"),
    [
        ("library/files.py", "from workbench.store.base import StoreBase"),  # library <-> store via two modules
        ("engine/base.py", "from workbench.models.registry import resolve"),  # engine <-> models
        ("library/datasets.py", "import workbench.chat.session"),  # plain import form
    ],
)
def test_a_cycle_put_in_on_purpose_is_caught(tmp_path, importer, line):
    import shutil

    copy = tmp_path / "workbench"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / importer
    target.write_text(line + "\n" + target.read_text(encoding="utf-8"), encoding="utf-8")
    edges = package_edges(copy)
    assert cycles(edges) != []
    assert upward(edges) != []
    assert cycles(package_edges(ROOT)) == [] and upward(package_edges(ROOT)) == []
