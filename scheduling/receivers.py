"""Signal receivers: task definitions carry a schedule block, and events start
event schedules. Receivers stay quick and hand slow work to Celery."""

from __future__ import annotations

from typing import Any

from orchestration.models import Event, Task

EXECUTION_FINAL_EVENTS = frozenset(
    {
        "execution.completed",
        "execution.completed_with_errors",
        "execution.failed",
        "execution.cancelled",
        "execution.timed_out",
    }
)
SCHEDULED_TRIGGERS = frozenset({"schedule", "event", "webhook", "api", "retry"})


def on_task_definition_saved(
    sender: Any, *, task: Task, created: bool, definition: dict[str, Any], **kwargs: Any
) -> None:
    from scheduling import services

    services.schedule_sync_from_definition(task=task, definition=definition)
    services.schedules_follow_task_enabled(task=task)


def on_task_deleting(sender: Any, *, task: Task, **kwargs: Any) -> None:
    from scheduling import services

    services.schedules_release_for_task(task=task)


def on_event_recorded(sender: Any, *, event: Event, **kwargs: Any) -> None:
    """Runs after the event's transaction committed."""
    from django.db.models import Q

    from scheduling import services, tasks
    from scheduling.models import Fire, Schedule, ScheduleKind

    data = event.data if isinstance(event.data, dict) else {}
    if event.type in EXECUTION_FINAL_EVENTS and event.execution_id and data.get("trigger") in SCHEDULED_TRIGGERS:
        # Only schedules that auto-pause care how their runs end; one indexed
        # look-up here saves a task message for every other run.
        counted = Fire.objects.filter(
            Q(execution_id=event.execution_id) | Q(execution__retries=event.execution_id),
            schedule__pause_after_failures__isnull=False,
        ).exists()
        if counted:
            tasks.execution_finished.delay(event.execution_id)
    # Matching is cheap and done here, so that only matching events cost a message.
    candidates = Schedule.objects.filter(
        kind=ScheduleKind.EVENT, enabled=True, finished_at__isnull=True
    ).values_list("pk", "task_id", "event_name", "event_filter")
    for pk, task_id, pattern, spec in candidates:
        if services.event_matches(pattern=pattern, spec=spec, schedule_task_id=task_id, event=event):
            tasks.event_fire.delay(pk, event.pk)
