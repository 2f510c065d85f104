"""The package layout: the import graph of vocloud's modules has no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import vocloud

SRC = Path(vocloud.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path, modules: set[str]) -> set[str]:
    """vocloud modules imported at module level (not under TYPE_CHECKING, not in functions)."""
    found: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.If | ast.Try):
            todo.extend(ast.iter_child_nodes(node))
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = [f"{node.module}.{a.name}" for a in node.names]
            # ``from package import submodule`` needs the submodule only
            names = subs if all(s in modules for s in subs) else [node.module, *subs]
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name.startswith("vocloud"):
                found.add(name)
    return found


def test_no_import_cycles() -> None:
    paths = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph = {m: _top_level_imports(p, set(paths)) - {m} for m, p in paths.items()}
    cycles = []
    for start in graph:
        stack = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    cycles.append(" -> ".join([*trail, nxt]))
                elif nxt not in trail and nxt > start:
                    stack.append((nxt, [*trail, nxt]))
    assert cycles == []
