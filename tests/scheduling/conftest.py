from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import time_machine

from orchestration import services as core
from orchestration.models import Execution, ExecutionStatus, Task


def task_definition(task_id: str, *, schedule: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "taskId": task_id,
        "name": task_id,
        "workflows": [{"id": "only", "name": "only", "workflow": "echo", "config": {"output": {"ok": True}}}],
        **extra,
    }
    if schedule is not None:
        doc["schedule"] = schedule
    return doc


@pytest.fixture
def make_task(db):
    def make(task_id: str = "sched-task", **kwargs: Any) -> Task:
        return core.task_create(definition=task_definition(task_id, **kwargs))

    return make


@pytest.fixture
def clock() -> Iterator[Any]:
    """Time under test control: ``clock.at(datetime)`` moves to an instant."""

    class Clock:
        traveller: Any = None

        def at(self, when: datetime) -> None:
            if self.traveller is not None:
                self.traveller.stop()
            self.traveller = time_machine.travel(when, tick=False)
            self.traveller.start()

    c = Clock()
    yield c
    if c.traveller is not None:
        c.traveller.stop()


def finish(execution: Execution, status: str = ExecutionStatus.COMPLETED) -> None:
    """Mark an execution finished (the engine's workers are not part of these tests)."""
    Execution.objects.filter(pk=execution.pk).update(status=status)

