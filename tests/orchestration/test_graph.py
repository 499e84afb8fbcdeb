"""The pure graph module: order, cycles, readiness, skip propagation."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from orchestration.graph import CycleError, Graph, next_step, rerun_set


def g(*edges: tuple[str, list[str]]) -> Graph:
    return Graph.from_nodes([{"id": n, "dependsOn": deps} for n, deps in edges])


DIAMOND = g(("a", []), ("b", ["a"]), ("c", ["a"]), ("d", ["b", "c"]))


def test_topological_order_puts_dependencies_first_and_keeps_definition_order():
    assert DIAMOND.topological_order() == ["a", "b", "c", "d"]
    assert g(("x", ["y"]), ("y", [])).topological_order() == ["y", "x"]


def test_it_names_the_nodes_of_a_cycle():
    graph = g(("a", ["c"]), ("b", ["a"]), ("c", ["b"]), ("d", []))
    cycle = graph.find_cycle()
    assert cycle is not None and cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}
    try:
        graph.topological_order()
    except CycleError as exc:
        assert "dependency cycle: " in str(exc)
    else:
        raise AssertionError("a cycle must raise")


def test_a_node_depending_on_itself_is_a_cycle():
    assert g(("a", ["a"])).find_cycle() == ["a", "a"]


def test_unknown_dependencies_are_ignored_by_the_graph():
    assert g(("a", ["ghost"])).deps == {"a": ()}


def test_roots_are_ready_first():
    step = next_step(DIAMOND, dict.fromkeys("abcd", "pending"))
    assert step.ready == ["a"] and step.skip == {}


def test_a_join_waits_for_every_dependency():
    statuses = {"a": "completed", "b": "completed", "c": "running", "d": "pending"}
    assert next_step(DIAMOND, statuses).ready == []
    statuses["c"] = "completed"
    assert next_step(DIAMOND, statuses).ready == ["d"]


def test_it_skips_downstream_of_a_failed_node_transitively():
    graph = g(("a", []), ("b", ["a"]), ("c", ["b"]), ("other", []))
    step = next_step(graph, {"a": "failed", "b": "pending", "c": "pending", "other": "pending"})
    assert step.skip == {"b": "upstream node 'a' failed", "c": "upstream node 'b' skipped"}
    assert step.ready == ["other"]


def test_skipped_and_timed_out_dependencies_also_block():
    for status, words in [("skipped", "skipped"), ("timed_out", "timed out"), ("cancelled", "cancelled")]:
        step = next_step(DIAMOND, {"a": "completed", "b": status, "c": "completed", "d": "pending"})
        assert step.skip == {"d": f"upstream node 'b' {words}"}


def test_rerun_set_is_unfinished_nodes_and_their_descendants():
    statuses = {"a": "completed", "b": "failed", "c": "completed", "d": "skipped"}
    assert rerun_set(DIAMOND, statuses) == {"b", "d"}


def test_layers_group_nodes_by_longest_path():
    assert DIAMOND.layers() == [["a"], ["b", "c"], ["d"]]


@st.composite
def dags(draw):
    n = draw(st.integers(min_value=1, max_value=12))
    names = [f"n{i}" for i in range(n)]
    edges = []
    for i, name in enumerate(names):
        deps = draw(st.lists(st.sampled_from(names[:i]), unique=True)) if i else []
        edges.append((name, deps))
    order = draw(st.permutations(edges))
    return g(*order)


@given(dags())
def test_every_dependency_comes_before_its_dependent(graph):
    order = graph.topological_order()
    assert sorted(order) == sorted(graph.nodes)
    position = {n: i for i, n in enumerate(order)}
    for node, deps in graph.deps.items():
        assert all(position[d] < position[node] for d in deps)


@given(dags(), st.data())
def test_running_ready_nodes_to_completion_finishes_every_node(graph, data):
    statuses = dict.fromkeys(graph.nodes, "pending")
    for _ in range(len(graph.nodes) + 1):
        step = next_step(graph, statuses)
        for node in step.skip:
            statuses[node] = "skipped"
        if not step.ready:
            break
        for node in step.ready:
            statuses[node] = data.draw(st.sampled_from(["completed", "failed"]))
    assert all(s in ("completed", "failed", "skipped") for s in statuses.values())
    for node, deps in graph.deps.items():
        if statuses[node] == "completed":
            assert all(statuses[d] == "completed" for d in deps)
