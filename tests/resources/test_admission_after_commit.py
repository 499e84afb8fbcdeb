"""Admission decided after the creating transaction commits, and dispatch
passes whose cost does not grow with the queue.

- The engine's transaction that creates (or queues) an execution only
  records its request; the resource manager decides in a short transaction
  of its own right after the commit (``orchestration.admission.request``),
  so the pool row is never held for the rest of a creator's transaction.
- A pass grants under the pool lock, commits, then begins the executions
  outside it; one that was granted but not begun is begun by reconciliation.
- A pass reads only the head of each priority's line (``_queue_head``) and
  reads the rest only when it gets past them.
- A pass is never nested in another (executions that finish as they begin
  would otherwise recurse until Python's limit)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from orchestration import services as core
from orchestration.models import Execution, ExecutionStatus, NodeRun, NodeStatus
from resources import services
from resources.models import Allocation, ResourcePool, ResourceRequest, Worker

pytestmark = pytest.mark.django_db(transaction=True)


def _status(execution: Execution) -> str:
    execution.refresh_from_db()
    return execution.status


def test_a_created_execution_is_decided_after_its_transaction_commits(resource_backend, make_worker, make_task):
    make_worker()
    task = make_task("after-commit")
    with transaction.atomic():
        execution = core.execution_create(task=task)
        # Inside the creator's transaction: recorded, not decided, no pool lock taken.
        assert execution.status == ExecutionStatus.QUEUED
        assert ResourceRequest.objects.get(execution=execution).waiting_since is not None
        assert not Allocation.objects.filter(execution=execution).exists()
    assert _status(execution) == ExecutionStatus.RUNNING
    assert Allocation.objects.get(execution=execution, released_at__isnull=True)
    assert ResourceRequest.objects.get(execution=execution).waiting_since is None


def test_the_creating_transaction_commits_while_another_holds_the_pool(resource_backend, make_worker, make_task):
    """The convoy this prevents: every creator waiting, inside its own
    transaction, for the one before it to commit."""
    make_worker()
    task = make_task("convoy")
    ResourcePool.objects.get_or_create(name="default")
    holding = threading.Event()
    release = threading.Event()

    def hold_pool() -> None:
        try:
            with transaction.atomic():
                ResourcePool.objects.select_for_update().get(name="default")
                holding.set()
                release.wait(30)
        finally:
            connections.close_all()

    created: list[Execution] = []

    def create() -> None:
        try:
            created.append(core.execution_create(task=task))
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_pool)
    holder.start()
    assert holding.wait(10)
    creator = threading.Thread(target=create)
    creator.start()
    try:
        deadline = time.monotonic() + 10
        while not Execution.objects.filter(task=task).exists():
            assert time.monotonic() < deadline, "the creator's transaction waited for the pool lock"
            time.sleep(0.05)
        execution = Execution.objects.get(task=task)
        assert execution.status == ExecutionStatus.QUEUED  # committed, decision still waiting for the lock
        assert creator.is_alive()
    finally:
        release.set()
        holder.join(10)
        creator.join(30)
    assert _status(execution) == ExecutionStatus.RUNNING


def test_a_failed_decision_after_commit_leaves_the_execution_queued_for_the_next_pass(
    resource_backend, make_worker, make_task, monkeypatch, caplog
):
    make_worker()
    task = make_task("failing-pass")

    def broken(**_: object) -> int:
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "admission_dispatch", broken)
    execution = core.execution_create(task=task)  # the caller is not told: it has committed
    assert "wait for the next pass" in caplog.text
    assert _status(execution) == ExecutionStatus.QUEUED
    monkeypatch.undo()

    assert services.admission_dispatch() == 1
    assert _status(execution) == ExecutionStatus.RUNNING


def test_reconciliation_begins_an_execution_granted_but_never_begun(make_worker, make_task, queued, monkeypatch):
    make_worker()
    execution = queued(make_task("granted-only"))
    monkeypatch.setattr(core, "execution_begin", lambda **_: (_ for _ in ()).throw(RuntimeError("killed")))
    services.admission_enqueue(execution=execution)
    assert services.admission_dispatch() == 0  # granted and committed; the start failed
    assert Allocation.objects.filter(execution=execution, released_at__isnull=True).exists()
    assert _status(execution) == ExecutionStatus.QUEUED
    monkeypatch.undo()

    assert services.admission_reconcile()["begun"] == 0  # within the grace period: maybe still beginning
    Allocation.objects.filter(execution=execution).update(
        allocated_at=timezone.now() - services.ADMITTED_NOT_BEGUN_GRACE - timedelta(seconds=1)
    )
    assert services.admission_reconcile()["begun"] == 1
    assert _status(execution) == ExecutionStatus.RUNNING
    assert Allocation.objects.filter(execution=execution, released_at__isnull=True).count() == 1


@pytest.mark.parametrize("per_priority", [1, 2, 3, 5, 50])
def test_the_queue_head_is_a_prefix_of_the_whole_queue_in_order(settings, make_worker, make_task, queued, per_priority):
    settings.WEBAUTO_RESOURCES_AGEING_SECONDS = 60
    now = timezone.now()
    # Ages chosen so that ageing interleaves the lines: a low request that waited
    # three minutes outranks fresh high ones.
    plan = [
        ("low", 200), ("low", 190), ("low", 5), ("normal", 100), ("normal", 70), ("normal", 1),
        ("high", 30), ("high", 2), ("critical", 0), ("normal", 0), ("low", 0), ("high", 0),
    ]
    for i, (priority, age) in enumerate(plan):
        execution = queued(make_task(f"q{i}", priority=priority))
        services.admission_enqueue(execution=execution)
        ResourceRequest.objects.filter(execution=execution).update(first_requested_at=now - timedelta(seconds=age))

    whole = [r.pk for r in services.ordered_waiting(now)]
    head, complete = services._queue_head(now, per_priority=per_priority)

    assert [r.pk for r in head] == whole[: len(head)]
    assert complete == (len(head) == len(whole))
    assert head  # never empty while something waits
    if per_priority == 50:
        assert complete


def test_a_pass_admits_past_the_head_it_read_first(settings, make_worker, make_task, queued):
    settings.WEBAUTO_RESOURCES_AGEING_SECONDS = 0
    make_worker(cores=8)  # room for 32 at 1 CPU each
    task = make_task("many", cpu=1)
    executions = [queued(task) for _ in range(services.QUEUE_HEAD_PER_PRIORITY + 4)]
    for execution in executions:
        services.admission_enqueue(execution=execution)

    assert services.admission_dispatch() == len(executions)
    assert {_status(e) for e in executions} == {ExecutionStatus.RUNNING}


def test_the_queue_behind_a_misfit_is_told_why_it_waits(make_worker, make_task, queued):
    make_worker(cpu_limit_millicores=1000)
    task = make_task("one-at-a-time", cpu=1)
    executions = [queued(task) for _ in range(services.QUEUE_HEAD_PER_PRIORITY + 3)]
    for execution in executions:
        services.admission_enqueue(execution=execution)

    assert services.admission_dispatch() == 1
    assert _status(executions[0]) == ExecutionStatus.RUNNING
    reasons = set(Execution.objects.filter(pk__in=[e.pk for e in executions[1:]]).values_list("status_reason", flat=True))
    assert reasons == {"waiting for 1 CPU, 256MB"}


def test_executions_that_finish_as_they_begin_do_not_nest_passes(make_worker, make_task, queued):
    """Each begin finishes its execution at once (its only node is skipped by
    its condition), and each release asks for a pass on commit. Nested, 150 of
    them went past Python's recursion limit; now the running pass goes round
    again instead."""
    worker = make_worker(cpu_limit_millicores=1000)
    task = make_task(
        "skips-at-once", cpu=1,
        workflows=[{"id": "only", "workflow": "echo", "condition": {"type": "expression", "expression": "${1 == 2}"}}],
    )
    Worker.objects.filter(pk=worker.pk).update(last_heartbeat_at=timezone.now() - timedelta(hours=1))
    executions = [queued(task) for _ in range(150)]
    for execution in executions:
        services.admission_enqueue(execution=execution)
    assert services.admission_dispatch() == 0  # no live worker: the queue builds up
    Worker.objects.filter(pk=worker.pk).update(last_heartbeat_at=timezone.now())

    services.admission_dispatch()

    finished = Execution.objects.filter(pk__in=[e.pk for e in executions], status=ExecutionStatus.COMPLETED)
    assert finished.count() == 150
    assert not NodeRun.objects.filter(execution__in=executions).exclude(status=NodeStatus.SKIPPED).exists()
    assert not Allocation.objects.filter(released_at__isnull=True).exists()
    assert connection.in_atomic_block is False
