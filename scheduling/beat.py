"""django-celery-beat's DatabaseScheduler with two changes for many armed
schedules. Same tables, same entries, same behaviour otherwise; this is the
stock scheduler, not a second beat.

- Entries load in one query: the stock scheduler fetches each entry's
  schedule row with a query of its own (N+1) on every re-read of the table.
- Re-reads are spaced at least ``WEBAUTO_BEAT_MIN_RELOAD_SECONDS`` apart. Every
  fire re-arms its schedule, which marks the table changed; the stock
  scheduler then re-reads the whole table between any two sends, so a burst of
  N due entries costs N re-reads and the last one goes out late. Spacing the
  re-reads lets a burst go out at once; changes are never lost, only picked
  up at the next re-read.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler as StockDatabaseScheduler


class DatabaseScheduler(StockDatabaseScheduler):
    _last_change_check: float | None = None

    def enabled_models_qs(self) -> Any:
        return super().enabled_models_qs().select_related("clocked", "interval", "crontab", "solar")

    def schedule_changed(self) -> bool:
        now = time.monotonic()
        spacing = getattr(settings, "WEBAUTO_BEAT_MIN_RELOAD_SECONDS", 0.0)
        if self._last_change_check is not None and now - self._last_change_check < spacing:
            return False
        self._last_change_check = now
        return bool(super().schedule_changed())
