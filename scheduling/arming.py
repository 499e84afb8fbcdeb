"""Arming cron and interval schedules: the schedule's own cursor is the alarm.

A schedule is armed when its cursor (``Schedule.next_fire_at``) holds its next
instant; beat (``scheduling.beat.DatabaseScheduler``) reads the due cursors
straight from the schedule table on every tick (one indexed query for all
schedules) and sends them to the workers in batches (``scheduling.fire_batch``).
Arming therefore writes no row of its own: no ``ClockedSchedule`` or
``PeriodicTask`` per fire, and no beat table re-read per fire. The cursor and
the unique fire record decide what runs, so a stale or duplicated beat message
(two beats, a resend) is harmless.

Schedules armed by earlier versions (one one-off clocked ``PeriodicTask`` per
instant) are unlinked and disabled the next time they are armed, and deleted
by the watchdog's garbage collection.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, PeriodicTask, PeriodicTasks

if TYPE_CHECKING:
    from scheduling.models import Schedule

# Beat entries of earlier versions were named so (and an armed schedule is shown so).
NAME_PREFIX = "webauto-schedule "
FIRE_TASK = "scheduling.fire"
FIRE_BATCH_TASK = "scheduling.fire_batch"
# Legacy entries are deleted this long after they were disabled; beat writes back
# its in-memory counters at least every 5 minutes, so by then it is done with them.
GC_AFTER = timedelta(minutes=10)
# Broker priorities on the Redis transport (0 is served first). Fires come
# right after the top, before any ordinary node work; the first nodes of the
# runs they start go at the top, before later fires. Work that was admitted
# is bounded by the capacity it was admitted to, fires are not: under a
# backlog of fires, runs that started keep running (and free their capacity)
# instead of waiting behind fires that start nothing but more queued runs.
FIRE_PRIORITY = 1
FIRST_NODE_PRIORITY = 0


def _disable_legacy_entry(schedule: Schedule, now: datetime) -> None:
    """Unlink and disable the schedule's beat entry of an earlier version."""
    if schedule.periodic_task_id is None:
        return
    PeriodicTask.objects.filter(pk=schedule.periodic_task_id).update(enabled=False, date_changed=now)
    schedule.periodic_task = None
    transaction.on_commit(PeriodicTasks.update_changed)


def arm(schedule: Schedule, at: datetime | None) -> None:
    """Make beat fire ``schedule`` at ``at`` (None: never) by moving its
    cursor. Saves the schedule; writes no other row."""
    now = timezone.now()
    fields = ["next_fire_at", "armed_at", "updated_at"]
    if schedule.periodic_task_id is not None:
        _disable_legacy_entry(schedule, now)
        fields.append("periodic_task")
    schedule.armed_at = now if at is not None else None
    schedule.next_fire_at = at
    schedule.save(update_fields=fields)


def is_armed(schedule: Schedule) -> bool:
    """True when beat will fire ``schedule`` at ``schedule.next_fire_at``."""
    return (
        schedule.is_clock
        and schedule.enabled
        and schedule.finished_at is None
        and schedule.next_fire_at is not None
    )


def entry_name(schedule: Schedule) -> str | None:
    """What beat sends for the armed schedule, as its log names it
    (``webauto-schedule <id> @ <instant>``); None when not armed."""
    if not is_armed(schedule):
        return None
    assert schedule.next_fire_at is not None
    return f"{NAME_PREFIX}{schedule.pk} @ {schedule.next_fire_at.isoformat()}"


def release(schedule: Schedule) -> None:
    """Disarm the schedule before it goes away (and disable a legacy beat entry)."""
    now = timezone.now()
    if schedule.periodic_task_id is not None:
        PeriodicTask.objects.filter(pk=schedule.periodic_task_id).update(enabled=False, date_changed=now)
        transaction.on_commit(PeriodicTasks.update_changed)


def collect_garbage(now: datetime | None = None) -> int:
    """Delete beat entries of earlier versions that beat no longer needs."""
    now = now or timezone.now()
    ours = PeriodicTask.objects.filter(name__startswith=NAME_PREFIX, webauto_schedule__isnull=True)
    # An enabled entry nobody links to was orphaned by a crash between steps.
    ours.filter(enabled=True, date_changed__lt=now - GC_AFTER).update(enabled=False, date_changed=now)
    stale = ours.filter(enabled=False, date_changed__lt=now - GC_AFTER)
    clocked_ids = list(stale.values_list("clocked_id", flat=True)[:5000])
    # Deleting the clocked rows cascades to their periodic tasks.
    deleted, _ = ClockedSchedule.objects.filter(pk__in=clocked_ids).delete()
    return deleted
