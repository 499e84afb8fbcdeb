"""Reads behind the operator pages: filtered lists, the latest execution of each
task, next scheduled runs, an execution's node timeline, and masking of secrets
before anything reaches a page."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from orchestration.models import (
    EXECUTION_FINAL,
    NODE_FINAL,
    Execution,
    ExecutionStatus,
    NodeRun,
    Secret,
    Task,
)
from orchestration.references import redact
from orchestration.ui import hooks

NEVER_RUN = "never"

def task_list(
    *, q: str = "", category: str = "", tag: str = "", status: str = ""
) -> QuerySet[Task]:
    """Tasks matching the filters, annotated with their latest execution
    (``last_execution_id``, ``last_status``, ``last_created_at``)."""
    latest = Execution.objects.filter(task=OuterRef("pk")).order_by("-created_at", "-id")
    tasks = Task.objects.annotate(
        last_execution_id=Subquery(latest.values("id")[:1]),
        last_status=Subquery(latest.values("status")[:1]),
        last_created_at=Subquery(latest.values("created_at")[:1]),
    )
    if q:
        tasks = tasks.filter(
            Q(task_id__icontains=q) | Q(name__icontains=q) | Q(description__icontains=q)
        )
    if category:
        tasks = tasks.filter(category=category)
    if tag:
        tasks = tasks.filter(_has_tag(tag))
    if status == NEVER_RUN:
        tasks = tasks.filter(last_status__isnull=True)
    elif status:
        tasks = tasks.filter(last_status=status)
    return tasks.order_by("task_id")


def _has_tag(tag: str) -> Q:
    if connection.vendor == "postgresql":
        return Q(tags__contains=[tag])
    # SQLite has no JSON containment lookup; the task table is small enough to scan.
    return Q(pk__in=[pk for pk, tags in Task.objects.values_list("pk", "tags") if tag in (tags or [])])


@dataclass
class TaskRow:
    """A line of the task list."""

    task: Task
    last_execution_id: int | None
    last_status: str
    last_status_label: str
    last_created_at: datetime | None
    next_run: datetime | None

    @property
    def last_active(self) -> bool:
        """The last run has not reached a final status yet (the row polls)."""
        return bool(self.last_status) and self.last_status not in EXECUTION_FINAL


def task_rows(tasks: Iterable[Task]) -> list[TaskRow]:
    """Rows for tasks that came from :func:`task_list` (which annotates the last run)."""
    tasks = list(tasks)
    fires = hooks.next_runs([t.pk for t in tasks])
    rows = []
    for task in tasks:
        status = getattr(task, "last_status", None) or ""
        rows.append(
            TaskRow(
                task=task,
                last_execution_id=getattr(task, "last_execution_id", None),
                last_status=status,
                last_status_label=ExecutionStatus(status).label if status else "",
                last_created_at=getattr(task, "last_created_at", None),
                next_run=fires.get(task.pk),
            )
        )
    return rows


def task_categories() -> list[str]:
    return list(
        Task.objects.exclude(category="")
        .order_by("category")
        .values_list("category", flat=True)
        .distinct()
    )


def task_tags() -> list[str]:
    tags: set[str] = set()
    for row in Task.objects.values_list("tags", flat=True):
        tags.update(str(t) for t in (row or []))
    return sorted(tags)


def execution_list(*, task: str = "", status: str = "", trigger: str = "") -> QuerySet[Execution]:
    executions = Execution.objects.select_related("task")
    if task:
        executions = executions.filter(Q(task__task_id__icontains=task) | Q(task__name__icontains=task))
    if status:
        executions = executions.filter(status=status)
    if trigger:
        executions = executions.filter(trigger=trigger)
    return executions.order_by("-created_at", "-id")


@dataclass
class ExecutionRow:
    """A line of an execution list, with how many of its nodes have finished."""

    execution: Execution
    nodes_done: int
    nodes_total: int


def execution_rows(executions: Iterable[Execution]) -> list[ExecutionRow]:
    executions = list(executions)
    counts = (
        NodeRun.objects.filter(execution__in=executions)
        .values("execution_id")
        .annotate(total=Count("id"), done=Count("id", filter=Q(status__in=NODE_FINAL)))
    )
    progress = {row["execution_id"]: (row["done"], row["total"]) for row in counts}
    return [ExecutionRow(e, *progress.get(e.pk, (0, 0))) for e in executions]


def secret_values() -> list[str]:
    return [v for v in Secret.objects.values_list("value", flat=True) if v]


def masked(value: Any, secrets: list[str]) -> Any:
    """``value`` with every stored secret's value replaced; ``${name}`` references
    are left as written because they hold a name, not the secret."""
    return redact(value, secrets)


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


@dataclass
class TimelineSegment:
    left: float
    width: float
    status: str


@dataclass
class TimelineRow:
    node: NodeRun
    wait_left: float
    wait_width: float
    left: float
    width: float
    # Attempts before the current one (failed tries the node was retried after).
    earlier: list[TimelineSegment] = field(default_factory=list)


@dataclass
class Timeline:
    start: datetime | None
    end: datetime | None
    rows: list[TimelineRow]

    @property
    def span_seconds(self) -> float:
        if self.start and self.end:
            return max((self.end - self.start).total_seconds(), 0.0)
        return 0.0


def execution_timeline(
    execution: Execution, nodes: list[NodeRun], *, now: datetime | None = None
) -> Timeline:
    """Start/end bars of each node as percentages of the execution's span. A node
    still running reaches up to ``now``; the queued wait is its own lighter bar."""
    now = now or timezone.now()
    starts: list[datetime] = [m for n in nodes if (m := n.queued_at or n.started_at) is not None]
    starts += [moment for n in nodes for moment, _, _ in _attempt_times(n)]
    if execution.started_at:
        starts.append(execution.started_at)
    if not starts:
        return Timeline(start=None, end=None, rows=[TimelineRow(n, 0, 0, 0, 0) for n in nodes])
    start = min(starts)
    ends: list[datetime] = [n.finished_at for n in nodes if n.finished_at is not None]
    end: datetime
    if execution.finished_at:
        end = execution.finished_at
    elif execution.is_final:
        end = max([*ends, start])
    else:
        end = now
    end = max([end, *ends])
    span = max((end - start).total_seconds(), 0.001)

    def pct(moment: datetime) -> float:
        return round(min(max((moment - start).total_seconds() / span, 0.0), 1.0) * 100, 2)

    rows = []
    for node in nodes:
        if node.started_at:
            left = pct(node.started_at)
            right = pct(node.finished_at or (now if not node.is_final else node.started_at))
            width = max(right - left, 0.6)
        else:
            left = width = 0.0
        wait_left = wait_width = 0.0
        if node.queued_at:
            wait_left = pct(node.queued_at)
            wait_end = pct(node.started_at or node.finished_at or now)
            wait_width = max(wait_end - wait_left, 0.0)
        rows.append(TimelineRow(node, wait_left, wait_width, left, width, _earlier_attempts(node, pct)))
    return Timeline(start=start, end=end, rows=rows)


def _attempt_times(node: NodeRun) -> list[tuple[datetime, datetime, str]]:
    """(start, end, status) of each finished attempt before the node's current one."""
    times = []
    for attempt in node.attempt_log or []:
        if not isinstance(attempt, dict):
            continue
        started = parse_datetime(str(attempt.get("startedAt") or ""))
        finished = parse_datetime(str(attempt.get("finishedAt") or ""))
        if started and finished and (node.started_at is None or started < node.started_at):
            times.append((started, finished, str(attempt.get("status") or "failed")))
    return times


def _earlier_attempts(node: NodeRun, pct: Callable[[datetime], float]) -> list[TimelineSegment]:
    segments = []
    for started, finished, status in _attempt_times(node):
        left = pct(started)
        segments.append(TimelineSegment(left, max(pct(finished) - left, 0.6), status))
    return segments
