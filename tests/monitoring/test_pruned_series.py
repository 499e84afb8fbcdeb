"""Past retention a day's runs are known only as the day's rollup: the 7d
and 30d ranges start at midnight UTC (so none starts inside such a day), and
the series puts a pruned day's runs in the first bucket of that day, listed
in ``prunedDays``, so the chart adds up to the summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from monitoring.retention import history_prune
from monitoring.selectors import metrics_series, metrics_summary
from tests.monitoring.test_rollups import finish


@pytest.mark.django_db
@pytest.mark.parametrize(("range_key", "since"), [("7d", "2026-11-20T00:00:00+00:00"), ("30d", "2026-10-28T00:00:00+00:00")])
def test_the_long_ranges_start_at_midnight_utc(range_key, since):
    now = datetime(2026, 11, 27, 15, 40, tzinfo=UTC)
    assert metrics_summary(range_key=range_key, now=now)["since"] == since
    assert metrics_series(range_key=range_key, now=now)["buckets"][0] == since
    # The short ranges keep their exact span.
    assert metrics_summary(range_key="24h", now=now)["since"] == "2026-11-26T15:40:00+00:00"


@pytest.mark.django_db
def test_a_pruned_days_runs_stand_in_its_first_bucket(make_task, settings):
    settings.WEBAUTO_RETENTION_DAYS = 3
    task = make_task("pruned-series")
    now = timezone.now().astimezone(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    day = (now - timedelta(days=5)).replace(hour=0)
    finish(task, "completed", created=day + timedelta(hours=14), wait=1, duration=2)
    finish(task, "failed", created=day + timedelta(hours=20), wait=1, duration=2)
    finish(task, "completed", created=now - timedelta(hours=2), wait=1, duration=2)
    before = metrics_series(range_key="7d", now=now)
    assert before["prunedDays"] == []

    assert history_prune()["executions"] == 2

    after = metrics_series(range_key="7d", now=now)
    first = after["buckets"].index(day.isoformat())
    assert after["prunedDays"] == [day.isoformat()]
    assert (after["executions"]["completed"][first], after["executions"]["failed"][first]) == (1, 1)
    # The runs still in the rows stay in their own bucket, counted once.
    assert sum(after["executions"]["completed"]) == 2
    summary = metrics_summary(range_key="7d", now=now)["executions"]["byStatus"]
    assert (summary["completed"], summary["failed"]) == (2, 1)
