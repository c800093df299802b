"""The packer's modules import each other without a cycle: top-level, lazy (inside a function) and type-only
imports all count, so every module can be read, and loaded, before the ones that use it."""

from __future__ import annotations

import ast
from pathlib import Path

import v4agent.pack

PACK = Path(v4agent.pack.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACK.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Each pack module's imports of other pack modules, wherever in the module they are."""
    modules = {_module_name(p): p for p in PACK.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets.add(node.module)
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)  # a submodule imported by name
        graph[name] = {t for t in targets if t in modules and t != name and t != "v4agent.pack"}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path of modules, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


def test_the_checker_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_pack_module_imports_one_that_imports_it_back() -> None:
    graph = _imports()
    assert graph.get("v4agent.pack.work.packrun")  # the scan sees imports
    assert _cycle(graph) is None
