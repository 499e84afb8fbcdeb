"""Attacks on the lean engine hot path (write-behind persistence, raw-SQL
reads, the finishing worker's continuation). The tests play the worker
themselves (claim, finish) against the real database, as
test_lean_transition.py does."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from orchestration import engine, events, services
from orchestration.models import Event, Execution, ExecutionStatus, NodeRun, NodeStatus
from tests.orchestration.conftest import node_map

pytestmark = pytest.mark.django_db(transaction=True)


def _claim(execution: Execution, node_id: str, worker: str = "w1") -> engine.Claim:
    run = node_map(execution)[node_id]
    claim = engine.node_claim(node_run_id=run.pk, dispatch_id=str(run.dispatch_id), worker=worker)
    assert claim is not None, (node_id, run.status)
    return claim


def _finish(claim: engine.Claim, output: Any = None, *, continue_here: bool = True,
            status: str = NodeStatus.COMPLETED, error: str = "", retryable: bool = False,
            **outcome: Any) -> engine.Claim | None:
    return engine.node_finish(
        node_run_id=claim.node_run.pk, dispatch_id=str(claim.node_run.dispatch_id),
        outcome=engine.Outcome(status=status, output=output, error=error, retryable=retryable, **outcome),
        continue_here=continue_here, worker="w1",
    )


def _concurrently(*calls: Callable[[], Any]) -> list[Any]:
    """Run ``calls`` at the same moment, each on its own thread (and database
    connection); returns their results (or the exceptions they raised)."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[i] = call()
        except Exception as exc:  # noqa: BLE001
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_a_task_retry_started_inside_a_finish_is_running_with_its_first_node_sent(admit_all, make_task):
    """The execution's last node fails (stop-on-error: the execution fails);
    its task retries at once (retryDelay 0):
    the retry is created and begun inside the finish's transaction (nested
    execution_create joining the finish's write-behind)."""
    task = make_task("retry-now", [
        {"id": "a", "workflow": "echo"},
        {"id": "b", "workflow": "echo", "dependsOn": ["a"]},
    ], max_retries=1, error_handling={"strategy": "stop-on-error"})
    execution = services.execution_create(task=task)
    following = _finish(_claim(execution, "a"), {"x": 1})
    assert following is not None and following.node_run.node_id == "b"
    assert _finish(following, None, status=NodeStatus.FAILED, error="boom") is None
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILED
    retry = Execution.objects.get(retry_of=execution)
    assert retry.status == ExecutionStatus.RUNNING
    runs = node_map(retry)
    assert runs["a"].status == NodeStatus.COMPLETED and runs["a"].output == {"x": 1}
    assert runs["b"].status == NodeStatus.QUEUED and runs["b"].dispatch_id is not None
    assert runs["b"].attempts == 0  # sent, not claimed for the worker that finished the other execution
    assert list(Event.objects.filter(execution=retry).order_by("id").values_list("type", flat=True)) == [
        "execution.created", "execution.queued", "execution.started",
    ]
    assert Event.objects.filter(execution=execution, type="execution.retry_scheduled").count() == 1
    # The retry's node runs to its end.
    claim = _claim(retry, "b")
    assert claim.outputs == {"a": {"x": 1}}
    assert _finish(claim, "ok") is None
    retry.refresh_from_db()
    assert retry.status == ExecutionStatus.COMPLETED



def _condition_stop_task(make_task, task_id: str):  # type: ignore[no-untyped-def]
    """``a`` leads to ``c`` and to ``b``, whose condition cannot be evaluated, under stop-on-error."""
    return make_task(task_id, [
        {"id": "a", "workflow": "echo"},
        {"id": "c", "workflow": "echo", "dependsOn": ["a"]},
        {"id": "b", "workflow": "echo", "dependsOn": ["a"],
         "condition": {"type": "expression", "expression": "${a.missing == 1}"}},
    ], error_handling={"strategy": "stop-on-error"})

def test_a_node_continued_in_a_transaction_that_stops_the_execution_is_not_run(admit_all, make_task):
    """``a`` completes; ``c`` and ``b`` become ready. ``c`` is dispatched (and,
    with a continuation, claimed for the finishing worker), then ``b``'s
    condition cannot be evaluated, which fails ``b`` and, under stop-on-error,
    stops the execution in the same transaction: every node not yet started
    is cancelled. ``c`` had not started either; it must be cancelled too, not
    handed to the worker to run (with a workflow.started event) under a stop
    request. Without the continuation it is cancelled (see the companion
    test below)."""
    task = _condition_stop_task(make_task, "cond-stop")
    execution = services.execution_create(task=task)
    following = _finish(_claim(execution, "a"), {"go": True})
    runs = node_map(execution)
    assert runs["b"].status == NodeStatus.FAILED
    assert following is None, f"continued with {following.node_run.node_id} of a stopping execution"
    assert runs["c"].status == NodeStatus.CANCELLED and runs["c"].attempts == 0
    assert not Event.objects.filter(execution=execution, type="workflow.started", node_id="c").exists()
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILED


