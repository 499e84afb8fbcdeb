"""Executions with known timestamps, written straight to the database. A
final one is announced as the engine does when it finishes a run (the
``execution_finished`` signal, which the Prometheus counters count)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone


def execution(
    task: Any, status: str, *, created: datetime | None = None, wait: float = 1.0, duration: float | None = 10.0,
    error: str = "",
) -> Any:
    from orchestration.models import EXECUTION_FINAL, Execution
    from orchestration.signals import execution_finished

    created = created or timezone.now()
    queued = created
    started = queued + timedelta(seconds=wait) if status not in ("pending", "queued") else None
    finished = (
        started + timedelta(seconds=duration)
        if started is not None and duration is not None and status not in ("running",)
        else None
    )
    e = Execution.objects.create(task=task, status=status, definition={"taskId": task.task_id}, error=error)
    Execution.objects.filter(pk=e.pk).update(
        created_at=created, queued_at=queued, started_at=started, finished_at=finished
    )
    e.refresh_from_db()
    if status in EXECUTION_FINAL:
        execution_finished.send(sender=Execution, execution=e)
    return e
