"""Time-controlled tests of firing: beat's delivery is simulated by calling the
fire service at the armed instant (the integration test runs the real beat)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django_celery_beat.models import ClockedSchedule, PeriodicTask

from orchestration.models import Event, Execution, ExecutionStatus
from scheduling import arming, beat, services
from scheduling.models import Fire, Schedule
from tests.scheduling.conftest import finish

pytestmark = pytest.mark.django_db


def cron_schedule(make_task, expression, tz, **extra):
    task = make_task()
    return services.schedule_create(
        task=task, block={"type": "cron", "expression": expression, "timezone": tz, "concurrent": True, **extra}
    )


def run_beat_until(clock, schedule, until, deliveries=1):
    """Deliver beat's message at every armed instant up to ``until`` (``deliveries`` times each)."""
    schedule.refresh_from_db()
    while schedule.next_fire_at is not None and schedule.next_fire_at <= until:
        clock.at(schedule.next_fire_at)
        for _ in range(deliveries):
            services.schedule_fire_due(schedule_id=schedule.pk)
        schedule.refresh_from_db()


def started_local(schedule, tz):
    fires = Fire.objects.filter(schedule=schedule, outcome="started").order_by("scheduled_at")
    return [f.scheduled_at.astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M%z") for f in fires]


@pytest.mark.parametrize(
    ("tz", "start", "expected"),
    [
        ("America/New_York", datetime(2026, 3, 7, 12, tzinfo=UTC),
         ["03-08 03:00-0400", "03-09 02:30-0400"]),
        ("Europe/Berlin", datetime(2026, 3, 28, 12, tzinfo=UTC),
         ["03-29 03:00+0200", "03-30 02:30+0200"]),
    ],
)
def test_spring_forward_runs_a_nonexistent_time_once_at_the_next_valid_instant(make_task, clock, tz, start, expected):
    clock.at(start)
    schedule = cron_schedule(make_task, "30 2 * * *", tz)
    run_beat_until(clock, schedule, start + timedelta(days=2), deliveries=2)
    assert started_local(schedule, tz) == expected
    assert Execution.objects.filter(task=schedule.task).count() == 2


@pytest.mark.parametrize(
    ("tz", "expr", "start", "expected"),
    [
        ("America/New_York", "30 1 * * *", datetime(2026, 10, 31, 12, tzinfo=UTC),
         ["11-01 01:30-0400", "11-02 01:30-0500"]),
        ("Europe/Berlin", "30 2 * * *", datetime(2026, 10, 24, 12, tzinfo=UTC),
         ["10-25 02:30+0200", "10-26 02:30+0100"]),
    ],
)
def test_fall_back_runs_a_repeated_time_once(make_task, clock, tz, expr, start, expected):
    clock.at(start)
    schedule = cron_schedule(make_task, expr, tz)
    run_beat_until(clock, schedule, start + timedelta(days=2), deliveries=2)
    assert started_local(schedule, tz) == expected


@pytest.mark.parametrize(
    ("tz", "start"),
    [
        ("Europe/London", datetime(2027, 10, 30, 23, 30, tzinfo=UTC)),  # 02:00 BST -> 01:00 GMT on 10-31
        ("America/New_York", datetime(2027, 11, 7, 4, 30, tzinfo=UTC)),  # 02:00 EDT -> 01:00 EST on 11-07
    ],
)
def test_a_frequent_schedule_runs_every_15_minutes_through_the_repeated_hour(make_task, clock, tz, start):
    clock.at(start)
    schedule = cron_schedule(make_task, "*/15 * * * *", tz)
    run_beat_until(clock, schedule, start + timedelta(hours=3), deliveries=2)
    fires = list(Fire.objects.filter(schedule=schedule, outcome="started").order_by("scheduled_at").values_list("scheduled_at", flat=True))
    assert len(fires) == 12  # 3 hours of real time, the repeated hour included
    assert {b - a for a, b in zip(fires, fires[1:], strict=False)} == {timedelta(minutes=15)}
    assert Execution.objects.filter(task=schedule.task).count() == 12


def test_every_fire_records_scheduled_time_enqueue_time_and_lag(make_task, clock):
    clock.at(datetime(2026, 5, 1, 9, 59, tzinfo=UTC))
    schedule = cron_schedule(make_task, "0 10 * * *", "UTC")
    clock.at(datetime(2026, 5, 1, 10, 0, 2, tzinfo=UTC))  # beat was 2 s late
    [fire] = services.schedule_fire_due(schedule_id=schedule.pk)
    assert fire.scheduled_at == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert fire.fired_at == datetime(2026, 5, 1, 10, 0, 2, tzinfo=UTC)
    assert fire.lag_ms == pytest.approx(2000)
    assert fire.execution.trigger == "schedule"
    assert Event.objects.filter(type="schedule.fired", data__fireId=fire.pk).exists()


def test_a_message_before_the_instant_or_a_stale_one_fires_nothing(make_task, clock):
    clock.at(datetime(2026, 5, 1, 9, 0, tzinfo=UTC))
    schedule = cron_schedule(make_task, "0 10 * * *", "UTC")
    assert services.schedule_fire_due(schedule_id=schedule.pk) == []
    clock.at(datetime(2026, 5, 1, 10, 0, tzinfo=UTC))
    assert len(services.schedule_fire_due(schedule_id=schedule.pk)) == 1
    assert services.schedule_fire_due(schedule_id=schedule.pk) == []
    assert Fire.objects.filter(schedule=schedule).count() == 1


def test_each_fire_moves_the_cursor_to_the_next_instant_without_beat_rows(make_task, clock):
    clock.at(datetime(2026, 5, 1, 9, 0, tzinfo=UTC))
    schedule = cron_schedule(make_task, "0 10 * * *", "UTC")
    assert arming.is_armed(schedule) and schedule.next_fire_at == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert [pk for pk, _ in beat.due_cursors(datetime(2026, 5, 1, 10, tzinfo=UTC), timedelta(0))] == [schedule.pk]
    assert beat.due_cursors(datetime(2026, 5, 1, 9, 59, tzinfo=UTC), timedelta(0)) == []
    clock.at(datetime(2026, 5, 1, 10, 0, tzinfo=UTC))
    services.schedule_fire_due(schedule_id=schedule.pk)
    schedule.refresh_from_db()
    assert arming.is_armed(schedule) and schedule.next_fire_at == datetime(2026, 5, 2, 10, tzinfo=UTC)
    # Arming and firing write no beat entry: beat reads the cursor itself.
    assert not PeriodicTask.objects.filter(name__startswith=arming.NAME_PREFIX).exists()
    assert not ClockedSchedule.objects.exists()


def test_a_beat_entry_of_an_earlier_version_is_disabled_when_rearmed_and_collected_later(make_task, clock):
    clock.at(datetime(2026, 5, 1, 9, 0, tzinfo=UTC))
    schedule = cron_schedule(make_task, "0 10 * * *", "UTC")
    # How earlier versions armed it: a one-off clocked entry linked to the schedule.
    legacy = PeriodicTask.objects.create(
        name=f"{arming.NAME_PREFIX}{schedule.pk} @ 2026-05-01T10:00:00+00:00 0000",
        task=arming.FIRE_TASK, one_off=True, enabled=True,
        clocked=ClockedSchedule.objects.create(clocked_time=datetime(2026, 5, 1, 10, tzinfo=UTC)),
        kwargs=json.dumps({"schedule_id": schedule.pk}),
    )
    Schedule.objects.filter(pk=schedule.pk).update(periodic_task=legacy)
    clock.at(datetime(2026, 5, 1, 10, 0, tzinfo=UTC))
    services.schedule_fire_due(schedule_id=schedule.pk)
    schedule.refresh_from_db()
    legacy.refresh_from_db()
    assert schedule.periodic_task_id is None and not legacy.enabled
    services.schedules_watchdog()
    assert PeriodicTask.objects.filter(pk=legacy.pk).exists()  # beat may still write it back
    clock.at(datetime(2026, 5, 1, 10, 11, tzinfo=UTC))
    services.schedules_watchdog()
    assert not PeriodicTask.objects.filter(pk=legacy.pk).exists()
    schedule.refresh_from_db()
    assert arming.is_armed(schedule)


# --- start/end dates and maxRuns ------------------------------------------------------------


def test_nothing_fires_before_start_date_and_the_schedule_finishes_after_end_date(make_task, clock):
    clock.at(datetime(2026, 6, 1, 0, 0, tzinfo=UTC))
    task = make_task()
    schedule = services.schedule_create(
        task=task,
        block={"type": "interval", "interval": 1, "unit": "h", "concurrent": True,
               "startDate": "2026-06-01T10:00:00+00:00", "endDate": "2026-06-01T12:30:00+00:00"},
    )
    assert schedule.next_fire_at == datetime(2026, 6, 1, 10, tzinfo=UTC)
    run_beat_until(clock, schedule, datetime(2026, 6, 2, tzinfo=UTC))
    fires = list(Fire.objects.filter(schedule=schedule).order_by("scheduled_at").values_list("scheduled_at", flat=True))
    assert [f.hour for f in fires] == [10, 11, 12]
    schedule.refresh_from_db()
    assert schedule.state == "finished" and schedule.finished_reason == "endDate reached"
    assert not arming.is_armed(schedule)


def test_max_runs_counts_started_fires_and_disables_the_schedule(make_task, clock):
    clock.at(datetime(2026, 6, 1, 0, 0, tzinfo=UTC))
    schedule = services.schedule_create(
        task=make_task(), block={"type": "interval", "interval": 10, "unit": "m", "maxRuns": 2, "concurrent": False}
    )
    clock.at(schedule.next_fire_at)
    [first] = services.schedule_fire_due(schedule_id=schedule.pk)
    schedule.refresh_from_db()
    # Still running at the next instant: a skipped fire is not a run.
    clock.at(schedule.next_fire_at)
    [skipped] = services.schedule_fire_due(schedule_id=schedule.pk)
    assert skipped.outcome == "skipped-overlap"
    finish(first.execution)
    schedule.refresh_from_db()
    clock.at(schedule.next_fire_at)
    [second] = services.schedule_fire_due(schedule_id=schedule.pk)
    assert second.outcome == "started"
    schedule.refresh_from_db()
    assert schedule.state == "finished" and "maxRuns (2)" in schedule.finished_reason
    assert schedule.next_fire_at is None
    assert Event.objects.filter(type="schedule.finished").count() == 1


def test_a_fire_outside_the_window_is_recorded_as_skipped_window(make_task, clock):
    clock.at(datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    schedule = cron_schedule(make_task, "0 10 * * *", "UTC")
    # The window moved after this instant was armed (the message was already on its way).
    Schedule.objects.filter(pk=schedule.pk).update(start_at=datetime(2026, 6, 1, 11, tzinfo=UTC))
    clock.at(datetime(2026, 6, 1, 10, 0, tzinfo=UTC))
    [fire] = services.schedule_fire_due(schedule_id=schedule.pk)
    assert fire.outcome == "skipped-window"
    assert fire.execution is None


# --- overlap ----------------------------------------------------------------------------------


@pytest.mark.parametrize("concurrent", [True, "allow"])
def test_overlap_allow_starts_a_second_run_while_one_is_active(make_task, clock, concurrent):
    clock.at(datetime(2026, 6, 1, 0, 0, tzinfo=UTC))
    schedule = services.schedule_create(task=make_task(), block={"type": "interval", "interval": 1, "unit": "m", "concurrent": concurrent})
    run_beat_until(clock, schedule, datetime(2026, 6, 1, 0, 2, tzinfo=UTC))
    assert list(Fire.objects.filter(schedule=schedule).values_list("outcome", flat=True)) == ["started", "started"]


@pytest.mark.parametrize("concurrent", [False, "forbid"])
def test_overlap_forbid_records_a_skip_while_a_run_is_active(make_task, clock, concurrent):
    clock.at(datetime(2026, 6, 1, 0, 0, tzinfo=UTC))
    schedule = services.schedule_create(task=make_task(), block={"type": "interval", "interval": 1, "unit": "m", "concurrent": concurrent})
    run_beat_until(clock, schedule, datetime(2026, 6, 1, 0, 2, tzinfo=UTC))
    skipped, started = Fire.objects.filter(schedule=schedule)  # newest first
    assert (started.outcome, skipped.outcome) == ("started", "skipped-overlap")
    assert f"#{started.execution_id} is still active" in skipped.detail
    assert Execution.objects.filter(task=schedule.task).count() == 1
    assert Event.objects.filter(type="schedule.skipped", data__outcome="skipped-overlap").count() == 1


def test_overlap_replace_cancels_the_active_run_and_starts_a_new_one(make_task, clock):
    clock.at(datetime(2026, 6, 1, 0, 0, tzinfo=UTC))
    schedule = services.schedule_create(task=make_task(), block={"type": "interval", "interval": 1, "unit": "m", "concurrent": "replace"})
    run_beat_until(clock, schedule, datetime(2026, 6, 1, 0, 2, tzinfo=UTC))
    newer, older = Fire.objects.filter(schedule=schedule)
    assert (older.outcome, newer.outcome) == ("started", "started")
    older.execution.refresh_from_db()
    assert older.execution.status == ExecutionStatus.CANCELLED or older.execution.cancel_requested_at is not None
    assert f"replaced #{older.execution_id}" == newer.detail


# --- misfires -----------------------------------------------------------------------------------


def outage_schedule(make_task, clock, policy, **extra):
    clock.at(datetime(2026, 6, 1, 0, 0, tzinfo=UTC))
    schedule = services.schedule_create(
        task=make_task(),
        block={"type": "interval", "interval": 10, "unit": "m", "concurrent": True, "misfirePolicy": policy,
               "misfireGraceSeconds": 60, **extra},
    )
    # Beat and workers were down from 00:05 to 01:02: slots 00:10 .. 01:00 fell in the outage.
    clock.at(datetime(2026, 6, 1, 1, 2, tzinfo=UTC))
    services.schedule_fire_due(schedule_id=schedule.pk)
    return schedule


def outcomes(schedule):
    return [(f.scheduled_at.strftime("%H:%M"), f.outcome, f.catch_up) for f in Fire.objects.filter(schedule=schedule).order_by("scheduled_at")]


def test_misfire_run_once_runs_one_catch_up_and_records_the_rest_missed(make_task, clock):
    schedule = outage_schedule(make_task, clock, "run-once")
    assert outcomes(schedule) == [
        ("00:10", "missed", False), ("00:20", "missed", False), ("00:30", "missed", False),
        ("00:40", "missed", False), ("00:50", "missed", False), ("01:00", "started", True),
    ]
    event = Event.objects.get(type="schedule.missed")
    assert event.data["count"] == 5
    schedule.refresh_from_db()
    assert schedule.next_fire_at == datetime(2026, 6, 1, 1, 10, tzinfo=UTC)


def test_misfire_skip_runs_nothing_that_is_late(make_task, clock):
    schedule = outage_schedule(make_task, clock, "skip")
    assert {o for _, o, _ in outcomes(schedule)} == {"missed"}
    assert len(outcomes(schedule)) == 6


def test_misfire_run_all_runs_up_to_the_bound(make_task, clock):
    schedule = outage_schedule(make_task, clock, "run-all", misfireMaxRuns=4)
    assert [o for _, o, _ in outcomes(schedule)] == ["missed", "missed", "started", "started", "started", "started"]
    assert Execution.objects.filter(task=schedule.task).count() == 4


def test_a_slightly_late_fire_within_grace_is_an_ordinary_run(make_task, clock):
    clock.at(datetime(2026, 6, 1, 0, 0, tzinfo=UTC))
    schedule = services.schedule_create(
        task=make_task(), block={"type": "interval", "interval": 10, "unit": "m", "misfirePolicy": "skip", "misfireGraceSeconds": 60}
    )
    clock.at(datetime(2026, 6, 1, 0, 10, 45, tzinfo=UTC))
    [fire] = services.schedule_fire_due(schedule_id=schedule.pk)
    assert (fire.outcome, fire.catch_up) == ("started", False)


def test_the_watchdog_fires_a_schedule_whose_beat_entry_never_came(make_task, clock):
    clock.at(datetime(2026, 6, 1, 0, 0, tzinfo=UTC))
    schedule = services.schedule_create(task=make_task(), block={"type": "interval", "interval": 10, "unit": "m"})
    clock.at(datetime(2026, 6, 1, 0, 10, 30, tzinfo=UTC))
    counts = services.schedules_watchdog()
    assert counts["overdue"] == 1
    assert Fire.objects.get(schedule=schedule).outcome == "started"


def test_a_long_outage_records_a_bounded_number_of_missed_fires(make_task, clock):
    clock.at(datetime(2026, 6, 1, 0, 0, tzinfo=UTC))
    schedule = services.schedule_create(
        task=make_task(), block={"type": "interval", "interval": 1, "unit": "s", "misfirePolicy": "skip"}
    )
    clock.at(datetime(2026, 6, 2, 0, 0, 0, 500000, tzinfo=UTC))
    services.schedule_fire_due(schedule_id=schedule.pk)
    fires = Fire.objects.filter(schedule=schedule)
    assert fires.count() == services.MAX_RECORDED_SLOTS
    # 86400 slots fell due; the last 60 are within the 60 s grace, so not misfires:
    # they run under the overlap policy (forbid: one starts, the rest are skipped).
    assert Event.objects.get(type="schedule.missed").data["count"] == 86400 - 60
    assert fires.filter(outcome="started").count() == 1
    assert fires.filter(outcome="skipped-overlap").count() == 59


# --- pause, resume, failures -----------------------------------------------------------------------


def test_pause_disarms_and_resume_rearms_from_now_without_catching_up(make_task, clock):
    clock.at(datetime(2026, 6, 1, 0, 0, tzinfo=UTC))
    schedule = services.schedule_create(task=make_task(), block={"type": "interval", "interval": 10, "unit": "m"})
    services.schedule_pause(schedule=schedule)
    schedule.refresh_from_db()
    assert schedule.state == "paused" and not arming.is_armed(schedule) and schedule.next_fire_at is None
    clock.at(datetime(2026, 6, 1, 1, 5, tzinfo=UTC))
    assert services.schedule_fire_due(schedule_id=schedule.pk) == []
    services.schedule_resume(schedule=schedule)
    schedule.refresh_from_db()
    assert schedule.next_fire_at == datetime(2026, 6, 1, 1, 10, tzinfo=UTC)
    assert arming.is_armed(schedule)
    assert not Fire.objects.filter(schedule=schedule).exists()


def test_it_auto_pauses_after_n_consecutive_failed_runs(make_task, clock):
    clock.at(datetime(2026, 6, 1, 0, 0, tzinfo=UTC))
    schedule = services.schedule_create(
        task=make_task(), block={"type": "interval", "interval": 10, "unit": "m", "pauseAfterFailures": 2}
    )
    for status in (ExecutionStatus.FAILED, ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT):
        schedule.refresh_from_db()
        clock.at(schedule.next_fire_at)
        [fire] = services.schedule_fire_due(schedule_id=schedule.pk)
        finish(fire.execution, status)
        services.schedule_execution_finished(execution_id=fire.execution_id)
        services.schedule_execution_finished(execution_id=fire.execution_id)  # redelivered: counted once
    schedule.refresh_from_db()
    assert schedule.state == "paused"
    assert schedule.consecutive_failures == 2
    assert "auto-paused after 2 consecutive failed runs" in schedule.paused_reason
    event = Event.objects.get(type="schedule.paused")
    assert event.data["auto"] is True
    assert list(Fire.objects.filter(schedule=schedule).values_list("execution_status", flat=True)) == [
        "timed_out", "failed", "completed", "failed",
    ]


def test_a_failed_start_is_recorded_and_counts_as_a_failure(make_task, clock):
    clock.at(datetime(2026, 6, 1, 0, 0, tzinfo=UTC))
    schedule = services.schedule_create(
        task=make_task(), block={"type": "interval", "interval": 10, "unit": "m", "pauseAfterFailures": 1}
    )
    # A definition snapshot the engine cannot build from makes the start fail.
    schedule.task.__class__.objects.filter(pk=schedule.task_id).update(workflows="not a list")
    clock.at(schedule.next_fire_at)
    [fire] = services.schedule_fire_due(schedule_id=schedule.pk)
    assert fire.outcome == "failed-to-start" and fire.detail
    schedule.refresh_from_db()
    assert schedule.state == "paused"
    assert Event.objects.filter(type="schedule.failed_to_start").exists()


def test_old_history_is_pruned_except_where_max_runs_counts_it(make_task, clock):
    clock.at(datetime(2026, 1, 1, 0, 0, tzinfo=UTC))
    plain = services.schedule_create(task=make_task("plain"), block={"type": "manual", "concurrent": True})
    limited = services.schedule_create(task=make_task("limited"), block={"type": "manual", "concurrent": True, "maxRuns": 5})
    services.schedule_trigger(schedule=plain, input={})
    services.schedule_trigger(schedule=limited, input={})
    clock.at(datetime(2026, 4, 15, 0, 0, tzinfo=UTC))
    services.schedule_trigger(schedule=plain, input={})
    assert services.schedules_prune_history(older_than=timedelta(days=90)) == 1
    assert plain.fires.count() == 1 and limited.fires.count() == 1


def test_the_watchdog_finishes_a_stored_schedule_that_never_fires_instead_of_raising(make_task, clock):
    clock.at(datetime(2026, 6, 1, 0, 0, tzinfo=UTC))
    task = make_task()
    # Saved before the never-fires check existed: unarmed, and one armed for a slot long past.
    unarmed = Schedule.objects.create(task=task, kind="cron", expression="0 0 31 2 *", timezone="Europe/London")
    overdue = Schedule.objects.create(
        task=task, kind="cron", expression="0 0 31 2 *", timezone="UTC", overlap="allow",
        next_fire_at=datetime(2026, 5, 31, 23, 0, tzinfo=UTC),
    )
    counts = services.schedules_watchdog()
    assert (counts["overdue"], counts["unarmed"]) == (1, 1)
    for schedule in (unarmed, overdue):
        schedule.refresh_from_db()
        assert (schedule.state, schedule.finished_reason, schedule.next_fire_at) == ("finished", "no further fire time", None)
    assert Event.objects.filter(type="schedule.finished").count() == 2