def test_without_continuation_a_stop_in_the_same_transaction_cancels_the_dispatched_node(admit_all, make_task):
    """Companion of the test above: the same transition without a continuation."""
    task = _condition_stop_task(make_task, "cond-stop-2")
    execution = services.execution_create(task=task)
    assert _finish(_claim(execution, "a"), {"go": True}, continue_here=False) is None
    runs = node_map(execution)
    assert runs["b"].status == NodeStatus.FAILED
    assert runs["c"].status == NodeStatus.CANCELLED and runs["c"].attempts == 0
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILED


ODD = {
    "text": "naïve ünïcødé – ✓ 🚀 'quoted' \"double\" %s %(x)s \\ back\\slash",
    "float": 0.1 + 0.2,
    "big": 2**60,
    "neg": -1.5e-300,
    "nested": [[1, [2, [3, None]]], {"": {"k": [True, False, None]}}],
    "null": None,
    "empty": {},
    "list": [],
}


@pytest.mark.parametrize("output", [ODD, None, "just a string", 42, [1, "two", None], {"big": "x" * 300_000}])
def test_odd_outputs_and_errors_survive_the_raw_write_and_the_continued_read(admit_all, make_task, output):
    """JSON values of every shape go through the write-behind UPDATE ... FROM
    (VALUES ...) and the statement's output read exactly as the ORM stores them."""
    node_a, node_b = "a'\"ü %s", "b–✓"
    task = make_task(f"odd-{type(output).__name__}", [
        {"id": node_a, "workflow": "echo"},
        {"id": node_b, "workflow": "echo", "dependsOn": [node_a]},
        {"id": "c", "workflow": "echo", "dependsOn": [node_b]},
    ])
    execution = services.execution_create(task=task)
    following = _finish(_claim(execution, node_a), output, input=output, logs=["l1 ✓", "l2 %s"])
    assert following is not None and following.node_run.node_id == node_b
    assert following.outputs == {node_a: output}
    runs = node_map(execution)
    assert runs[node_a].output == output and runs[node_a].input == output
    assert runs[node_a].logs == ["l1 ✓", "l2 %s"]
    # The next hop reads node_a's output from the database (written by the previous statement).
    last = _finish(following, output)
    assert last is not None and last.outputs == {node_a: output, node_b: output}
    long_error = "é'\"%s " * 20_000
    assert _finish(last, None, status=NodeStatus.FAILED, error=long_error) is None
    runs = node_map(execution)
    assert runs["c"].error == long_error and runs["c"].attempt_log[-1]["error"] == long_error
    completed = Event.objects.get(execution=execution, type="workflow.completed", node_id=node_b)
    assert completed.data["output"] == output


def test_attempt_log_grows_across_retries_through_the_raw_read(admit_all, make_task, settings):
    settings.WEBAUTO_MAX_COUNTDOWN_SECONDS = 0  # no countdown message: the test claims itself
    task = make_task("retries", [
        {"id": "a", "workflow": "echo", "execution": {"retryAttempts": 3}},
    ])
    execution = services.execution_create(task=task)
    for attempt in range(1, 4):
        claim = _claim(execution, "a")
        assert claim.node_run.attempts == attempt
        assert _finish(claim, None, status=NodeStatus.FAILED, error=f"e{attempt} ✓", retryable=True,
                       cpu_seconds=0.25, peak_rss_bytes=1000 * attempt) is None
        run = node_map(execution)["a"]
        assert run.status == NodeStatus.QUEUED and run.retries == attempt
    claim = _claim(execution, "a")
    assert _finish(claim, {"ok": 1}) is None
    run = node_map(execution)["a"]
    assert run.status == NodeStatus.COMPLETED and run.attempts == 4
    assert [e["error"] for e in run.attempt_log] == ["e1 ✓", "e2 ✓", "e3 ✓", ""]
    assert [e["attempt"] for e in run.attempt_log] == [1, 2, 3, 4]
    assert run.cpu_seconds == pytest.approx(0.75) and run.peak_rss_bytes == 3000
    assert run.error == ""


