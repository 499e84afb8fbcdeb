"""Where a cron or interval schedule fires next, and keeping its beat entry
armed for that instant (or finishing the schedule when there is none)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.utils import timezone

from orchestration import events
from scheduling import arming, timing
from scheduling.models import FireOutcome, Schedule, ScheduleKind


def next_instant(schedule: Schedule, after: datetime) -> datetime | None:
    """The schedule's first fire instant strictly after ``after`` inside its
    window (None: it never fires again, including a cron expression with no
    further date)."""
    if schedule.start_at and after < schedule.start_at:
        # Starting exactly at startDate counts as inside the window.
        after = schedule.start_at - timedelta(microseconds=1)
    instant: datetime | None
    if schedule.kind == ScheduleKind.CRON:
        instant = timing.cron_next(schedule.expression, schedule.timezone, after)
    elif schedule.kind == ScheduleKind.INTERVAL:
        anchor = schedule.anchor_at or schedule.start_at or timezone.now()
        instant = timing.interval_next(anchor, int(schedule.interval_ms or 0), after)
    else:
        return None
    if instant is None or (schedule.end_at and instant > schedule.end_at):
        return None
    return instant


def instants(schedule: Schedule, first: datetime) -> Iterator[datetime]:
    current: datetime | None = first
    while current is not None:
        yield current
        current = next_instant(schedule, current)


def next_fire_times(
    schedule: Schedule, count: int, after: datetime | None = None
) -> list[datetime]:
    """The next ``count`` fire instants (a preview; does not touch the cursor)."""
    out: list[datetime] = []
    current = after or timezone.now()
    while len(out) < count:
        nxt = next_instant(schedule, current)
        if nxt is None:
            break
        out.append(nxt)
        current = nxt
    return out


def preview_cron(
    *, expression: str, tz_name: str, count: int, after: datetime | None = None
) -> list[datetime]:
    """The next ``count`` fire instants of a cron expression in ``tz_name`` (no schedule needed)."""
    upcoming = timing.cron_instants(expression, tz_name, after or timezone.now())
    return list(itertools.islice(upcoming, count))


def activate(schedule: Schedule, now: datetime) -> None:
    """Arm a clock schedule from ``now`` (or disarm a schedule that cannot fire)."""
    if not schedule.is_clock or not schedule.enabled or schedule.finished_at:
        arming.arm(schedule, None)
        return
    nxt = next_instant(schedule, now)
    if nxt is None:
        reached_end = schedule.end_at is not None and (
            schedule.kind != ScheduleKind.CRON
            or timing.cron_next(schedule.expression, schedule.timezone, now) is not None
        )
        finish(schedule, "endDate reached" if reached_end else "no further fire time", now)
        return
    arming.arm(schedule, nxt)


def finish(schedule: Schedule, reason: str, now: datetime) -> None:
    schedule.finished_at = now
    schedule.finished_reason = reason
    schedule.save(update_fields=["finished_at", "finished_reason", "updated_at"])
    arming.arm(schedule, None)
    events.emit(
        "schedule.finished", task=schedule.task, data={"scheduleId": schedule.pk, "reason": reason}
    )


def started_count(schedule: Schedule) -> int:
    """Runs the schedule started: counted from its own fire records (for maxRuns)."""
    return schedule.fires.filter(outcome=FireOutcome.STARTED).count()


def can_run_again(schedule: Schedule, now: datetime) -> bool:
    if schedule.max_runs is not None and started_count(schedule) >= schedule.max_runs:
        return False
    return not (schedule.end_at and schedule.end_at <= now)
