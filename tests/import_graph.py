"""Reading imports and finding cycles, for the structure tests of the core package and
the simulator."""

from __future__ import annotations

import ast
from collections.abc import Mapping, Set
from pathlib import Path


def module_name(path: Path, root: Path, package: str) -> str:
    """The dotted name of ``path``, a file under ``root`` (the directory of ``package``)."""
    parts = (package, *path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, name: str, *, module_level_only: bool) -> set[str]:
    """The modules the module ``name`` (at ``path``) imports, as absolute names: at module
    level only (what importing it runs), or anywhere in it (functions too)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            # "from . import defaults" imports a module, not a name.
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def cycles(graph: Mapping[str, Set[str]]) -> list[str]:
    """Every cycle a depth-first walk of ``graph`` (module -> modules it imports) meets,
    as ``"a -> b -> a"``."""
    found: list[str] = []
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            found.append(" -> ".join([*visiting[visiting.index(name):], name]))
            return
        visiting.append(name)
        for other in sorted(graph[name]):
            visit(other)
        visiting.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)
    return found