def test_events_are_announced_once_after_commit_with_the_ids_of_their_rows(admit_all, make_task):
    task = make_task("fan-ev", [{"id": "root", "workflow": "echo"}]
                     + [{"id": f"b{i}", "workflow": "echo", "dependsOn": ["root"]} for i in range(5)]
                     + [{"id": "join", "workflow": "echo", "dependsOn": [f"b{i}" for i in range(5)]}])
    execution = services.execution_create(task=task)
    seen: list[tuple[int | None, str, str]] = []

    def record(sender: Any, event: Any, **kwargs: Any) -> None:
        seen.append((event.pk, event.type, event.node_id))

    events.event_recorded.connect(record, dispatch_uid="breaker5-record")
    try:
        claim = _claim(execution, "root")
        following = _finish(claim, {"n": 1})
        claims = [following] + [_claim(execution, f"b{i}") for i in range(5)
                                if f"b{i}" != following.node_run.node_id]
        chain = None
        for c in claims:
            out = _finish(c, c.node_run.node_id)
            if out is not None:
                chain = out
        assert chain is not None and chain.node_run.node_id == "join"
        assert chain.outputs == {"root": {"n": 1}, **{f"b{i}": f"b{i}" for i in range(5)}}
        assert _finish(chain, "end") is None
    finally:
        events.event_recorded.disconnect(dispatch_uid="breaker5-record")
    rows = list(Event.objects.filter(execution=execution).order_by("id").values_list("id", "type", "node_id"))
    mine = [s for s in seen if s[0] in {r[0] for r in rows}]
    assert len({s[0] for s in seen}) == len(seen), "an event announced twice"
    assert sorted(mine) == [s for s in rows if s[0] in {m[0] for m in mine}]
    assert {(r[0], r[1], r[2]) for r in rows if r[1] != "execution.created"} <= set(seen) | {
        r for r in rows if r[1] in ("execution.created", "execution.queued", "execution.started")
    }
    for pk, type_, node_id in seen:
        assert pk is not None
        assert Event.objects.filter(pk=pk, type=type_, node_id=node_id).exists(), (pk, type_, node_id)
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.COMPLETED


def test_fan_in_finished_concurrently_dispatches_the_join_exactly_once(admit_all, make_task):
    """Sibling branches finishing at the same moment on separate connections:
    exactly one of them continues with (or sends) the join, once."""
    for round_ in range(5):
        task = make_task(f"fanin-{round_}", [
            {"id": "b1", "workflow": "echo"},
            {"id": "b2", "workflow": "echo"},
            {"id": "join", "workflow": "echo", "dependsOn": ["b1", "b2"]},
        ])
        execution = services.execution_create(task=task)
        claims = [_claim(execution, "b1"), _claim(execution, "b2")]
        results = _concurrently(functools.partial(_finish, claims[0], "out0"),
                                functools.partial(_finish, claims[1], "out1"))
        assert not any(isinstance(r, Exception) for r in results), results
        continued = [r for r in results if r is not None]
        assert len(continued) == 1 and continued[0].node_run.node_id == "join"
        assert continued[0].outputs == {"b1": "out0", "b2": "out1"}
        join = node_map(execution)["join"]
        assert join.status == NodeStatus.RUNNING and join.attempts == 1
        assert Event.objects.filter(execution=execution, type="workflow.started", node_id="join").count() == 1


def test_a_preempted_node_that_finishes_after_its_execution_resumed_runs_again_here(admit_all, make_task):
    """Preempted while running, its execution begun again before the node
    reported: the node goes back to pending and, the execution running,
    is dispatched again in the same transition (continued here)."""
    task = make_task("preempt", [
        {"id": "a", "workflow": "echo"},
        {"id": "b", "workflow": "echo", "dependsOn": ["a"]},
    ])
    execution = services.execution_create(task=task)
    claim = _claim(execution, "a")
    assert engine.execution_preempt(execution_id=execution.pk, reason="make room")
    assert engine.execution_begin(execution_id=execution.pk)
    again = _finish(claim, None, status=NodeStatus.CANCELLED, error="the node was stopped")
    assert again is not None and again.node_run.node_id == "a"
    run = node_map(execution)["a"]
    assert run.status == NodeStatus.RUNNING and run.attempts == 2 and run.stop_requested == ""
    assert str(run.dispatch_id) == str(again.node_run.dispatch_id)
    following = _finish(again, {"v": 2})
    assert following is not None and following.node_run.node_id == "b" and following.outputs == {"a": {"v": 2}}
    assert _finish(following, "end") is None
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.COMPLETED
    assert [e["status"] for e in node_map(execution)["a"].attempt_log] == ["cancelled", "completed"]


