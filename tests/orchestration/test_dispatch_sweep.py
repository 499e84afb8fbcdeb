"""The database is the source of truth for dispatch: the sweep re-sends what
no worker claimed, and the lock order never lets two transactions wait on
each other (no worker here: the tests play the worker's claim themselves)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from orchestration import engine, recovery, services
from orchestration.models import ExecutionStatus, NodeRun, NodeStatus, Task
from tests.orchestration.conftest import node_map
from tests.support.locks import held_in_another_transaction, lock_timeout

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_queued_node_nobody_claimed_is_sent_again_and_its_late_original_dropped(admit_all, make_task, settings):
    settings.WEBAUTO_DISPATCH_RESEND_SECONDS = 10
    execution = services.execution_create(task=make_task("lost", [{"id": "only", "workflow": "echo"}]))
    run = node_map(execution)["only"]
    assert run.status == NodeStatus.QUEUED
    original = str(run.dispatch_id)

    assert recovery.dispatch_sweep() == {"retried": 0, "resent": 0}  # younger than the bound: left alone
    NodeRun.objects.filter(pk=run.pk).update(queued_at=timezone.now() - timedelta(seconds=11))
    assert recovery.dispatch_sweep() == {"retried": 0, "resent": 1}

    run.refresh_from_db()
    assert str(run.dispatch_id) != original
    assert run.queued_at > timezone.now() - timedelta(seconds=5)
    assert engine.node_claim(node_run_id=run.pk, dispatch_id=original, worker="late") is None
    claim = engine.node_claim(node_run_id=run.pk, dispatch_id=str(run.dispatch_id), worker="w")
    assert claim is not None
    assert recovery.dispatch_sweep() == {"retried": 0, "resent": 0}  # claimed: nothing to re-send


def test_a_node_whose_message_was_never_sent_is_sent_at_the_next_sweep(admit_all, make_task):
    execution = services.execution_create(task=make_task("unsent", [{"id": "only", "workflow": "echo"}]))
    run = node_map(execution)["only"]
    # What a failed send leaves behind (the broker was down at commit).
    NodeRun.objects.filter(pk=run.pk).update(queued_at=None)

    assert recovery.dispatch_sweep()["resent"] == 1
    run.refresh_from_db()
    assert run.queued_at is not None


def test_an_overdue_countdown_retry_is_sent_again_and_a_parked_one_when_due(admit_all, make_task, settings):
    settings.WEBAUTO_DISPATCH_RESEND_SECONDS = 10
    settings.WEBAUTO_MAX_COUNTDOWN_SECONDS = 60
    task = make_task("flaky", [{"id": "a", "workflow": "echo", "execution": {"retryAttempts": 3}},
                               {"id": "b", "workflow": "echo", "execution": {"retryAttempts": 3}}],
                     retry_delay_ms=20_000)
    execution = services.execution_create(task=task)
    failed = engine.Outcome(status=NodeStatus.FAILED, error="boom")
    for node_id in ("a", "b"):
        run = node_map(execution)[node_id]
        assert engine.node_claim(node_run_id=run.pk, dispatch_id=str(run.dispatch_id), worker="w")
        engine.node_finish(node_run_id=run.pk, dispatch_id=str(run.dispatch_id), outcome=failed)
    a, b = node_map(execution)["a"], node_map(execution)["b"]
    # Sent as a countdown of 16-24 s: the row says when to give up on that message.
    assert a.status == NodeStatus.QUEUED and a.retries == 1
    assert a.next_attempt_at > timezone.now() + timedelta(seconds=16 + 10 - 2)
    assert recovery.dispatch_sweep() == {"retried": 0, "resent": 0}

    # The worker holding a's countdown died: past due + bound, the sweep sends it again.
    NodeRun.objects.filter(pk=a.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert recovery.dispatch_sweep() == {"retried": 1, "resent": 0}
    a.refresh_from_db()
    assert a.next_attempt_at is None
    assert engine.node_claim(node_run_id=a.pk, dispatch_id=str(b.dispatch_id), worker="w") is None
    assert engine.node_claim(node_run_id=a.pk, dispatch_id=str(a.dispatch_id), worker="w") is not None
    b.refresh_from_db()
    assert b.status == NodeStatus.QUEUED and b.next_attempt_at is not None  # not due yet: untouched


def test_the_engine_never_locks_the_task_row(admit_all, make_task):
    task = make_task("shared", [{"id": "slow", "workflow": "echo"}])
    execution = services.execution_create(task=task)
    # An alert evaluation holds the task row (FOR NO KEY UPDATE) meanwhile:
    # cancelling, which locks the execution, must not wait for it.
    with held_in_another_transaction(lambda: Task.objects.select_for_update(no_key=True).get(pk=task.pk)):
        with lock_timeout(2):
            services.execution_cancel(execution_id=execution.pk, reason="bulk cancel")
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.CANCELLED
