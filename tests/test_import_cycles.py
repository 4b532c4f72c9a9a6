"""No import circle among the project's modules.

A circle (``a`` imports ``b`` imports ``a``, however long the way round) is what
function-local imports hide: it works until someone imports in another order. The graph is
grimp's (import-linter's engine), which reads every import of every module, function-local
and ``TYPE_CHECKING`` ones included, so a circle cannot hide inside a function.
"""

from __future__ import annotations

from collections import deque

import grimp
import pytest

PACKAGES = ("config", "authenticator", "accounts", "otp", "sessions_log")


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """The graph's strongly connected components of more than one module, or of one module
    that imports itself (Tarjan's algorithm, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges[node]:
                    found.append(sorted(component))
    return found


def one_cycle(edges: dict[str, set[str]], component: list[str]) -> list[str]:
    """A shortest way round from the component's first module back to it."""
    start, members = component[0], set(component)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(edges[node] & members):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if child not in came_from:
                came_from[child] = node
                queue.append(child)
    return component  # pragma: no cover - a component always has a way round


def import_graph() -> dict[str, set[str]]:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    return {module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules}


@pytest.fixture(scope="module")
def edges() -> dict[str, set[str]]:
    return import_graph()


def test_the_graph_is_the_whole_project(edges):
    # The graph really holds the modules (else "no cycle" would prove nothing).
    for module in ("accounts.managers", "accounts.services", "accounts.models", "accounts.status",
                   "authenticator.flows.account_status", "authenticator.core.errors", "otp.checks",
                   "sessions_log.services", "authenticator.admin.accounts"):
        assert module in edges, module
    assert "accounts.models" in edges["accounts.services"]
    assert "accounts.managers" in edges["accounts.models"]
    # Function-local imports are edges too.
    assert "authenticator.flows.account_status" in edges["authenticator.management.base"]


def test_no_import_cycle_among_the_projects_modules(edges):
    cycles = [" -> ".join(one_cycle(edges, component)) for component in strongly_connected(edges)]
    assert cycles == [], "import circles:\n" + "\n".join(cycles)


def test_the_cycle_finder_finds_cycles():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}, "f": {"d"}}
    assert strongly_connected(edges) == [["a", "b", "c"], ["e"]]
    assert one_cycle(edges, ["a", "b", "c"]) == ["a", "b", "c", "a"]
    assert one_cycle(edges, ["e"]) == ["e", "e"]
