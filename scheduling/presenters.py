"""JSON shapes of schedules and fires, shared by the API and the pages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from django.urls import reverse
from django.utils import timezone

from orchestration.ui.hooks import ScheduleRow, TaskSchedules
from scheduling import arming, selectors, spec, timing
from scheduling.models import Fire, Schedule

if TYPE_CHECKING:
    from orchestration.models import Task


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def describe(schedule: Schedule) -> str:
    if schedule.kind == "cron":
        return timing.describe_cron(schedule.expression) + f" ({schedule.timezone})"
    if schedule.kind == "interval":
        return timing.describe_interval(int(schedule.interval_value or 0), schedule.interval_unit)
    if schedule.kind == "event":
        return f"On event {schedule.event_name}" + (
            " matching a filter" if schedule.event_filter else ""
        )
    return "On webhook call" if schedule.manual_trigger == "webhook" else "On API call"


def fire_json(fire: Fire) -> dict[str, Any]:
    return {
        "id": fire.pk,
        "scheduleId": fire.schedule_id,
        "source": fire.source,
        "scheduledTime": _iso(fire.scheduled_at),
        "firedAt": _iso(fire.fired_at),
        "lagMs": fire.lag_ms,
        "outcome": fire.outcome,
        "catchUp": fire.catch_up,
        "executionId": fire.execution_id,
        "executionStatus": fire.execution.status if fire.execution else None,
        "eventId": fire.event_id,
        "detail": fire.detail,
    }


def schedule_json(schedule: Schedule) -> dict[str, Any]:
    last = selectors.schedule_last_fire(schedule)
    data: dict[str, Any] = {
        "id": schedule.pk,
        "taskId": schedule.task.task_id,
        **spec.to_block(schedule),
        "origin": schedule.origin,
        "state": schedule.state,
        "pausedReason": schedule.paused_reason,
        "finishedReason": schedule.finished_reason,
        "description": describe(schedule),
        "nextFireAt": _iso(schedule.next_fire_at),
        "runCount": selectors.schedule_run_count(schedule),
        "consecutiveFailures": schedule.consecutive_failures,
        "hasWebhookSecret": bool(schedule.webhook_secret),
        "beatEntry": arming.entry_name(schedule),
        "lastFire": fire_json(last) if last else None,
        "createdAt": _iso(schedule.created_at),
        "updatedAt": _iso(schedule.updated_at),
    }
    return data


def task_schedules(task: Task) -> TaskSchedules:
    """The task's schedules (from its definition or made on the Schedules
    page) for its page: what each does, its state, and the next fire time in
    the schedule's own time zone and as stored (UTC). Registered as the core
    pages' ``task_schedules`` hook."""
    rows = []
    for schedule in Schedule.objects.filter(task=task).order_by("id"):
        next_at = schedule.next_fire_at if schedule.state == "active" else None
        rows.append(
            ScheduleRow(
                name=schedule.name,
                description=describe(schedule),
                state=schedule.state,
                url=reverse("scheduling:schedule-detail", args=[schedule.pk]),
                timezone=schedule.timezone,
                is_clock=schedule.is_clock,
                next_at=next_at,
                # Formatted here: the template's date filter would convert back to the site's zone.
                next_local=timezone.localtime(next_at, ZoneInfo(schedule.timezone)).strftime("%Y-%m-%d %H:%M")
                if next_at else "",
            )
        )
    return TaskSchedules(list_url=reverse("scheduling:schedule-list") + f"?task={quote(task.task_id)}", rows=rows)
