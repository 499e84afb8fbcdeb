"""Signal receivers: task definitions carry a schedule block, and events start
event schedules. Receivers stay quick and hand slow work to Celery."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from orchestration import subscribers
from orchestration.models import Event, Task
from orchestration.subscribers import SubscriberCache

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


# The subscriber set that ``on_event_recorded`` matches events against,
# cached per process (orchestration/subscribers.py) and marked changed by
# ``on_schedule_saved`` / ``on_schedule_deleted``.
SUBSCRIBERS = "scheduling.event_schedules"
# Fields of a schedule that decide whether and how it subscribes to events.
SUBSCRIBING_FIELDS = frozenset(
    {"kind", "enabled", "finished_at", "event_name", "event_filter", "task", "task_id", "pause_after_failures"}
)


@dataclass(frozen=True)
class EventSubscribers:
    """What events are matched against, loaded in one go: the enabled,
    unfinished event schedules as ``(pk, task_id, event_name, event_filter)``,
    and the ids of tasks with a schedule that auto-pauses after failures
    (only their runs' final events are worth a look-up of the fire)."""

    event_schedules: tuple[tuple[int, int, str, Any], ...]
    pausing_task_ids: frozenset[int]


def load_event_subscribers() -> EventSubscribers:
    """Read the subscribers from the database (two queries)."""
    from scheduling.models import Schedule, ScheduleKind

    schedules = tuple(
        Schedule.objects.filter(kind=ScheduleKind.EVENT, enabled=True, finished_at__isnull=True)
        .order_by("pk")
        .values_list("pk", "task_id", "event_name", "event_filter")
    )
    pausing = frozenset(
        Schedule.objects.filter(pause_after_failures__isnull=False).values_list("task_id", flat=True).distinct()
    )
    return EventSubscribers(event_schedules=schedules, pausing_task_ids=pausing)


event_subscribers: SubscriberCache[EventSubscribers] = SubscriberCache(SUBSCRIBERS, load_event_subscribers)


def on_schedule_saved(sender: Any, *, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    """Mark the event subscribers changed when a save may have changed them
    (a full save, or one of ``SUBSCRIBING_FIELDS``); the fire path's saves of
    ``next_fire_at`` and counters do not."""
    if update_fields is None or SUBSCRIBING_FIELDS & set(update_fields):
        subscribers.bump(SUBSCRIBERS)


def on_schedule_deleted(sender: Any, *, instance: Any, **kwargs: Any) -> None:
    subscribers.bump(SUBSCRIBERS)


def on_event_recorded(sender: Any, *, event: Event, **kwargs: Any) -> None:
    """Runs after the event's transaction committed. Subscribers come from
    this process's cache: no query for an event nothing subscribes to."""
    from scheduling import services, tasks
    from scheduling.models import Fire

    current = event_subscribers.get()
    data = event.data if isinstance(event.data, dict) else {}
    if (
        event.type in EXECUTION_FINAL_EVENTS
        and event.execution_id
        and event.task_id in current.pausing_task_ids
        and data.get("trigger") in SCHEDULED_TRIGGERS
    ):
        # Only schedules that auto-pause care how their runs end; one indexed
        # look-up here saves a task message for every other run.
        counted = Fire.objects.filter(
            Q(execution_id=event.execution_id) | Q(execution__retries=event.execution_id),
            schedule__pause_after_failures__isnull=False,
        ).exists()
        if counted:
            tasks.execution_finished.delay(event.execution_id)
    # Matching is cheap and done here, so that only matching events cost a message.
    for pk, task_id, pattern, spec in current.event_schedules:
        if services.event_matches(pattern=pattern, spec=spec, schedule_task_id=task_id, event=event):
            tasks.event_fire.delay(pk, event.pk)
