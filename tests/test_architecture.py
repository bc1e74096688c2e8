"""The package's house rules, read from its source (ast): no import cycle between modules or between subpackages, the
directions the README's architecture table promises, a small top level, and no function over 80 lines."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "lmvid_lib"
TOP_LEVEL = {"__init__", "cli", "config", "io", "landmarks", "paths", "seed"}
SUBPACKAGES = {"data", "models", "train", "eval", "report", "playground", "publish"}
# (importer, imported): directions that must never appear, by module or subpackage name
FORBIDDEN = [
    ("landmarks", "models"),
    ("landmarks", "data"),
    ("data", "models"),
    *(("models", other) for other in ("train", "eval", "report", "playground", "publish")),
    *(("eval", other) for other in ("train", "report", "playground", "publish")),
    *(("train", other) for other in ("report", "playground", "publish")),
    *((core, other) for core in ("config", "io", "seed", "paths") for other in sorted(SUBPACKAGES)),
]


def _modules(package: Path) -> dict[str, Path]:
    found = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the package modules it imports (at any depth of its code, so a deferred import counts too)."""
    modules = _modules(package)

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = defaultdict(set)
    for module, path in modules.items():
        base = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                parent = ".".join(base.split(".")[: len(base.split(".")) - node.level + 1]) if node.level else ""
                source = ".".join(p for p in (parent, node.module) if p)
                targets = [f"{source}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                found = resolve(target) if target.startswith(package.name) else None
                if found and found != module and found != package.name:
                    graph[module].add(found)
    return {module: graph[module] for module in modules}


def group(module: str) -> str:
    """The subpackage a module belongs to, or its own name at the top level ("lmvid_lib.data.bair" -> "data")."""
    return module.split(".")[1] if "." in module else module


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def group_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    groups = defaultdict(set)
    for module, imported in graph.items():
        groups[group(module)] |= {group(m) for m in imported if group(m) != group(module)}
    return dict(groups)


def test_no_import_cycle_between_modules():
    assert cycles(import_graph()) == []


def test_no_import_cycle_between_subpackages():
    assert cycles(group_graph(import_graph())) == []


@pytest.mark.parametrize(("importer", "imported"), FORBIDDEN, ids=[f"{a}-not-{b}" for a, b in FORBIDDEN])
def test_forbidden_direction(importer, imported):
    edges = [
        f"{m} -> {t}"
        for m, targets in import_graph().items()
        if group(m) == importer
        for t in targets
        if group(t) == imported
    ]
    assert edges == [], f"{importer} must not import {imported}: {edges}"


def test_the_top_level_holds_only_what_everything_shares():
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert top <= TOP_LEVEL, f"modules at lmvid_lib's top level beyond the shared core: {sorted(top - TOP_LEVEL)}"
    assert {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()} <= SUBPACKAGES


def test_no_function_over_80_lines():
    long = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in sorted(PACKAGE.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 80
    ]
    assert long == []


def test_the_checks_see_a_cycle_and_a_forbidden_edge(tmp_path):
    package = tmp_path / "lmvid_lib"
    for name, text in {
        "__init__.py": "",
        "a.py": "from lmvid_lib import b\n",
        "b.py": "def f():\n    from lmvid_lib.a import x  # a deferred import is an edge too\n",
        "data/__init__.py": "",
        "data/load.py": "from ..models.net import Net\n",
        "models/__init__.py": "",
        "models/net.py": "Net = 1\n",
    }.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    graph = import_graph(package)
    assert cycles(graph) == [["lmvid_lib.a", "lmvid_lib.b"]]
    assert graph["lmvid_lib.data.load"] == {"lmvid_lib.models.net"}
    assert group_graph(graph)["data"] == {"models"}
