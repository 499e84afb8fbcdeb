"""The beat scheduler: one-query loads of its entries, spaced re-reads, and
due schedules read from their cursors and sent in batches (the messages are
read back from the real Redis broker)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

from scheduling import arming, services
from scheduling.beat import DatabaseScheduler, batches
from scheduling.models import Schedule
from webauto.celery import app

pytestmark = pytest.mark.django_db


def loading_queries(scheduler: DatabaseScheduler) -> int:
    with CaptureQueriesContext(connection) as queries:
        scheduler.all_as_schedule()
    return len(queries.captured_queries)


def test_entries_load_without_a_query_per_entry():
    scheduler = DatabaseScheduler(app=app, lazy=True)
    every = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.MINUTES)
    PeriodicTask.objects.create(name="entry-0", task="orchestration.ping", interval=every)
    few = loading_queries(scheduler)
    for n in range(1, 6):
        PeriodicTask.objects.create(
            name=f"entry-{n}", task="orchestration.ping",
            interval=IntervalSchedule.objects.create(every=n + 1, period=IntervalSchedule.MINUTES),
        )
    assert loading_queries(scheduler) == few
    assert sum(1 for name in scheduler.all_as_schedule() if name.startswith("entry-")) == 6


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


def test_batches_keep_order_and_size():
    assert batches([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    assert batches([], 10) == []
    assert batches([7], 0) == [[7]]


def sent_batches() -> list[list[int]]:
    """The ``scheduling.fire_batch`` messages waiting in the broker (consumed)."""
    out: list[list[int]] = []
    with app.connection_for_read() as conn:
        channel = conn.default_channel
        # The Redis transport keeps one list per priority step.
        key = channel._q_for_pri("celery", channel.priority(arming.FIRE_PRIORITY))
        while (raw := channel.client.rpop(key)) is not None:
            message = json.loads(raw)
            if message["headers"]["task"] != arming.FIRE_BATCH_TASK:
                continue
            assert message["properties"]["priority"] == arming.FIRE_PRIORITY
            _, kwargs, _ = json.loads(base64.b64decode(message["body"]))
            out.append(kwargs["schedule_ids"])
    return out


def test_due_cursors_are_sent_in_batches_once_per_instant_and_again_when_they_do_not_move(settings, make_task):
    settings.WEBAUTO_BEAT_FIRE_BATCH = 2
    settings.WEBAUTO_BEAT_FIRE_RESEND_SECONDS = 3600
    sent_batches()  # an empty broker to start with
    due = timezone.now() - timedelta(seconds=1)
    schedules = [
        services.schedule_create(task=make_task(f"due-{n}"), block={"type": "interval", "interval": 1, "unit": "h"})
        for n in range(3)
    ]
    later = services.schedule_create(task=make_task("later"), block={"type": "interval", "interval": 1, "unit": "h"})
    paused = services.schedule_create(task=make_task("paused"), block={"type": "interval", "interval": 1, "unit": "h"})
    Schedule.objects.filter(pk__in=[s.pk for s in schedules] + [paused.pk]).update(next_fire_at=due)
    services.schedule_pause(schedule=paused)
    scheduler = DatabaseScheduler(app=app, lazy=True)

    wait = scheduler.fire_due_schedules()

    ids = sorted(s.pk for s in schedules)
    assert sent_batches() == [ids[:2], ids[2:]]
    assert 0 < wait <= scheduler.max_interval
    assert later.pk not in ids
    # Sent for this instant already: not again while the worker has it.
    scheduler._cursor_check_at = 0
    scheduler.fire_due_schedules()
    assert sent_batches() == []
    # Past the resend bound with the cursor still there (the message was lost): sent again.
    settings.WEBAUTO_BEAT_FIRE_RESEND_SECONDS = 0
    scheduler._cursor_check_at = 0
    scheduler.fire_due_schedules()
    assert sorted(pk for batch in sent_batches() for pk in batch) == ids
    # Fired (the cursor moved on): nothing left to send.
    for pk in ids:
        services.schedule_fire_due(schedule_id=pk)
    scheduler._cursor_check_at = 0
    scheduler.fire_due_schedules()
    assert sent_batches() == []
