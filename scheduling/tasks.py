"""Celery tasks of the scheduling app: thin interfaces that take ids and call
services. All of them are idempotent, so redelivery is harmless."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from scheduling import services

log = logging.getLogger(__name__)


@shared_task(name="scheduling.fire", ignore_result=True)
def fire(schedule_id: int, scheduled_for: str | None = None) -> int:
    """Sent by beat at a schedule's armed instant; ``scheduled_for`` is informative
    only (the schedule's cursor decides what is due)."""
    return len(services.schedule_fire_due(schedule_id=schedule_id))


@shared_task(name="scheduling.fire_batch", ignore_result=True)
def fire_batch(schedule_ids: list[int]) -> int:
    """Sent by beat with the schedules whose cursor fell due in one tick: fires
    them in one transaction (``services.schedule_fire_batch``). Returns the
    fire records made."""
    return len(services.schedule_fire_batch(schedule_ids=[int(pk) for pk in schedule_ids]))


@shared_task(name="scheduling.event_fire", ignore_result=True)
def event_fire(schedule_id: int, event_id: int) -> None:
    services.schedule_fire_event(schedule_id=schedule_id, event_id=event_id)


@shared_task(name="scheduling.execution_finished", ignore_result=True)
def execution_finished(execution_id: int) -> None:
    services.schedule_execution_finished(execution_id=execution_id)


@shared_task(name="scheduling.watchdog", ignore_result=True)
def watchdog() -> dict[str, Any]:
    counts = services.schedules_watchdog()
    if counts["overdue"] or counts["unarmed"]:
        log.warning("scheduling watchdog fired overdue schedules: %s", counts)
    return counts


@shared_task(name="scheduling.prune_history", ignore_result=True)
def prune_history() -> int:
    from datetime import timedelta

    from django.conf import settings

    return services.schedules_prune_history(older_than=timedelta(days=settings.WEBAUTO_SCHEDULE_HISTORY_DAYS))
