"""devhost's modules import each other without cycles, and its packages' docstrings name all their modules.

The graph is read from the source with `ast`: every `import` and `from ... import` of a devhost module, at module
level or inside a function (a lazy import hides a cycle, it does not remove it), except those guarded by
`if TYPE_CHECKING:` (never run). `from package import name` is an edge to `package.name` when that is a module,
else to the package. A package's own `__init__` being run before its submodules is Python's doing, not an edge.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from tests.support.devhost import REPO_ROOT

PACKAGE = "devhost"


def _modules(root: Path = REPO_ROOT) -> dict[str, Path]:
    """Every devhost module by dotted name (`devhost.durable` for `devhost/durable/__init__.py`)."""
    found: dict[str, Path] = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements that can run: everything but the body of `if TYPE_CHECKING:` (its `else` counts)."""
    if isinstance(tree, ast.If) and _is_type_checking(tree.test):
        for node in tree.orelse:
            yield from _imports(node)
        return
    if isinstance(tree, (ast.Import, ast.ImportFrom)):
        yield tree
    for child in ast.iter_child_nodes(tree):
        yield from _imports(child)


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, known: set[str]) -> set[str]:
    """The devhost modules one import statement loads."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    base = node.module or ""
    if node.level:
        anchor = module.split(".") if is_package else module.split(".")[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    targets = set()
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        if submodule in known:
            targets.add(submodule)
        elif base in known:
            targets.add(base)
    return targets


def import_graph(root: Path = REPO_ROOT) -> dict[str, set[str]]:
    """devhost's import graph: module -> the devhost modules it imports."""
    modules = _modules(root)
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        edges: set[str] = set()
        for node in _imports(tree):
            edges |= _targets(name, path.name == "__init__.py", node, known)
        graph[name] = edges - {name}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path that returns to its start) for every strongly connected part with more than one
    module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    parts: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            part = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                part.append(member)
                if member == node:
                    break
            if len(part) > 1:
                parts.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_cycle_in(graph, set(part), part[0]) for part in parts]


def _cycle_in(graph: dict[str, set[str]], part: set[str], start: str) -> list[str]:
    """A shortest path from `start` back to itself inside `part`."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & part):
                if target == start:
                    return [*paths[node], start]
                if target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"{start} is in a cycle with no path back")


def test_devhost_has_no_import_cycles() -> None:
    """Every cycle found is named, e.g. `devhost.loader -> devhost.invoke -> devhost.loader`."""
    graph = import_graph()
    assert "devhost.server" in graph and "devhost.durable.engine" in graph
    cycles = [" -> ".join(cycle) for cycle in find_cycles(graph)]
    assert not cycles, "import cycles in devhost:\n" + "\n".join(cycles)


def test_the_checker_sees_lazy_imports_and_skips_type_checking_ones(tmp_path: Path) -> None:
    """A cycle closed by a function-level import is found; one closed only under TYPE_CHECKING is not."""
    package = tmp_path / PACKAGE
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from devhost.sub.b import thing\n")
    (package / "a.py").write_text("import devhost.sub.b\n")
    (package / "sub" / "b.py").write_text("def f():\n    from devhost import a\n\nthing = 1\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import d\n")
    (package / "d.py").write_text("from . import c\n")
    graph = import_graph(tmp_path)
    assert graph["devhost.sub"] == {"devhost.sub.b"} and graph["devhost.d"] == {"devhost.c"}
    assert graph["devhost.c"] == set()
    assert find_cycles(graph) == [["devhost.a", "devhost.sub.b", "devhost.a"]]


def test_each_package_docstring_names_every_module_of_its_package() -> None:
    """`devhost/__init__.py` and `devhost/durable/__init__.py` list their modules (a module added is named there)."""
    modules = _modules()
    for package in ("devhost", "devhost.durable"):
        doc = ast.get_docstring(ast.parse(modules[package].read_text(encoding="utf-8"))) or ""
        named = set(re.findall(r"`([a-z_]+)`", doc))
        members = {m.rsplit(".", 1)[1] for m in modules if "." in m and m.rsplit(".", 1)[0] == package}
        assert members - named == set(), f"{package}'s docstring does not name {sorted(members - named)}"
