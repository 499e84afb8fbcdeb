"""Hooks through which feature apps put their facts on the core pages, so that
the core pages import none of them (issue 15, point 5).

- ``next_runs``: the soonest next run of each task (task list). The
  scheduling app registers its schedules' next fire times.
- ``task_schedules``: what starts a task other than a person (task page):
  a link to the full list and one row per schedule.

Apps register in their ``AppConfig.ready()``. With nothing registered the
pages show no next run and no schedules row. (The kinds a node can use come
from the kind registry: ``registry.provided_kinds``.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestration.models import Task

NextRuns = Callable[[Sequence[int]], Mapping[int, datetime]]


@dataclass(frozen=True)
class ScheduleRow:
    """One schedule of a task as its page shows it. ``next_at`` is the next
    fire time (aware, UTC as stored) or None; ``next_local`` is it formatted in
    the schedule's own zone (``timezone``); ``is_clock`` tells a cron or
    interval schedule (which has a next run) from an event or manual one."""

    name: str
    description: str
    state: str
    url: str
    timezone: str
    is_clock: bool
    next_at: datetime | None = None
    next_local: str = ""


@dataclass(frozen=True)
class TaskSchedules:
    """A task's schedules and where their full list is."""

    list_url: str
    rows: list[ScheduleRow] = field(default_factory=list)


TaskSchedulesHook = Callable[["Task"], TaskSchedules]

_next_runs: list[NextRuns] = []
_task_schedules: list[TaskSchedulesHook] = []


def register_next_runs(hook: NextRuns) -> None:
    """Add a source of next run times: ``hook(task_pks) -> {task_pk: when}``."""
    if hook not in _next_runs:
        _next_runs.append(hook)


def register_task_schedules(hook: TaskSchedulesHook) -> None:
    """Set the source of a task's schedules (one; the last registered wins)."""
    _task_schedules[:] = [hook]


def next_runs(task_pks: Sequence[int]) -> dict[int, datetime]:
    """The soonest next run of each task that has one, over every source."""
    result: dict[int, datetime] = {}
    for hook in list(_next_runs):
        for task_pk, when in hook(task_pks).items():
            if task_pk not in result or when < result[task_pk]:
                result[task_pk] = when
    return result


def task_schedules(task: Task) -> TaskSchedules | None:
    """The task's schedules, or None when no app keeps schedules."""
    return _task_schedules[0](task) if _task_schedules else None
