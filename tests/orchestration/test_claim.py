"""The claim of a dispatched node (``engine.node_claim``): with the execution
and node ids its message carries, the claim reads the node's upstream outputs
in its own statement (one round trip); a message whose ids do not match the
claimed row never reads another node's outputs. The tests play the worker."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from orchestration import engine, services
from orchestration.models import Execution, NodeStatus
from tests.orchestration.conftest import Statements, node_map

pytestmark = pytest.mark.django_db(transaction=True)

# a -> b -> c, a -> x -> y: c may read a and b (and its inputFrom a), never x or y.
WORKFLOWS = [
    {"id": "a", "workflow": "echo"},
    {"id": "b", "workflow": "echo", "dependsOn": ["a"]},
    {"id": "x", "workflow": "echo", "dependsOn": ["a"]},
    {"id": "c", "workflow": "echo", "dependsOn": ["b"], "inputFrom": "a.output"},
    {"id": "y", "workflow": "echo", "dependsOn": ["x"]},
]
OUTPUTS: dict[str, Any] = {"a": {"rows": [1, 2.5, None], "name": "é\"'"}, "b": None, "x": {"secret": "of x"}}


def _finish(execution: Execution, node_id: str) -> None:
    run = node_map(execution)[node_id]
    assert engine.node_claim(node_run_id=run.pk, dispatch_id=str(run.dispatch_id), worker="w") is not None
    engine.node_finish(node_run_id=run.pk, dispatch_id=str(run.dispatch_id),
                       outcome=engine.Outcome(status=NodeStatus.COMPLETED, output=OUTPUTS[node_id]))


def _ready_for_c(task) -> Execution:
    execution = services.execution_create(task=task, input={"in": 1})
    for node_id in ("a", "b", "x"):
        _finish(execution, node_id)
    assert node_map(execution)["c"].status == NodeStatus.QUEUED
    engine.frozen(execution.pk)  # cached, as in the worker that ran the previous node
    return execution


def _claim(execution: Execution, run_of: str, **hints: Any) -> tuple[engine.Claim | None, list[str]]:
    """Claim the run of node ``run_of``; ``hints``: what its message says (execution_id, node_id)."""
    run = node_map(execution)[run_of]
    statements = Statements()
    with connection.execute_wrapper(statements):
        claim = engine.node_claim(node_run_id=run.pk, dispatch_id=str(run.dispatch_id), worker="w", **hints)
    return claim, statements.sql


def _shape(claim: engine.Claim | None) -> dict[str, Any]:
    assert claim is not None
    return {
        "node_id": claim.node_run.node_id, "attempts": claim.node_run.attempts, "status": claim.node_run.status,
        "node": claim.node, "outputs": claim.outputs, "task_key": claim.task_key,
        "parameters": claim.execution.parameters, "input": claim.execution.input,
        "execution_status": claim.execution.status,
    }


def test_a_claim_with_the_messages_ids_is_one_statement_and_returns_the_same_claim(admit_all, make_task):
    task = make_task("one-trip", WORKFLOWS, parameters={"p": 1})
    hinted, plain = _ready_for_c(task), _ready_for_c(task)

    with_ids, one = _claim(hinted, "c", execution_id=hinted.pk, node_id="c")
    without, two = _claim(plain, "c")

    assert len(one) == 1, one
    assert len(two) == 2, two
    assert _shape(with_ids) == _shape(without)
    assert with_ids is not None and with_ids.outputs == {"a": OUTPUTS["a"], "b": None}
    assert with_ids.execution.pk == hinted.pk and with_ids.node_run.execution_id == hinted.pk
    # A root node reads no outputs: still one statement, and an empty mapping.
    root_execution = services.execution_create(task=task)
    engine.frozen(root_execution.pk)
    root, statements = _claim(root_execution, "a", execution_id=root_execution.pk, node_id="a")
    assert root is not None and root.outputs == {} and len(statements) == 1
    # The claim is still conditional: a second delivery of the message claims nothing.
    again, _ = _claim(hinted, "c", execution_id=hinted.pk, node_id="c")
    assert again is None


def test_a_message_naming_another_node_or_execution_cannot_read_their_outputs(admit_all, make_task):
    task = make_task("mismatch", WORKFLOWS)
    wrong_node, wrong_execution, unknown = _ready_for_c(task), _ready_for_c(task), _ready_for_c(task)
    # y's upstream is a and x: a message for c's run that says "y" must not hand c the output of x.
    claim, statements = _claim(wrong_node, "c", execution_id=wrong_node.pk, node_id="y")
    assert claim is not None and claim.node_run.node_id == "c"
    assert claim.outputs == {"a": OUTPUTS["a"], "b": None}
    assert len(statements) == 2  # the hint was refused: the outputs of the row actually claimed

    # Another execution's c (same node id, its own outputs): c reads its own execution's.
    other = services.execution_create(task=task)
    _finish(other, "a")
    claim, _ = _claim(wrong_execution, "c", execution_id=other.pk, node_id="c")
    assert claim is not None and claim.execution.pk == wrong_execution.pk
    assert claim.outputs == {"a": OUTPUTS["a"], "b": None}

    claim, _ = _claim(unknown, "c", execution_id=10**9, node_id="nowhere")
    assert claim is not None and claim.outputs == {"a": OUTPUTS["a"], "b": None}


def test_the_first_claim_of_an_execution_in_a_process_reads_its_frozen_part_in_the_same_statement(
    admit_all, make_task
):
    task = make_task("first-claim", WORKFLOWS, parameters={"p": 1})
    execution = services.execution_create(task=task, input={"in": 1})
    cached = engine.frozen(execution.pk, keep=False)  # what a read of the row gives
    engine.frozen_forget(execution.pk)  # a pool process that never saw this execution
    assert engine.frozen_cached(execution.pk) is None

    claim, statements = _claim(execution, "a", execution_id=execution.pk, node_id="a")

    assert len(statements) == 1, statements  # no query of its own for the definition
    assert claim is not None and claim.outputs == {} and claim.task_key == "first-claim"
    assert claim.execution.parameters == {"p": 1} and claim.execution.input == {"in": 1}
    assert claim.node == cached.nodes["a"]
    kept = engine.frozen_cached(execution.pk)
    assert kept is not None
    assert (kept.task_pk, kept.task_key, kept.definition, kept.parameters, kept.input, kept.nodes) == (
        cached.task_pk, cached.task_key, cached.definition, cached.parameters, cached.input, cached.nodes)
    # The next node's claim in this process uses the entry: one statement with its upstream's outputs.
    engine.node_finish(node_run_id=claim.node_run.pk, dispatch_id=str(claim.node_run.dispatch_id),
                       outcome=engine.Outcome(status=NodeStatus.COMPLETED, output=OUTPUTS["a"]))
    second, statements = _claim(execution, "b", execution_id=execution.pk, node_id="b")
    assert len(statements) == 1 and second is not None and second.outputs == {"a": OUTPUTS["a"]}


def test_a_first_claim_whose_message_names_another_execution_gets_the_claimed_rows_frozen_part(
    admit_all, make_task
):
    ours = services.execution_create(task=make_task("ours", WORKFLOWS, parameters={"p": "ours"}))
    theirs = services.execution_create(task=make_task("theirs", [{"id": "a", "workflow": "echo"}]))
    for pk in (ours.pk, theirs.pk):
        engine.frozen_forget(pk)

    claim, _ = _claim(ours, "a", execution_id=theirs.pk, node_id="a")

    assert claim is not None and claim.execution.pk == ours.pk and claim.task_key == "ours"
    assert claim.execution.parameters == {"p": "ours"}
    kept = engine.frozen_cached(ours.pk)
    assert kept is not None and set(kept.nodes) == {"a", "b", "x", "c", "y"}
    assert engine.frozen_cached(theirs.pk) is None