def test_a_node_that_runs_into_the_execution_deadline_times_the_execution_out(admit_all, make_task):
    from datetime import timedelta

    from django.utils import timezone

    task = make_task("deadline", [
        {"id": "a", "workflow": "echo"},
        {"id": "b", "workflow": "echo"},
        {"id": "c", "workflow": "echo", "dependsOn": ["a"]},
    ])
    execution = services.execution_create(task=task)
    claim_a, claim_b = _claim(execution, "a"), _claim(execution, "b")
    Execution.objects.filter(pk=execution.pk).update(deadline_at=timezone.now() - timedelta(seconds=1))
    assert _finish(claim_a, None, status=NodeStatus.TIMED_OUT, error="late") is None
    runs = node_map(execution)
    assert runs["a"].status == NodeStatus.TIMED_OUT
    assert runs["b"].status == NodeStatus.RUNNING and runs["b"].stop_requested == "timeout"
    assert runs["c"].status == NodeStatus.CANCELLED
    assert _finish(claim_b, None, status=NodeStatus.CANCELLED) is None
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.TIMED_OUT
    assert node_map(execution)["b"].status == NodeStatus.TIMED_OUT
    types = list(Event.objects.filter(execution=execution).order_by("id").values_list("type", flat=True))
    assert types[-1] == "execution.timed_out" and types.count("execution.timed_out") == 1


def test_a_cancel_racing_a_chain_hop_leaves_nothing_running(admit_all, make_task):
    """A chain's finish (continuing here) and an operator's cancel at the same
    moment, on two connections: whichever goes first, the execution ends
    cancelled once its continued node (if any) reports."""
    for round_ in range(5):
        task = make_task(f"race-{round_}", [
            {"id": "a", "workflow": "echo"},
            {"id": "b", "workflow": "echo", "dependsOn": ["a"]},
            {"id": "c", "workflow": "echo", "dependsOn": ["b"]},
        ])
        execution = services.execution_create(task=task)
        claim = _claim(execution, "a")
        results = _concurrently(functools.partial(_finish, claim, "x"),
                                functools.partial(engine.execution_cancel, execution_id=execution.pk))
        assert not isinstance(results[0], Exception), results
        following = results[0]
        if following is not None:
            assert node_map(execution)["b"].stop_requested == "cancel"
            assert _finish(following, None, status=NodeStatus.CANCELLED) is None
        execution.refresh_from_db()
        assert execution.status == ExecutionStatus.CANCELLED, (round_, execution.status)
        assert sorted(r.status for r in node_map(execution).values()) == sorted(
            [NodeStatus.COMPLETED, NodeStatus.CANCELLED, NodeStatus.CANCELLED])


def test_a_rerun_whose_every_node_is_reused_finishes_at_once_with_its_events(admit_all, make_task):
    """A cancelled execution whose nodes all completed (the cancel came while
    its last node ran, and it completed anyway) run again: every output is
    reused, so the re-run finishes inside its creating transaction."""
    task = make_task("all-reused", [
        {"id": "a", "workflow": "echo"},
        {"id": "b", "workflow": "echo", "dependsOn": ["a"]},
    ])
    execution = services.execution_create(task=task)
    following = _finish(_claim(execution, "a"), {"a": 1})
    assert following is not None
    engine.execution_cancel(execution_id=execution.pk)
    assert _finish(following, {"b": 2}) is None
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.CANCELLED
    assert all(r.status == NodeStatus.COMPLETED for r in node_map(execution).values())
    rerun = engine.execution_rerun(execution_id=execution.pk)
    rerun.refresh_from_db()
    assert rerun.status == ExecutionStatus.COMPLETED and rerun.finished_at is not None
    assert {n: r.output for n, r in node_map(rerun).items()} == {"a": {"a": 1}, "b": {"b": 2}}
    types = list(Event.objects.filter(execution=rerun).order_by("id").values_list("type", flat=True))
    assert types == ["execution.created", "execution.queued", "execution.started", "execution.completed"]


def test_a_lost_worker_s_node_is_dispatched_again_and_its_chain_continues(admit_all, make_task):
    from datetime import timedelta

    from django.utils import timezone

    task = make_task("lost", [
        {"id": "a", "workflow": "echo"},
        {"id": "b", "workflow": "echo", "dependsOn": ["a"]},
    ])
    execution = services.execution_create(task=task)
    following = _finish(_claim(execution, "a"), {"a": 1})
    assert following is not None  # b claimed for w1, which dies
    NodeRun.objects.filter(pk=following.node_run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert engine.node_recover(node_run_id=following.node_run.pk, stale_before=timezone.now())
    run = node_map(execution)["b"]
    assert run.status == NodeStatus.QUEUED and str(run.dispatch_id) != str(following.node_run.dispatch_id)
    assert run.attempt_log[-1]["status"] == "lost"
    # The dead worker's late outcome is dropped; the new dispatch runs.
    assert _finish(following, "late") is None
    claim = _claim(execution, "b", worker="w2")
    assert claim.outputs == {"a": {"a": 1}} and claim.node_run.attempts == 2
    assert _finish(claim, "ok") is None
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.COMPLETED
    assert node_map(execution)["b"].output == "ok"
