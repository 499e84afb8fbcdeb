"""Real beat + real worker: interval fires are recorded once each with their
lag, and restarting beat (or running two by mistake) neither doubles nor
loses a fire."""

from __future__ import annotations

import signal
import time
from datetime import timedelta

import pytest

from orchestration.models import Execution
from scheduling import services
from scheduling.models import Fire
from tests.conftest import wait_for
from tests.scheduling.conftest import assert_contiguous_once, logs

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def started_fires(schedule):
    return list(Fire.objects.filter(schedule=schedule).order_by("scheduled_at"))


def test_real_beat_fires_interval_schedules_once_each_across_restarts_and_double_beats(celery_worker, make_task, beats):
    task = make_task("beat-driven")
    schedule = services.schedule_create(task=task, block={"type": "interval", "interval": 1, "unit": "s", "concurrent": True})
    step = timedelta(seconds=1)

    first = beats("beat-1")
    try:
        wait_for(lambda: len(started_fires(schedule)) >= 4, timeout=30)
    except AssertionError:
        raise AssertionError(logs(first.log, celery_worker.log_file)) from None
    # A crash: beat's in-memory run counters are lost, the armed entry is in the past on restart.
    first.stop(signal.SIGKILL)
    time.sleep(2.5)
    beats("beat-2")
    wait_for(lambda: len(started_fires(schedule)) >= 10, timeout=60)
    # A second beat started by mistake: both deliver every entry.
    beats("beat-3")
    before = len(started_fires(schedule))
    wait_for(lambda: len(started_fires(schedule)) >= before + 5, timeout=60)
    services.schedule_pause(schedule=schedule)
    time.sleep(1.5)  # anything in flight lands

    fires = started_fires(schedule)
    assert_contiguous_once(fires, step)
    assert {f.outcome for f in fires} == {"started"}
    assert all(f.lag_ms is not None and f.lag_ms >= 0 for f in fires)
    # Fires that fell due while beat was down were caught up within grace, one run each.
    assert Execution.objects.filter(task=task, trigger="schedule").count() == len(fires)
    assert sorted(f.execution_id for f in fires) == sorted(
        Execution.objects.filter(task=task).values_list("pk", flat=True)
    )
