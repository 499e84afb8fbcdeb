"""Reads of the scheduling app."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db.models import OuterRef, QuerySet, Subquery

from scheduling.models import Fire, Schedule


def schedule_list(*, task_id: str = "", kind: str = "", state: str = "") -> QuerySet[Schedule]:
    """Schedules with their task and the outcome/time of their latest fire annotated."""
    latest = Fire.objects.filter(schedule=OuterRef("pk")).order_by("-scheduled_at", "-id")
    qs = (
        Schedule.objects.select_related("task")
        .annotate(
            last_outcome=Subquery(latest.values("outcome")[:1]),
            last_scheduled_at=Subquery(latest.values("scheduled_at")[:1]),
            last_lag_ms=Subquery(latest.values("lag_ms")[:1]),
        )
        .order_by("task__task_id", "id")
    )
    if task_id:
        qs = qs.filter(task__task_id=task_id)
    if kind:
        qs = qs.filter(kind=kind)
    if state == "finished":
        qs = qs.filter(finished_at__isnull=False)
    elif state == "paused":
        qs = qs.filter(finished_at__isnull=True, enabled=False)
    elif state == "active":
        qs = qs.filter(finished_at__isnull=True, enabled=True)
    return qs


def schedule_history(*, schedule: Schedule, outcome: str = "") -> QuerySet[Fire]:
    qs = (
        Fire.objects.filter(schedule=schedule)
        .select_related("execution")
        .order_by("-scheduled_at", "-id")
    )
    if outcome:
        qs = qs.filter(outcome=outcome)
    return qs


def schedule_last_fire(schedule: Schedule) -> Fire | None:
    return Fire.objects.filter(schedule=schedule).select_related("execution").order_by("-scheduled_at", "-id").first()


def schedule_run_count(schedule: Schedule) -> int:
    return Fire.objects.filter(schedule=schedule, outcome="started").count()


def next_runs(task_pks: Sequence[int]) -> dict[int, datetime]:
    """The soonest next fire time of each task's enabled schedules, by task
    pk (tasks without one are left out). Registered as the core pages'
    ``next_runs`` hook."""
    result: dict[int, datetime] = {}
    rows = Schedule.objects.filter(task_id__in=list(task_pks), enabled=True, next_fire_at__isnull=False)
    for task_pk, fire_at in rows.values_list("task_id", "next_fire_at"):
        if fire_at is not None and (task_pk not in result or fire_at < result[task_pk]):
            result[task_pk] = fire_at
    return result


def clock_fires_between(*, since: datetime, until: datetime, task_id: str | None = None) -> QuerySet[Fire]:
    """Fires scheduled in ``[since, until)`` that have a lag (clock fires), of
    one task (by taskId, kept on the fire: fires outlive their schedule and
    task) or of all; unordered, for aggregation."""
    qs = Fire.objects.filter(scheduled_at__gte=since, scheduled_at__lt=until, lag_ms__isnull=False)
    if task_id:
        qs = qs.filter(task_key=task_id)
    return qs.order_by()
