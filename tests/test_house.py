"""The house's rules, read from the code: storage has one home, the domain is free of Azure Functions, devhost
never imports the app, and no package imports in a circle.

The import graph is built with `ast` from every module of the app and devhost: module-level imports and imports
inside functions count (a lazy import only hides a cycle); imports under `if TYPE_CHECKING:` do not.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ("activities", "api", "assistant", "entities", "maintenance", "orchestrators", "skills", "storage")
HOST = ("devhost",)


def _modules(packages: tuple[str, ...]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    if "function_app" not in found and packages == APP:
        found["function_app"] = ROOT / "function_app.py"
    return found


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, module: str) -> set[str]:
    """Every module `module` imports (absolute names; relative imports resolved), TYPE_CHECKING-only ones left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _type_checking(node):
            skip.update(id(child) for child in ast.walk(node))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _graph(packages: tuple[str, ...]) -> dict[str, set[str]]:
    modules = _modules(packages)
    return {name: {i for i in _imports(path, name) if i in modules and i != name} for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles_in_the_app() -> None:
    """No set of the app's modules imports itself in a circle (lazy imports count)."""
    assert _cycles(_graph(APP)) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check itself: a cycle of three and a self-contained pair are found, a chain is not."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"e"}, "e": {"d"}, "f": {"a"}}
    assert sorted(_cycles(graph)) == [["a", "b", "c"], ["d", "e"]]


def test_only_storage_talks_to_table_storage() -> None:
    """`storage/` is the one home of storage: no other module of the app imports the Table SDK."""
    offenders = [
        name
        for name, path in _modules(APP).items()
        if not name.startswith("storage") and any(i.startswith("azure.data.tables") for i in _imports(path, name))
    ]
    assert offenders == []


def test_the_domain_is_free_of_azure_functions_and_storage() -> None:
    """`assistant/` imports neither Azure Functions, the Durable SDK nor any room above it."""
    rooms = (
        "azure.functions",
        "azure.durable_functions",
        "azure.data",
        "api",
        "activities",
        "entities",
        "orchestrators",
        "skills",
        "storage",
        "maintenance",
        "devhost",
    )
    offenders = {
        name: sorted(
            i
            for i in _imports(path, name)
            if i.split(".")[0] in {r.split(".")[0] for r in rooms}
            and any(i == r or i.startswith(r + ".") for r in rooms)
        )
        for name, path in _modules(("assistant",)).items()
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_devhost_never_imports_the_app() -> None:
    """devhost runs any v2 app: it imports none of this app's packages."""
    offenders = {
        name: sorted(i for i in _imports(path, name) if i.split(".")[0] in APP) for name, path in _modules(HOST).items()
    }
    assert {k: v for k, v in offenders.items() if v} == {}
