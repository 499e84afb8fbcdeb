"""django-celery-beat's DatabaseScheduler, plus the alarm clock of cron and
interval schedules. Same tables and entries for everything else; this is the
stock scheduler, not a second beat.

- **Schedules are read from their cursors.** On every tick, one indexed query
  (``Schedule`` by ``enabled, next_fire_at``) finds the clock schedules whose
  next instant has come, and beat sends them to the workers in batches of
  ``WEBAUTO_BEAT_FIRE_BATCH`` (``scheduling.fire_batch``, at
  ``arming.FIRE_PRIORITY``). A schedule needs no beat entry of its own and a fire
  writes no beat row, so beat keeps hundreds of schedules a second on time;
  the tick sleeps until the next instant (at most beat's max loop interval).
  A due schedule is sent once per instant; if its cursor has not moved
  ``WEBAUTO_BEAT_FIRE_RESEND_SECONDS`` later (the message was lost, say), it
  is sent again. Resends and a second beat are harmless: the worker fires
  from the cursor under the schedule's row lock.
- Entries load in one query: the stock scheduler fetches each entry's
  schedule row with a query of its own (N+1) on every re-read of the table.
- Re-reads are spaced at least ``WEBAUTO_BEAT_MIN_RELOAD_SECONDS`` apart;
  changes are never lost, only picked up at the next re-read.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django.utils import timezone
from django_celery_beat.schedulers import DatabaseScheduler as StockDatabaseScheduler

log = logging.getLogger("celery.beat")


def due_cursors(now: datetime, lookahead: timedelta) -> list[tuple[int, datetime]]:
    """``(schedule id, next instant)`` of the active clock schedules whose next
    instant is before ``now + lookahead``, earliest first."""
    from scheduling.models import Schedule, ScheduleKind

    rows = (
        Schedule.objects.filter(
            enabled=True,
            next_fire_at__lte=now + lookahead,
            finished_at__isnull=True,
            kind__in=[ScheduleKind.CRON, ScheduleKind.INTERVAL],
        )
        .order_by("next_fire_at", "pk")
        .values_list("pk", "next_fire_at")
    )
    return [(pk, instant) for pk, instant in rows if instant is not None]


def batches(items: list[int], size: int) -> list[list[int]]:
    """``items`` in consecutive chunks of at most ``size`` (at least 1)."""
    size = max(1, size)
    return [items[i : i + size] for i in range(0, len(items), size)]


class DatabaseScheduler(StockDatabaseScheduler):
    _last_change_check: float | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # schedule id -> (instant sent, monotonic time sent)
        self._fires_sent: dict[int, tuple[datetime, float]] = {}
        self._cursor_check_at = 0.0
        super().__init__(*args, **kwargs)

    def enabled_models_qs(self) -> Any:
        return super().enabled_models_qs().select_related("clocked", "interval", "crontab", "solar")

    def schedule_changed(self) -> bool:
        now = time.monotonic()
        spacing = getattr(settings, "WEBAUTO_BEAT_MIN_RELOAD_SECONDS", 0.0)
        if self._last_change_check is not None and now - self._last_change_check < spacing:
            return False
        self._last_change_check = now
        return bool(super().schedule_changed())

    def tick(self, *args: Any, **kwargs: Any) -> float:
        wait = super().tick(*args, **kwargs)
        return min(wait, self.fire_due_schedules())

    def fire_due_schedules(self) -> float:
        """Send the schedules that are due now; returns the seconds until the
        next look (the next instant, at most the max loop interval)."""
        clock = time.monotonic()
        if clock < self._cursor_check_at:
            return self._cursor_check_at - clock
        longest = float(self.max_interval)
        now = timezone.now()
        try:
            cursors = due_cursors(now, timedelta(seconds=longest))
        except DatabaseError as exc:
            log.warning("beat could not read the schedules' cursors (%s); retrying", exc)
            close_old_connections()
            self._cursor_check_at = clock + longest
            return longest
        resend = float(getattr(settings, "WEBAUTO_BEAT_FIRE_RESEND_SECONDS", 10.0))
        due: list[tuple[int, datetime]] = []
        wait = longest
        for pk, instant in cursors:
            if instant > now:
                wait = min(wait, (instant - now).total_seconds())
                continue
            sent = self._fires_sent.get(pk)
            if sent is not None and sent[0] == instant and clock - sent[1] < resend:
                continue  # sent for this instant already; the worker has it
            due.append((pk, instant))
        if due:
            self._send_fires(due, clock)
        # Forget schedules that are no longer due (their cursor moved on).
        still_due = {pk for pk, instant in cursors if instant <= now}
        for pk in [pk for pk in self._fires_sent if pk not in still_due]:
            del self._fires_sent[pk]
        wait = max(0.0, wait)
        self._cursor_check_at = clock + wait
        return wait

    def _send_fires(self, due: list[tuple[int, datetime]], clock: float) -> None:
        from scheduling.arming import FIRE_BATCH_TASK, FIRE_PRIORITY

        instants = dict(due)
        size = int(getattr(settings, "WEBAUTO_BEAT_FIRE_BATCH", 10))
        for chunk in batches([pk for pk, _ in due], size):
            try:
                self.app.send_task(
                    FIRE_BATCH_TASK, kwargs={"schedule_ids": chunk}, priority=FIRE_PRIORITY,
                    producer=self.producer,
                )
            except Exception as exc:  # kombu raises several types for an unreachable broker
                log.warning("beat could not send %d fires (%s); the next tick tries again", len(chunk), exc)
                return
            for pk in chunk:
                self._fires_sent[pk] = (instants[pk], clock)
            log.info(
                "Scheduler: Sending due schedules %s",
                " ".join(f"{pk}@{instants[pk].isoformat()}" for pk in chunk),
            )
