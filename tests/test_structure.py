"""The package's shape: no import cycles between docmgr modules, few imports hidden in functions.

The import graph is read from the source with ``ast`` (nothing is imported), so the test sees
imports inside functions as well as at module level: an import moved into a function to dodge a
cycle is still a cycle. Imports under ``if TYPE_CHECKING:`` never run and are left out.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = "docmgr"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE
MAX_FUNCTION_LEVEL_IMPORTS = 15  # the bound: below 15 for the whole package


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py")) if "migrations" not in p.relative_to(ROOT).parts}


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement that can run, with whether it sits inside a function."""

    def walk(node: ast.AST, in_function: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for other in child.orelse:
                    yield from walk(ast.Module(body=[other], type_ignores=[]), in_function)
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                yield child, in_function
            else:
                yield from walk(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))

    yield from walk(tree, False)


def _resolve(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The docmgr modules an import statement loads (by name; not the parent packages it implies)."""
    targets: set[str] = set()
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                targets.add(alias.name)
        return {t for t in targets if t in MODULES}
    if node.level:  # relative: from the module's package upwards
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{node.module}" if node.module else package
    else:
        base = node.module or ""
    if base != PACKAGE and not base.startswith(PACKAGE + "."):
        return set()
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        targets.add(submodule if submodule in MODULES else base)
    return {t for t in targets if t in MODULES}


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    """Edges module -> modules it imports, and "file:line module" for each function-level import."""
    edges: dict[str, set[str]] = {name: set() for name in MODULES}
    hidden: list[str] = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, in_function in _imports(tree):
            targets = _resolve(name, path, node) - {name}
            edges[name] |= targets
            if in_function and targets:
                hidden.append(f"{path.relative_to(ROOT.parent)}:{node.lineno} imports {', '.join(sorted(targets))}")
    return edges, hidden


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges[node]):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return [_a_cycle_in(component, edges) for component in components]


def _group_of(module: str, edges: dict[str, set[str]]) -> set[str]:
    """The modules reachable from ``module`` that also reach it back."""

    def reachable(start: str, step) -> set[str]:
        seen, todo = {start}, [start]
        while todo:
            for target in step(todo.pop()):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return seen

    return reachable(module, lambda m: edges[m]) & reachable(module, lambda m: {s for s, t in edges.items() if m in t})


def _a_cycle_in(component: set[str], edges: dict[str, set[str]]) -> list[str]:
    """A shortest path from the component's first module back to itself (breadth first)."""
    start = min(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(edges[node] & component):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if target not in previous:
                    previous[target] = node
                    following.append(target)
        frontier = following
    return [start]


# --- the checker checks what it should -------------------------------------------------------------


def test_the_graph_sees_module_level_function_level_and_relative_imports():
    source = (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "import docmgr.errors\n"
        "from docmgr.accounts import models\n"
        "from . import vocab\n"
        "if TYPE_CHECKING:\n"
        "    from docmgr.audit.models import AuditEvent\n"
        "def f():\n"
        "    from docmgr.storage import current_store\n"
    )
    found = [(n, inside) for n, inside in _imports(ast.parse(source))]
    targets = [(_resolve("docmgr.web", ROOT / "web.py", n), inside) for n, inside in found]
    assert targets[2:] == [
        ({"docmgr.errors"}, False), ({"docmgr.accounts.models"}, False), ({"docmgr.vocab"}, False),
        ({"docmgr.storage"}, True),
    ]


def test_the_cycle_finder_names_a_cycle_and_passes_a_tree():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert _cycles(edges) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


# --- the package ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> tuple[dict[str, set[str]], list[str]]:
    return _graph()


def test_no_import_cycle_between_docmgr_modules(graph):
    edges, _ = graph
    cycles = _cycles(edges)
    assert not cycles, "import cycles (one per group of modules that import each other):\n" + "\n".join(
        " -> ".join(cycle) + f"   (group: {', '.join(sorted(_group_of(cycle[0], edges)))})" for cycle in cycles
    )


def test_few_docmgr_imports_inside_functions(graph):
    _, hidden = graph
    assert len(hidden) < MAX_FUNCTION_LEVEL_IMPORTS, (
        f"{len(hidden)} imports of docmgr modules inside functions (fewer than {MAX_FUNCTION_LEVEL_IMPORTS} wanted):\n"
        + "\n".join(hidden)
    )


def test_errors_is_a_leaf_module(graph):
    """Services raise docmgr.errors from everywhere; it must import nothing of docmgr itself."""
    edges, _ = graph
    assert edges["docmgr.errors"] == set()
    assert edges["docmgr.vocab"] == set()


# No database, search backend or queue here: CI's second pass (PostgreSQL + Redis) does not run these again.
pytestmark = pytest.mark.backend_independent
