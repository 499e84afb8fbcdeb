"""The task graph, as pure Python (no ORM): order, cycles, readiness and skip
propagation. Persistence and Celery wrap it (see orchestration.engine)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

DONE_OK = "completed"
# A dependency in one of these states will never complete: its dependents are skipped.
BLOCKING = frozenset({"failed", "skipped", "cancelled", "timed_out"})
FINAL = frozenset({DONE_OK, *BLOCKING})


class CycleError(ValueError):
    def __init__(self, cycle: Sequence[str]) -> None:
        super().__init__("dependency cycle: " + " -> ".join(cycle))
        self.cycle = list(cycle)


@dataclass(frozen=True)
class Graph:
    """Nodes and their dependencies. ``deps`` maps node id -> ids it depends on;
    dependencies on ids that are not nodes are ignored (validation reports them)."""

    deps: Mapping[str, tuple[str, ...]]

    @classmethod
    def from_nodes(cls, nodes: Iterable[Mapping[str, object]]) -> Graph:
        """Build from definition nodes (``{"id": ..., "dependsOn": [...]}``)."""
        raw: dict[str, tuple[str, ...]] = {}
        for node in nodes:
            node_id = node.get("id")
            if not isinstance(node_id, str) or node_id in raw:
                continue
            depends = node.get("dependsOn") or []
            raw[node_id] = tuple(d for d in depends if isinstance(d, str)) if isinstance(depends, list) else ()
        return cls({n: tuple(d for d in ds if d in raw) for n, ds in raw.items()})

    @property
    def nodes(self) -> list[str]:
        return list(self.deps)

    def children(self, node: str) -> list[str]:
        return [n for n, ds in self.deps.items() if node in ds]

    def find_cycle(self) -> list[str] | None:
        """A cycle as ``[a, b, ..., a]``, or None when the graph is acyclic."""
        white, grey, black = 0, 1, 2
        colour = dict.fromkeys(self.deps, white)
        stack: list[str] = []

        def visit(node: str) -> list[str] | None:
            colour[node] = grey
            stack.append(node)
            for dep in self.deps[node]:
                if colour[dep] == grey:
                    return [*stack[stack.index(dep):], dep]
                if colour[dep] == white:
                    found = visit(dep)
                    if found:
                        return found
            stack.pop()
            colour[node] = black
            return None

        for node in self.deps:
            if colour[node] == white:
                found = visit(node)
                if found:
                    return found
        return None

    def topological_order(self) -> list[str]:
        """Nodes with every dependency before its dependents (stable: ties keep
        definition order). Raises CycleError."""
        cycle = self.find_cycle()
        if cycle:
            raise CycleError(cycle)
        order: list[str] = []
        placed: set[str] = set()
        remaining = list(self.deps)
        while remaining:
            for node in remaining:
                if all(d in placed for d in self.deps[node]):
                    order.append(node)
                    placed.add(node)
                    remaining.remove(node)
                    break
        return order

    def ancestors(self, node: str) -> set[str]:
        seen: set[str] = set()
        todo = list(self.deps.get(node, ()))
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(self.deps.get(current, ()))
        return seen

    def descendants(self, node: str) -> set[str]:
        seen: set[str] = set()
        todo = self.children(node)
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(self.children(current))
        return seen

    def layers(self) -> list[list[str]]:
        """Nodes grouped by depth (longest path from a root): for drawing."""
        depth: dict[str, int] = {}
        for node in self.topological_order():
            depth[node] = max((depth[d] + 1 for d in self.deps[node]), default=0)
        out: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
        for node, level in depth.items():
            out[level].append(node)
        return out


@dataclass(frozen=True)
class Step:
    """What the engine should do next, computed from node statuses."""

    ready: list[str]
    # node id -> reason it will never run
    skip: dict[str, str]


def next_step(graph: Graph, statuses: Mapping[str, str]) -> Step:
    """Given every node's status, the ``pending`` nodes that can start now and
    the ``pending`` nodes that must be skipped because a dependency will never
    complete. Skips cascade within one call."""
    current = dict(statuses)
    skip: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        for node in graph.nodes:
            if current.get(node) != "pending":
                continue
            blocked = [d for d in graph.deps[node] if current.get(d) in BLOCKING]
            if blocked:
                dep = blocked[0]
                skip[node] = f"upstream node {dep!r} {current[dep].replace('_', ' ')}"
                current[node] = "skipped"
                changed = True
    ready = [
        node
        for node in graph.nodes
        if current.get(node) == "pending" and all(current.get(d) == DONE_OK for d in graph.deps[node])
    ]
    return Step(ready=ready, skip=skip)


def rerun_set(graph: Graph, statuses: Mapping[str, str]) -> set[str]:
    """Nodes a retry or re-run must run again: every node that did not complete,
    plus everything downstream of those."""
    again = {n for n in graph.nodes if statuses.get(n) != DONE_OK}
    for node in list(again):
        again |= graph.descendants(node)
    return again
