"""Attacks on the continuation with an already queued node of the finishing
execution (``engine._claim_queued``, a fan-out's next branch). The tests
play the workers (``engine.node_claim`` / ``engine.node_finish``, or the real
``runner.run_node`` in this process) against the real database."""

from __future__ import annotations

import pytest

from orchestration import engine, runner, services
from orchestration.events import event_model
from orchestration.models import Execution, NodeRun, NodeStatus
from tests.orchestration.conftest import node_map

pytestmark = pytest.mark.django_db(transaction=True)


def _fan(priorities: dict[str, str | None]) -> list[dict[str, object]]:
    """A root and one branch per entry of ``priorities`` (node id -> the
    branch's own ``execution.priority``, None for the execution's)."""
    return [{"id": "start", "workflow": "echo"}] + [
        {"id": node_id, "workflow": "echo", "dependsOn": ["start"],
         **({"execution": {"priority": name}} if name else {})}
        for node_id, name in priorities.items()
    ]


def _claim(run: NodeRun, worker: str) -> engine.Claim:
    claim = engine.node_claim(node_run_id=run.pk, dispatch_id=str(run.dispatch_id), worker=worker)
    assert claim is not None
    return claim


def _finish(run: NodeRun, *, worker: str, continue_here: bool = True) -> engine.Claim | None:
    return engine.node_finish(node_run_id=run.pk, dispatch_id=str(run.dispatch_id), worker=worker,
                              continue_here=continue_here, outcome=engine.Outcome(status=NodeStatus.COMPLETED))


def _started_order(execution: Execution) -> list[str]:
    return list(event_model().objects.filter(execution_id=execution.pk, type="workflow.started")
                .order_by("id").values_list("node_id", flat=True))


def test_a_queued_branch_continued_here_is_the_one_the_broker_would_hand_out_first(admit_all, make_task):
    """The branches' messages wait in the broker at their own priorities
    (critical first). The finishing worker that continues with one of them
    in place of the broker must take the one the broker would: the critical
    branch, not the last queued normal one."""
    task = make_task("fan-prio", _fan({"b0": None, "b1": "critical", "b2": "low", "b3": None}))
    execution = services.execution_create(task=task)
    start = node_map(execution)["start"]
    _claim(start, "w0")
    assert _finish(start, worker="w0", continue_here=False) is None
    runs = node_map(execution)
    _claim(runs["b0"], "w1")

    claim = _finish(runs["b0"], worker="w1")

    assert claim is not None
    assert claim.node_run.node_id == "b1"


def test_a_fan_out_run_in_one_process_runs_its_branches_in_priority_order(admit_all, make_task, empty_broker):
    """The real runner, no worker: the process that took the root runs the
    branches as continuations, as the broker would hand out their messages
    (critical, high, normal, low), not last queued first. It stops
    continuing with a node once a message of a higher priority than that
    node's waits in the broker (here the high branch's own, left there when
    it was continued, which a worker drops as stale): what is left runs from
    its message, in the broker's order, as a worker takes it."""
    task = make_task("fan-prio-runner", _fan({"b0": "critical", "b1": "low", "b2": "high", "b3": None}))
    execution = services.execution_create(task=task)
    start = node_map(execution)["start"]

    runner.run_node(node_run_id=start.pk, dispatch_id=str(start.dispatch_id))
    rank = {"b3": 0, "b1": 1}  # normal, then low: the broker's order of what is left
    while left := sorted((nr for nr in node_map(execution).values() if nr.status == NodeStatus.QUEUED),
                         key=lambda nr: rank[nr.node_id]):
        runner.run_node(node_run_id=left[0].pk, dispatch_id=str(left[0].dispatch_id))

    execution.refresh_from_db()
    assert execution.status == "completed"
    # The root's finish readied every branch: the first readied (b0) continues
    # here, the others are sent and then continued in priority order.
    assert _started_order(execution) == ["start", "b0", "b2", "b3", "b1"]


def test_a_branch_the_sweep_sent_again_is_continued_under_its_fresh_dispatch_id(admit_all, make_task):
    """The sweep re-sent a queued branch (``node_redispatch``: fresh dispatch
    id) before a sibling's finish continues with it: the continued claim
    carries the fresh id (the runner's heartbeat and finish are conditional
    on it), and both the original and the re-sent message are dropped."""
    task = make_task("fan-resent", _fan({"b0": None, "b1": None}))
    execution = services.execution_create(task=task)
    start = node_map(execution)["start"]
    _claim(start, "w0")
    assert _finish(start, worker="w0", continue_here=False) is None
    runs = node_map(execution)
    original = runs["b1"].dispatch_id
    assert engine.node_redispatch(node_run_id=runs["b1"].pk, dispatch_id=original)
    fresh = NodeRun.objects.get(pk=runs["b1"].pk).dispatch_id
    assert fresh != original
    _claim(runs["b0"], "w1")

    claim = _finish(runs["b0"], worker="w1")

    assert claim is not None and claim.node_run.node_id == "b1"
    assert claim.node_run.dispatch_id == fresh
    assert engine.node_heartbeat(node_run_id=runs["b1"].pk, dispatch_id=str(fresh)) == ""
    for dispatch_id in (original, fresh):
        assert engine.node_claim(node_run_id=runs["b1"].pk, dispatch_id=str(dispatch_id), worker="w2") is None
    assert engine.node_finish(node_run_id=runs["b1"].pk, dispatch_id=str(fresh), worker="w1",
                              outcome=engine.Outcome(status=NodeStatus.COMPLETED)) is None
    execution.refresh_from_db()
    assert execution.status == "completed"
    assert {nr.node_id: nr.attempts for nr in NodeRun.objects.filter(execution=execution)} == {
        "start": 1, "b0": 1, "b1": 1}
