"""A finishing node's worker continues with an already queued node of the
same execution (a fan-out's next branch) when its own transition readied
none (``engine._claim_queued``): claimed conditionally in the finishing
transaction, so each dispatch still runs once, and the branch's broker
message, when a worker takes it, is dropped as stale. The tests play the
workers (``engine.node_claim`` / ``engine.node_finish``, ``runner.run_node``)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.utils import timezone

from orchestration import engine, runner, services
from orchestration.events import event_model
from orchestration.models import Execution, NodeRun, NodeStatus
from tests.orchestration.conftest import node_map

pytestmark = pytest.mark.django_db(transaction=True)


def fan(width: int, **root: object) -> list[dict[str, object]]:
    return ([{"id": "start", "workflow": "echo", **root}]
            + [{"id": f"b{i}", "workflow": "echo", "dependsOn": ["start"], "config": {"output": {"i": i}}}
               for i in range(width)]
            + [{"id": "join", "workflow": "echo", "dependsOn": [f"b{i}" for i in range(width)]}])


def _claim(run: NodeRun, worker: str) -> engine.Claim:
    claim = engine.node_claim(node_run_id=run.pk, dispatch_id=str(run.dispatch_id), worker=worker)
    assert claim is not None
    return claim


def _finish(run: NodeRun, *, worker: str, status: str = NodeStatus.COMPLETED, output: object = None,
            continue_here: bool = True) -> engine.Claim | None:
    return engine.node_finish(node_run_id=run.pk, dispatch_id=str(run.dispatch_id), worker=worker,
                              continue_here=continue_here,
                              outcome=engine.Outcome(status=status, output=output, error="boom", retryable=False))


def _branches_queued(task) -> Execution:
    """An execution whose ``start`` finished (not continued): every branch queued."""
    execution = services.execution_create(task=task)
    start = node_map(execution)["start"]
    _claim(start, "w0")
    assert _finish(start, worker="w0", output={"root": 1}, continue_here=False) is None
    assert {nr.status for node_id, nr in node_map(execution).items() if node_id.startswith("b")} == {NodeStatus.QUEUED}
    return execution


def test_a_whole_fan_out_runs_in_the_process_that_took_its_root_each_node_once(admit_all, make_task, empty_broker):
    task = make_task("fan-here", fan(6))
    execution = services.execution_create(task=task)
    start = node_map(execution)["start"]

    # No worker runs here: only continuations can run the branches.
    runner.run_node(node_run_id=start.pk, dispatch_id=str(start.dispatch_id))

    execution.refresh_from_db()
    assert execution.status == "completed"
    runs = node_map(execution)
    assert {node_id: (nr.status, nr.attempts) for node_id, nr in runs.items()} == {
        node_id: (NodeStatus.COMPLETED, 1) for node_id in runs}
    started = list(event_model().objects.filter(execution_id=execution.pk, type="workflow.started")
                   .values_list("node_id", flat=True))
    assert sorted(started) == sorted(runs)
    assert runs["b3"].output == {"i": 3}

    # The branches' messages, delivered now: each is stale, nothing runs twice.
    for node_id in [f"b{i}" for i in range(6)]:
        run = runs[node_id]
        runner.run_node(node_run_id=run.pk, dispatch_id=str(run.dispatch_id), execution_id=execution.pk,
                        node_id=node_id)
    again = node_map(execution)
    assert {node_id: nr.attempts for node_id, nr in again.items()} == {node_id: 1 for node_id in again}
    assert event_model().objects.filter(execution_id=execution.pk, type="workflow.started").count() == len(runs)


def test_the_continued_branch_gets_its_upstreams_output_and_the_last_queued_is_taken_first(admit_all, make_task):
    execution = _branches_queued(make_task("fan-outputs", fan(4)))
    runs = node_map(execution)
    _claim(runs["b0"], "w1")

    claim = _finish(runs["b0"], worker="w1", output={"i": 0})

    assert claim is not None
    assert claim.node_run.node_id == "b3"
    assert claim.outputs == {"start": {"root": 1}}
    assert claim.node_run.status == NodeStatus.RUNNING and claim.node_run.attempts == 1
    assert claim.node_run.worker == "w1"
    row = NodeRun.objects.get(pk=claim.node_run.pk)
    assert (row.status, row.worker, row.attempts, row.dispatch_id) == (
        NodeStatus.RUNNING, "w1", 1, claim.node_run.dispatch_id)
    assert row.started_at is not None and row.heartbeat_at is not None


def test_a_branch_another_worker_claimed_first_is_passed_over(admit_all, make_task):
    execution = _branches_queued(make_task("fan-race", fan(3)))
    runs = node_map(execution)
    _claim(runs["b0"], "w1")
    _claim(runs["b2"], "w2")  # the other worker took b2's message first

    claim = _finish(runs["b0"], worker="w1")

    assert claim is not None and claim.node_run.node_id == "b1"
    b2 = NodeRun.objects.get(pk=runs["b2"].pk)
    assert (b2.worker, b2.attempts, b2.status) == ("w2", 1, NodeStatus.RUNNING)
    # b1's message comes late: dropped.
    assert engine.node_claim(node_run_id=runs["b1"].pk, dispatch_id=str(runs["b1"].dispatch_id), worker="w2") is None


def test_a_branch_being_claimed_right_now_is_skipped_not_waited_for(admit_all, make_task):
    """Its row is locked by another transaction (a claim in flight): SKIP
    LOCKED takes the next one at once instead of waiting for that claim."""
    execution = _branches_queued(make_task("fan-locked", fan(3)))
    runs = node_map(execution)
    _claim(runs["b0"], "w1")
    locked, release = threading.Event(), threading.Event()

    def hold_b2() -> None:
        try:
            with transaction.atomic():
                list(NodeRun.objects.select_for_update().filter(pk=runs["b2"].pk))
                locked.set()
                release.wait(20)
        finally:
            connections["default"].close()

    holder = threading.Thread(target=hold_b2)
    holder.start()
    try:
        assert locked.wait(10)
        claim = _finish(runs["b0"], worker="w1")
        assert not release.is_set()
    finally:
        release.set()
        holder.join(20)

    assert claim is not None and claim.node_run.node_id == "b1"
    assert NodeRun.objects.get(pk=runs["b2"].pk).status == NodeStatus.QUEUED


def test_a_delayed_retry_is_not_claimed_before_it_is_due(admit_all, make_task):
    execution = _branches_queued(make_task("fan-retry", fan(2)))
    runs = node_map(execution)
    NodeRun.objects.filter(pk=runs["b1"].pk).update(next_attempt_at=timezone.now() + timedelta(minutes=5))
    _claim(runs["b0"], "w1")

    assert _finish(runs["b0"], worker="w1") is None

    assert NodeRun.objects.get(pk=runs["b1"].pk).status == NodeStatus.QUEUED


def test_a_failure_that_stops_the_execution_continues_nothing_and_cancels_the_queued(admit_all, make_task):
    task = make_task("fan-stop", fan(3), error_handling={"strategy": "stop-on-error"})
    execution = _branches_queued(task)
    runs = node_map(execution)
    _claim(runs["b0"], "w1")

    assert _finish(runs["b0"], worker="w1", status=NodeStatus.FAILED) is None

    after = node_map(execution)
    assert after["b1"].status == after["b2"].status == NodeStatus.CANCELLED
    assert after["b1"].attempts == after["b2"].attempts == 0


def test_without_continue_here_nothing_is_claimed(admit_all, make_task):
    execution = _branches_queued(make_task("fan-plain", fan(2)))
    runs = node_map(execution)
    _claim(runs["b0"], "w1")

    assert _finish(runs["b0"], worker="w1", continue_here=False) is None

    assert NodeRun.objects.get(pk=runs["b1"].pk).status == NodeStatus.QUEUED
