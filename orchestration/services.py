"""The orchestrator's write operations, in one place for callers (views, APIs,
Celery tasks, other apps). Task definitions are in ``task_services``; the
execution engine is in ``engine``."""

from __future__ import annotations

from typing import Any

from orchestration.engine import (
    ExecutionStateError,
    dispatch_priority,
    dispatch_priority_floor,
    execution_begin,
    execution_cancel,
    execution_create,
    execution_preempt,
    execution_rerun,
)
from orchestration.models import Task


def task_create(*, definition: dict[str, Any], user: Any = None) -> Task:
    from orchestration import task_services

    return task_services.task_create(definition=definition, user=user)


def task_update(*, task: Task, definition: dict[str, Any], partial: bool = False) -> Task:
    from orchestration import task_services

    return task_services.task_update(task=task, definition=definition, partial=partial)


def task_delete(*, task: Task) -> None:
    from orchestration import task_services

    task_services.task_delete(task=task)


__all__ = [
    "ExecutionStateError",
    "dispatch_priority",
    "dispatch_priority_floor",
    "execution_begin",
    "execution_cancel",
    "execution_create",
    "execution_preempt",
    "execution_rerun",
    "task_create",
    "task_delete",
    "task_update",
]
