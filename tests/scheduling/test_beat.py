from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_celery_beat.models import PeriodicTasks

from scheduling import services
from scheduling.beat import DatabaseScheduler
from webauto.celery import app

pytestmark = pytest.mark.django_db


def loading_queries(scheduler: DatabaseScheduler) -> int:
    with CaptureQueriesContext(connection) as queries:
        scheduler.all_as_schedule()
    return len(queries.captured_queries)


def test_entries_load_without_a_query_per_entry(make_task):
    scheduler = DatabaseScheduler(app=app, lazy=True)
    services.schedule_create(task=make_task("one"), block={"type": "interval", "interval": 1, "unit": "m"})
    few = loading_queries(scheduler)
    for n in range(5):
        services.schedule_create(task=make_task(f"more-{n}"), block={"type": "interval", "interval": 1, "unit": "m"})
    assert loading_queries(scheduler) == few
    assert sum(1 for name in scheduler.all_as_schedule() if name.startswith("webauto-schedule ")) == 6


@pytest.mark.django_db(transaction=True)  # beat closes connections it finds inside a transaction
def test_table_rereads_are_spaced_but_no_change_is_lost(settings):
    scheduler = DatabaseScheduler(app=app, lazy=True)
    settings.WEBAUTO_BEAT_MIN_RELOAD_SECONDS = 3600
    PeriodicTasks.update_changed()
    scheduler.schedule_changed()
    PeriodicTasks.update_changed()
    assert scheduler.schedule_changed() is False  # too soon: not looked at
    settings.WEBAUTO_BEAT_MIN_RELOAD_SECONDS = 0
    assert scheduler.schedule_changed() is True  # the change made meanwhile is seen
    assert scheduler.schedule_changed() is False
