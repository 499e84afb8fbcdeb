"""Fire history outlives its schedule and task, and so do the schedule-lag
metrics read from it (issue 13, point 6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitoring.selectors import metrics_series, metrics_summary
from orchestration import services as core
from orchestration.models import Execution, ExecutionStatus
from scheduling import services
from scheduling.models import Fire, Schedule
from tests.scheduling.conftest import finish

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
LAGS = [4, 1, 9, 2, 7, 3]


def fire_late(clock, schedule):
    """Deliver beat's message a few seconds after each armed instant, so
    every fire has a lag (LAGS, seconds)."""
    for lag in LAGS:
        schedule.refresh_from_db()
        clock.at(schedule.next_fire_at + timedelta(seconds=lag))
        services.schedule_fire_due(schedule_id=schedule.pk)
    for execution in Execution.objects.filter(task=schedule.task):
        finish(execution, ExecutionStatus.COMPLETED)
    return START + timedelta(hours=2)


def lag_figures(now, task_id=None):
    summary = metrics_summary(range_key="24h", now=now, task_id=task_id)
    series = metrics_series(range_key="24h", now=now, task_id=task_id)
    return summary["scheduleLag"], series["scheduleLag"]


@pytest.fixture
def late_schedule(make_task, clock):
    clock.at(START)
    task = make_task("history-task")
    schedule = services.schedule_create(task=task, block={"type": "cron", "expression": "*/5 * * * *",
                                                          "concurrent": True, "name": "five-minutely"})
    return schedule, fire_late(clock, schedule)


def test_fires_keep_the_identity_of_their_schedule_and_task(late_schedule):
    schedule, _ = late_schedule
    fires = list(Fire.objects.filter(schedule=schedule))
    assert len(fires) == len(LAGS)
    assert sorted(f.lag_ms for f in fires) == sorted(lag * 1000.0 for lag in LAGS)
    assert {(f.schedule_key, f.schedule_name, f.task_key, f.task_name) for f in fires} == {
        (schedule.pk, "five-minutely", "history-task", "history-task")
    }


def test_deleting_the_schedule_keeps_its_history_and_every_metric(late_schedule):
    schedule, now = late_schedule
    before = {
        "summary": metrics_summary(range_key="24h", now=now),
        "series": metrics_series(range_key="24h", now=now),
        "task": lag_figures(now, "history-task"),
    }
    assert before["summary"]["scheduleLag"] == {"count": 6, "avg": 4.333, "p95": 8.5, "max": 9.0}

    services.schedule_delete(schedule=schedule)

    assert not Schedule.objects.filter(pk=schedule.pk).exists()
    kept = Fire.objects.filter(schedule_key=schedule.pk)
    assert kept.count() == len(LAGS) and not kept.filter(schedule__isnull=False).exists()
    assert metrics_summary(range_key="24h", now=now) == before["summary"]
    assert metrics_series(range_key="24h", now=now) == before["series"]
    assert lag_figures(now, "history-task") == before["task"]


def test_deleting_the_task_keeps_the_schedule_lag_figures(late_schedule):
    schedule, now = late_schedule
    overall, by_task = lag_figures(now), lag_figures(now, "history-task")
    assert overall[0]["count"] == 6

    core.task_delete(task=schedule.task)

    assert Fire.objects.filter(task_key="history-task").count() == len(LAGS)
    assert lag_figures(now) == overall
    assert lag_figures(now, "history-task") == by_task
