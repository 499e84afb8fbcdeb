"""Arming cron and interval schedules in django-celery-beat.

Beat is used as an alarm clock only. Each schedule's next instant (computed by
``timing``) is armed as a fresh one-off *clocked* ``PeriodicTask`` whose
message carries the schedule id; ``DatabaseScheduler`` fires it at that
instant, and the fire task re-arms the next one. The schedule's own cursor
(``Schedule.next_fire_at``) and the unique fire record decide what runs, so a
stale or duplicated beat message is harmless.

Why a fresh row per arming rather than re-using one: beat keeps each entry's
``total_run_count`` in memory and writes it back later, then disables any
one-off entry it finds with a count above zero. Re-enabling the same row
would race with that write-back and lose the arming. A new row per instant
never races; the fired rows are disabled here at once and deleted by the
watchdog after beat has long since written them back.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, PeriodicTask, PeriodicTasks

if TYPE_CHECKING:
    from scheduling.models import Schedule

NAME_PREFIX = "webauto-schedule "
FIRE_TASK = "scheduling.fire"
# Fired rows are deleted this long after they were disabled; beat writes back
# its in-memory counters at least every 5 minutes, so by then it is done with them.
GC_AFTER = timedelta(minutes=10)
# Highest priority on the Redis transport (0 is served first), so that fires are
# never stuck behind node work.
FIRE_PRIORITY = 0


def _notify_beat() -> None:
    transaction.on_commit(PeriodicTasks.update_changed)


def arm(schedule: Schedule, at: datetime | None) -> None:
    """Make beat fire ``schedule`` at ``at`` (None: never). Saves the schedule."""
    previous = schedule.periodic_task_id
    now = timezone.now()
    if at is None:
        # The link stays (the admin shows the disabled entry); only a new arming replaces it.
        schedule.armed_at = None
    else:
        # bulk_create: no per-row change signals; one update_changed() at commit.
        clocked = ClockedSchedule.objects.bulk_create([ClockedSchedule(clocked_time=at)])[0]
        task = PeriodicTask(
            name=f"{NAME_PREFIX}{schedule.pk} @ {at.isoformat()} {uuid.uuid4().hex[:8]}",
            task=FIRE_TASK,
            clocked=clocked,
            one_off=True,
            enabled=True,
            kwargs=json.dumps({"schedule_id": schedule.pk, "scheduled_for": at.isoformat()}),
            priority=FIRE_PRIORITY,
            description=f"Managed by WebAuto scheduling (schedule #{schedule.pk}); edit the schedule, not this entry.",
        )
        PeriodicTask.objects.bulk_create([task])
        schedule.periodic_task = task
        schedule.armed_at = now
    schedule.next_fire_at = at
    schedule.save(update_fields=["periodic_task", "armed_at", "next_fire_at", "updated_at"])
    if previous is not None:
        PeriodicTask.objects.filter(pk=previous).update(enabled=False, date_changed=now)
    _notify_beat()


def release(schedule: Schedule) -> None:
    """Disable and unlink the schedule's beat entry (before the schedule goes away)."""
    if schedule.periodic_task_id is not None:
        PeriodicTask.objects.filter(pk=schedule.periodic_task_id).update(
            enabled=False, date_changed=timezone.now()
        )
        _notify_beat()


def collect_garbage(now: datetime | None = None) -> int:
    """Delete fired/abandoned entries of ours that beat no longer needs."""
    now = now or timezone.now()
    ours = PeriodicTask.objects.filter(name__startswith=NAME_PREFIX, webauto_schedule__isnull=True)
    # An enabled entry nobody links to was orphaned by a crash between steps.
    ours.filter(enabled=True, date_changed__lt=now - GC_AFTER).update(enabled=False, date_changed=now)
    stale = ours.filter(enabled=False, date_changed__lt=now - GC_AFTER)
    clocked_ids = list(stale.values_list("clocked_id", flat=True)[:5000])
    # Deleting the clocked rows cascades to their periodic tasks.
    deleted, _ = ClockedSchedule.objects.filter(pk__in=clocked_ids).delete()
    return deleted
