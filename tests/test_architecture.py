"""The layering of docs/architecture.md, checked on the source: no module of jaxion imports another in a
loop (counting imports inside functions too), nothing but the command line imports the package face
``jaxion/__init__.py``, and every module stays below the size the architecture allows."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "jaxion"
MAX_LINES = 650  # "no module above ~600 lines" (docs/architecture.md)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute module of a ``from ... import`` inside ``module``."""
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _imports() -> dict[str, set[str]]:
    """Every jaxion module and the jaxion modules it imports (at any depth of the file)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "jaxion")
            elif isinstance(node, ast.ImportFrom):
                origin = _resolve(name, is_package, node.level, node.module) if node.level else (node.module or "")
                if origin.split(".")[0] != "jaxion":
                    continue
                for alias in node.names:  # `from . import theory` imports the module jaxion.theory
                    candidate = f"{origin}.{alias.name}"
                    found.add(candidate if candidate in modules else origin)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for child in sorted(graph[node]):
            if state.get(child) == 1:
                return stack[stack.index(child) :] + [child]
            if child not in state and (found := visit(child)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle():
    graph = _imports()
    assert len(graph) > 30  # the scan found the package
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_only_the_command_line_imports_the_package_face():
    graph = _imports()
    importers = sorted(name for name, targets in graph.items() if "jaxion" in targets and name != "jaxion")
    assert importers == ["jaxion.cli"], importers


def test_modules_stay_small():
    sizes = {_module_name(p): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    large = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not large, large


def test_the_scan_sees_a_real_loop():
    """The cycle finder itself: a hand-made loop is found, a tree is not."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
