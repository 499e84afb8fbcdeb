"""Soak: one-second schedules while operators bulk-cancel for 90 s, with a
real beat, a real worker admitting through the resource manager (capacity for
four runs, so runs queue, start, are preempted by higher-priority ones and
are cancelled in every state) and PostgreSQL.

The issue's reliability target: no fire ends ``failed-to-start`` and
PostgreSQL detects no deadlock (read from ``pg_stat_database.deadlocks`` for
the test database, before and after, rather than from a server log the test
may not be able to read); every instant is recorded exactly once, each
started fire with its one run. Fire starts retry a deadlock internally, so
only the database's own counter shows whether the lock order holds."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from rest_framework.test import APIClient

from orchestration import services as core
from orchestration.models import (
    EXECUTION_ACTIVE,
    EXECUTION_FINAL,
    NODE_FINAL,
    Execution,
    ExecutionStatus,
    NodeRun,
)
from scheduling import services
from scheduling.models import Fire, FireOutcome
from tests.conftest import wait_for
from tests.scheduling.conftest import assert_contiguous_once, logs

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SOAK_SECONDS = 90
CANCEL_EVERY_SECONDS = 2.0


def database_deadlocks() -> int:
    """PostgreSQL's count of deadlocks detected in this (test) database so far."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # read the live counters, not a cached snapshot
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


def other_sessions() -> set[int]:
    """Process ids of the other sessions of this (test) database."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return {int(row[0]) for row in cursor.fetchall()}


def soak_task(task_id: str, *, priority: str, marks: Path) -> object:
    """A two-node chain that takes about a second and needs one of the four
    CPUs the worker offers."""
    return core.task_create(definition={
        "taskId": task_id, "name": task_id, "priority": priority,
        "resourceRequirements": {"cpu": 1, "memory": "16MB"},
        "workflows": [
            {"id": "first", "name": "first", "workflow": "test-marker", "config": {"file": str(marks), "seconds": 0.5}},
            {"id": "second", "name": "second", "workflow": "test-marker", "dependsOn": ["first"],
             "config": {"file": str(marks), "seconds": 0.5}},
        ],
    })


def test_one_second_schedules_with_bulk_cancels_never_fail_to_start_nor_deadlock(
    worker_factory, beats, admin_user, tmp_path
):
    marks = tmp_path / "marks.log"
    # Sessions some earlier test left open (a module's shared worker) are not
    # this test's; only the ones it starts must end before the count is read.
    sessions_before = other_sessions()
    # WEBAUTO_WORKER_CPU_LIMIT=1 with the default 4x CPU overcommit: four
    # one-CPU runs at a time, so admission queues and preempts all along.
    worker = worker_factory(concurrency=4, env={"WEBAUTO_WORKER_CPU_LIMIT": "1", "WEBAUTO_CANCEL_GRACE_SECONDS": "1"})
    tasks = [
        soak_task(f"soak-{n}", priority=("high" if n % 2 else "low"), marks=marks) for n in range(4)
    ]
    schedules = [
        services.schedule_create(task=task, block={"type": "interval", "interval": 1, "unit": "s", "concurrent": True})
        for task in tasks
    ]
    deadlocks_before = database_deadlocks()

    answers: Counter[int] = Counter()
    cancelled_by_api: set[int] = set()
    stop = threading.Event()

    def cancel(execution_id: int) -> None:
        client = APIClient()
        client.force_authenticate(admin_user)
        try:
            status = client.post(f"/api/v1/executions/{execution_id}/cancel/").status_code
        finally:
            connection.close()
        answers[status] += 1
        if status == 202:
            cancelled_by_api.add(execution_id)

    def bulk_cancel_all_active() -> None:
        ids = list(Execution.objects.filter(status__in=EXECUTION_ACTIVE).values_list("pk", flat=True))
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(cancel, ids))

    def canceller() -> None:
        try:
            while not stop.wait(CANCEL_EVERY_SECONDS):
                bulk_cancel_all_active()
        finally:
            connection.close()

    beat = beats("beat")
    try:
        wait_for(lambda: Fire.objects.filter(outcome=FireOutcome.STARTED).count() >= 4, timeout=60)
    except AssertionError:
        raise AssertionError(logs(beat.log, worker.log_file)) from None
    thread = threading.Thread(target=canceller)
    thread.start()
    try:
        time.sleep(SOAK_SECONDS)
    finally:
        stop.set()
        thread.join(60)
    for schedule in schedules:
        services.schedule_pause(schedule=schedule)
    time.sleep(2)  # fires already sent land
    bulk_cancel_all_active()
    try:
        wait_for(lambda: not Execution.objects.exclude(status__in=list(EXECUTION_FINAL)).exists(), timeout=90)
    except AssertionError:
        raise AssertionError(logs(beat.log, worker.log_file)) from None
    # Killed: under load beat sometimes took more than 20 s to obey SIGTERM,
    # and its database session ends (flushing its counters) either way.
    beat.stop(signal.SIGKILL)
    worker.stop()
    # A backend's counters reach pg_stat_database when its session ends at the latest.
    wait_for(lambda: not (other_sessions() - sessions_before), timeout=30)
    deadlocks = database_deadlocks() - deadlocks_before

    fires = list(Fire.objects.order_by("schedule_id", "scheduled_at"))
    outcomes = Counter(f.outcome for f in fires)
    failed = [f"{f.schedule_name} {f.scheduled_at:%H:%M:%S}: {f.detail}" for f in fires
              if f.outcome == FireOutcome.FAILED_TO_START]
    cancelled = Execution.objects.filter(pk__in=cancelled_by_api, status=ExecutionStatus.CANCELLED)
    soaked = (f"fires {dict(outcomes)}, cancel answers {dict(answers)}, executions "
              f"{dict(Counter(Execution.objects.values_list('status', flat=True)))}")
    assert deadlocks == 0, f"{deadlocks} deadlocks detected in the database; {soaked}\n{logs(worker.log_file)}"
    assert failed == [], failed
    assert not (set(answers) - {202, 409}), soaked  # cancelled, or already finished: never a 500

    # It soaked: fires every second on every schedule, cancels that hit runs in every state.
    assert outcomes[FireOutcome.STARTED] >= 4 * SOAK_SECONDS // 2, soaked
    assert cancelled.count() >= 50, soaked
    assert cancelled.filter(started_at__isnull=False).exists(), soaked  # running ones were stopped
    assert cancelled.filter(started_at__isnull=True).exists(), soaked  # and queued ones never started
    assert Execution.objects.filter(status=ExecutionStatus.COMPLETED).exists(), soaked

    # Every instant of every schedule recorded exactly once, each started fire with its own run.
    for schedule in schedules:
        assert_contiguous_once([f for f in fires if f.schedule_id == schedule.pk], timedelta(seconds=1))
    started = [f for f in fires if f.outcome == FireOutcome.STARTED]
    assert all(f.execution_id is not None for f in started), soaked
    assert len({f.execution_id for f in started}) == len(started), soaked
    assert Execution.objects.filter(trigger="schedule").count() == len(started), soaked
    # Nothing left half-done: every node of every run settled.
    assert not NodeRun.objects.exclude(status__in=list(NODE_FINAL)).exists(), soaked
