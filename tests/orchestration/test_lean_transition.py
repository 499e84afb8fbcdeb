"""A node's transition (outcome, successors' dispatch, events) in one
transaction of few round trips (``orchestration.persistence``), and a chain's
next node claimed for the finishing worker inside that same transaction.

The tests play the worker themselves (claim, finish) against the real
database and count the statements the engine sends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection

from orchestration import engine, services
from orchestration.models import Event, Execution, ExecutionStatus, NodeRun, NodeStatus
from tests.orchestration.conftest import Statements, node_map

pytestmark = pytest.mark.django_db(transaction=True)


def _claim(execution: Execution, node_id: str) -> engine.Claim:
    run = node_map(execution)[node_id]
    claim = engine.node_claim(node_run_id=run.pk, dispatch_id=str(run.dispatch_id), worker="w1")
    assert claim is not None
    return claim


def _finish(claim: engine.Claim, output: Any, *, continue_here: bool = True, status: str = NodeStatus.COMPLETED,
            error: str = "") -> engine.Claim | None:
    return engine.node_finish(
        node_run_id=claim.node_run.pk, dispatch_id=str(claim.node_run.dispatch_id),
        outcome=engine.Outcome(status=status, output=output, error=error, retryable=False),
        continue_here=continue_here, worker="w1",
    )


def _chain(make_task, n: int, **extra: Any):  # type: ignore[no-untyped-def]
    return make_task(f"chain-{n}", [
        {"id": f"n{i}", "workflow": "echo", **({"dependsOn": [f"n{i - 1}"]} if i else {}), **extra}
        for i in range(n)
    ])


def test_a_chain_hop_claims_the_next_node_in_the_finishing_transaction(admit_all, make_task):
    execution = services.execution_create(task=_chain(make_task, 3))
    claim = _claim(execution, "n0")
    statements = Statements()
    with connection.execute_wrapper(statements):
        following = _finish(claim, {"page": "<p>one</p>"})
    assert following is not None
    # Lock and read (one query), one write statement (outcome, claim of n1,
    # both events, n1's upstream outputs): no claim statement and no message for n1.
    assert len(statements.sql) == 2, statements.sql
    assert statements.sql[0].count("; ") == 1 and "FOR NO KEY UPDATE" in statements.sql[0]
    assert following.node_run.node_id == "n1"
    assert following.outputs == {"n0": {"page": "<p>one</p>"}}
    runs = node_map(execution)
    assert runs["n0"].status == NodeStatus.COMPLETED and runs["n0"].output == {"page": "<p>one</p>"}
    assert runs["n1"].status == NodeStatus.RUNNING and runs["n1"].worker == "w1"
    assert runs["n1"].attempts == 1 and runs["n1"].heartbeat_at is not None
    assert str(runs["n1"].dispatch_id) == str(following.node_run.dispatch_id)
    assert runs["n2"].status == NodeStatus.PENDING
    types = list(Event.objects.filter(execution=execution).order_by("id").values_list("type", "node_id"))
    assert types[-2:] == [("workflow.completed", "n0"), ("workflow.started", "n1")]

    # The next hop reads n0's output from the database and n1's from memory.
    last = _finish(following, {"page": "two"})
    assert last is not None and last.node_run.node_id == "n2"
    assert last.outputs == {"n0": {"page": "<p>one</p>"}, "n1": {"page": "two"}}
    assert _finish(last, "three") is None
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.COMPLETED
    assert [r.attempts for r in NodeRun.objects.filter(execution=execution)] == [1, 1, 1]


def test_a_continued_node_is_claimed_once_and_a_late_message_for_it_is_dropped(admit_all, make_task):
    execution = services.execution_create(task=_chain(make_task, 2))
    following = _finish(_claim(execution, "n0"), 1)
    assert following is not None
    # A stray delivery of n1 (its dispatch id, say a re-send) finds it running.
    again = engine.node_claim(node_run_id=following.node_run.pk, dispatch_id=str(following.node_run.dispatch_id),
                              worker="w2")
    assert again is None


def test_without_continuing_the_ready_node_is_queued_and_sent(admit_all, make_task):
    execution = services.execution_create(task=_chain(make_task, 2))
    assert _finish(_claim(execution, "n0"), 1, continue_here=False) is None
    run = node_map(execution)["n1"]
    assert run.status == NodeStatus.QUEUED and run.dispatch_id is not None and run.attempts == 0


def test_a_fan_out_writes_every_dispatch_in_one_statement_and_continues_with_one(admit_all, make_task):
    task = make_task("fan", [{"id": "root", "workflow": "echo"}]
                     + [{"id": f"b{i}", "workflow": "echo", "dependsOn": ["root"]} for i in range(20)])
    execution = services.execution_create(task=task)
    statements = Statements()
    claim = _claim(execution, "root")
    with connection.execute_wrapper(statements):
        following = _finish(claim, {"n": 1})
    assert len(statements.sql) == 2, statements.sql
    assert following is not None and following.outputs == {"root": {"n": 1}}
    statuses = sorted(r.status for r in NodeRun.objects.filter(execution=execution, node_id__startswith="b"))
    assert statuses == [NodeStatus.QUEUED] * 19 + [NodeStatus.RUNNING]
    # Every event is written with its id, in the order emitted.
    started = Event.objects.filter(execution=execution, type="workflow.started").order_by("id")
    assert [e.node_id for e in started] == ["root", following.node_run.node_id]


def test_a_failure_that_stops_the_execution_writes_the_outcome_before_cancelling(admit_all, make_task):
    task = make_task("stop", [
        {"id": "a", "workflow": "echo"},
        {"id": "b", "workflow": "echo", "dependsOn": ["a"]},
        {"id": "c", "workflow": "echo"},
    ], error_handling={"strategy": "stop-on-error"})
    execution = services.execution_create(task=task)
    claim_a, claim_c = _claim(execution, "a"), _claim(execution, "c")
    assert _finish(claim_a, None, status=NodeStatus.FAILED, error="boom") is None
    runs = node_map(execution)
    assert runs["a"].status == NodeStatus.FAILED and runs["a"].error == "boom"
    assert runs["a"].attempt_log[-1]["error"] == "boom"
    assert runs["b"].status == NodeStatus.CANCELLED
    assert runs["c"].status == NodeStatus.RUNNING and runs["c"].stop_requested == "fail"
    assert _finish(claim_c, None, status=NodeStatus.CANCELLED) is None
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILED


def test_a_condition_reads_the_output_written_in_the_same_transaction(admit_all, make_task):
    task = make_task("cond", [
        {"id": "a", "workflow": "echo"},
        {"id": "yes", "workflow": "echo", "dependsOn": ["a"], "condition": {"type": "expression", "expression": "${a.go == true}"}},
        {"id": "no", "workflow": "echo", "dependsOn": ["a"], "condition": {"type": "expression", "expression": "${a.go == false}"}},
    ])
    execution = services.execution_create(task=task)
    following = _finish(_claim(execution, "a"), {"go": True})
    assert following is not None and following.node_run.node_id == "yes"
    assert node_map(execution)["no"].status == NodeStatus.SKIPPED


def test_creating_a_due_execution_is_two_statements_and_keeps_its_events(admit_all, make_task):
    task = _chain(make_task, 3)
    services.execution_create(task=task)  # warm: the task's secrets check and caches
    statements = Statements()
    with connection.execute_wrapper(statements):
        execution = engine.execution_create(task=task)
    # The execution with its node runs, then one statement for its start, the
    # first node's dispatch and the events.
    assert len(statements.sql) == 2, statements.sql
    runs = {run.node_id: run for run in NodeRun.objects.filter(execution=execution)}
    assert sorted(runs) == ["n0", "n1", "n2"] and execution.pk == runs["n0"].execution_id
    assert all(run.workflow == "echo" and run.attempts == 0 and run.attempt_log == [] for run in runs.values())
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.RUNNING and execution.queued_at and execution.started_at
    assert execution.created_at is not None and execution.definition["workflows"][0]["id"] == "n0"
    assert node_map(execution)["n0"].status == NodeStatus.QUEUED
    recorded = list(Event.objects.filter(execution=execution).order_by("id").values_list("type", "data"))
    assert [t for t, _ in recorded] == ["execution.created", "execution.queued", "execution.started"]
    assert [d["status"] for _, d in recorded] == ["pending", "queued", "running"]


def test_a_delayed_execution_is_created_pending_and_queued_when_due(admit_all, make_task):
    from datetime import timedelta

    from django.utils import timezone

    execution = engine.execution_create(task=_chain(make_task, 2), not_before=timezone.now() + timedelta(hours=1))
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.PENDING and execution.queued_at is None
    Execution.objects.filter(pk=execution.pk).update(not_before=timezone.now())
    assert engine.execution_start_if_due(execution_id=execution.pk)
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.RUNNING


def test_beginning_a_queued_execution_is_lock_read_and_one_write(admit_all, make_task):
    from django.utils import timezone

    from orchestration.engine import definition_snapshot

    task = _chain(make_task, 2)

    def queued() -> Execution:
        execution = Execution.objects.create(task=task, status=ExecutionStatus.QUEUED, queued_at=timezone.now(),
                                             definition=definition_snapshot(task))
        NodeRun.objects.bulk_create(NodeRun(execution=execution, node_id=n["id"], workflow=n["workflow"])
                                    for n in task.workflows)
        return execution

    assert engine.execution_begin(execution_id=queued().pk)  # warm: the event subscribers' caches
    execution = queued()
    statements = Statements()
    with connection.execute_wrapper(statements):
        assert engine.execution_begin(execution_id=execution.pk)
    assert len(statements.sql) == 3, statements.sql
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.RUNNING
    assert node_map(execution)["n0"].status == NodeStatus.QUEUED
    assert Event.objects.filter(execution=execution, type="execution.started").count() == 1


def test_beginning_locks_the_hot_columns_and_reads_the_frozen_part_only_when_not_cached(admit_all, make_task):
    """Admission's begin locks the execution without its task row (the ORM
    lock loaded every column of both and deep-copied the definition), reads
    the definition, parameters and input in that same statement only when
    this process has not cached them, and takes the timeout from them."""
    from django.utils import timezone

    from orchestration.engine import definition_snapshot

    task = _chain(make_task, 2)
    task.timeout_ms = 60_000
    task.save(update_fields=["timeout_ms"])

    def queued() -> Execution:
        execution = Execution.objects.create(task=task, status=ExecutionStatus.QUEUED, queued_at=timezone.now(),
                                             definition=definition_snapshot(task), parameters={"p": "ü"})
        NodeRun.objects.bulk_create(NodeRun(execution=execution, node_id=n["id"], workflow=n["workflow"])
                                    for n in task.workflows)
        return execution

    assert engine.execution_begin(execution_id=queued().pk)  # warm: the event subscribers' caches
    execution = queued()
    assert engine.frozen_cached(execution.pk) is None
    statements = Statements()
    with connection.execute_wrapper(statements):
        assert engine.execution_begin(execution_id=execution.pk)
    lock = statements.sql[0]
    assert "FOR NO KEY UPDATE" in lock and '"definition"' in lock
    assert '"workflows"' not in lock and '"resource_requirements"' not in lock  # no task row
    cached = engine.frozen_cached(execution.pk)
    assert cached is not None and cached.parameters == {"p": "ü"} and cached.task_key == task.task_id
    assert cached.definition == definition_snapshot(task)
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.RUNNING
    assert execution.deadline_at == execution.started_at + timedelta(minutes=1)

    again = queued()
    engine.frozen(again.pk)  # cached in this process (as by the process that created it)
    statements = Statements()
    with connection.execute_wrapper(statements):
        assert engine.execution_begin(execution_id=again.pk)
    assert '"definition"' not in statements.sql[0] and len(statements.sql) == 3
    again.refresh_from_db()
    assert again.status == ExecutionStatus.RUNNING and node_map(again)["n0"].status == NodeStatus.QUEUED


def test_rows_read_by_the_lean_path_behave_as_the_orms(admit_all, make_task):
    from django.db.models.signals import post_init

    from orchestration import persistence

    # Built without Model.__init__: valid only while nobody listens to post_init.
    assert not post_init.has_listeners(NodeRun) and not post_init.has_listeners(Execution)
    execution = services.execution_create(task=_chain(make_task, 2))
    _finish(_claim(execution, "n0"), {"kept": "ü"}, continue_here=False)
    runs = persistence.read_runs(execution.pk, fields=("id", "node_id", "status"))
    n0 = runs["n0"]
    assert n0 == NodeRun.objects.get(pk=n0.pk) and not n0._state.adding
    assert n0.get_deferred_fields() >= {"output", "attempt_log"}
    assert n0.output == {"kept": "ü"}  # a deferred field loads on first use
    n0.reason = "checked"
    n0.save(update_fields=["reason"])
    assert NodeRun.objects.get(pk=n0.pk).reason == "checked"
    locked = persistence.lock_execution_of(n0.pk, ("id", "task_id", "status"))
    assert locked == execution and locked.status == ExecutionStatus.RUNNING


def test_the_read_sent_with_the_lock_sees_what_the_locks_previous_holder_committed(admit_all, make_task):
    """The finish's lock and read go as one query; the read must still see
    the rows as they are once the lock is granted (a fan-in's two branches
    finishing together: the second must see the first completed), not as
    they were when the query arrived and waited for the lock."""
    import threading
    import time

    from django.db import connection as this_thread_connection
    from django.db import transaction

    from orchestration import persistence

    task = make_task("fan-in", [{"id": "a", "workflow": "echo"}, {"id": "b", "workflow": "echo"},
                                {"id": "join", "workflow": "echo", "dependsOn": ["a", "b"]}])
    execution = services.execution_create(task=task)
    runs = node_map(execution)
    locked, release = threading.Event(), threading.Event()

    def other_branch_finishing() -> None:
        try:
            with transaction.atomic():
                engine.lock_execution(execution.pk)
                NodeRun.objects.filter(pk=runs["b"].pk).update(status=NodeStatus.COMPLETED)
                locked.set()
                release.wait(10)
        finally:
            this_thread_connection.close()

    other = threading.Thread(target=other_branch_finishing)
    other.start()
    assert locked.wait(10)
    threading.Timer(0.5, release.set).start()
    started = time.monotonic()
    with transaction.atomic():
        found, read = persistence.lock_and_read(runs["a"].pk, engine.HOT_EXECUTION_FIELDS,
                                                fields=engine.HOT_NODE_FIELDS, settle_fields=engine.SETTLE_NODE_FIELDS)
    waited = time.monotonic() - started
    other.join(10)

    assert waited >= 0.4  # it did wait for the lock
    assert found is not None and found.pk == execution.pk
    assert read["b"].status == NodeStatus.COMPLETED
    assert set(read) == {"a", "b", "join"} and read["a"].stop_requested == ""  # a's settling columns too


def test_the_last_nodes_finish_writes_the_end_and_its_events_in_one_statement_before_the_receivers(
    admit_all, make_task
):
    from monitoring.models import ExecutionRollup

    execution = services.execution_create(task=_chain(make_task, 2))
    last = _finish(_claim(execution, "n0"), 1)
    assert last is not None
    in_transaction: list[str] = []  # what the finish's transaction sends (not the subscribers after it)

    def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        if context["connection"].in_atomic_block:
            in_transaction.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        assert _finish(last, 2) is None
    # Lock and read; the outcome, the execution's end and both events; the
    # finish's receivers (monitoring's count and rollup, which read the rows
    # written before them). Nothing after them.
    assert len(in_transaction) == 3, in_transaction
    assert Event._meta.db_table in in_transaction[1] and ExecutionRollup._meta.db_table in in_transaction[2]
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.COMPLETED
    types = list(Event.objects.filter(execution=execution).order_by("id").values_list("type", "node_id"))
    assert types[-2:] == [("workflow.completed", "n1"), ("execution.completed", "")]
    rollup = ExecutionRollup.objects.get(task=execution.task)
    assert rollup.completed == 1 and rollup.d_count == 1
