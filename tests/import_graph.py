"""Finding import cycles, for the structure tests of the core package and the simulator."""

from __future__ import annotations

from collections.abc import Mapping, Set


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
