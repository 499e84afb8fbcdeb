from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from orchestration.scheduling import timing


def local(instants, tz):
    return [i.astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M%z") for i in instants]


def take(expr, tz, after, n):
    return list(itertools.islice(timing.cron_instants(expr, tz, after), n))


@pytest.mark.parametrize(
    ("tz", "after", "expected"),
    [
        # New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT.
        ("America/New_York", datetime(2026, 3, 7, 12, tzinfo=UTC), ["03-08 03:00-0400", "03-09 02:30-0400", "03-10 02:30-0400"]),
        # Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST.
        ("Europe/Berlin", datetime(2026, 3, 28, 12, tzinfo=UTC),
         ["03-29 03:00+0200", "03-30 02:30+0200", "03-31 02:30+0200"]),
    ],
)
def test_a_nonexistent_local_time_fires_once_at_the_first_instant_after_the_gap(tz, after, expected):
    assert local(take("30 2 * * *", tz, after, 3), tz) == expected


def test_several_times_inside_the_gap_collapse_into_one_fire():
    instants = take("0,15,30,45 2 * * *", "America/New_York", datetime(2026, 3, 8, 5, tzinfo=UTC), 2)
    assert local(instants, "America/New_York") == ["03-08 03:00-0400", "03-09 02:00-0400"]


@pytest.mark.parametrize(
    ("tz", "expr", "after", "expected"),
    [
        # New York, 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice.
        ("America/New_York", "30 1 * * *", datetime(2026, 10, 31, 12, tzinfo=UTC),
         ["11-01 01:30-0400", "11-02 01:30-0500"]),
        # Berlin, 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
        ("Europe/Berlin", "30 2 * * *", datetime(2026, 10, 24, 12, tzinfo=UTC),
         ["10-25 02:30+0200", "10-26 02:30+0100"]),
    ],
)
def test_a_repeated_local_time_fires_once_at_its_first_occurrence(tz, expr, after, expected):
    assert local(take(expr, tz, after, 2), tz) == expected


def test_an_hourly_schedule_across_fall_back_fires_each_wall_time_once():
    instants = take("0 * * * *", "Europe/Berlin", datetime(2026, 10, 24, 22, 30, tzinfo=UTC), 4)
    # 01:00+02, 02:00+02, (02:00+01 repeated: skipped), 03:00+01, 04:00+01
    assert local(instants, "Europe/Berlin") == ["10-25 01:00+0200", "10-25 02:00+0200", "10-25 03:00+0100", "10-25 04:00+0100"]
    assert instants[2] - instants[1] == timedelta(hours=2)


def test_a_timezone_without_dst_keeps_its_offset():
    instants = take("0 */2 * * *", "Asia/Shanghai", datetime(2026, 3, 28, 12, tzinfo=UTC), 3)
    assert [i.isoformat() for i in instants] == [
        "2026-03-28T14:00:00+00:00", "2026-03-28T16:00:00+00:00", "2026-03-28T18:00:00+00:00",
    ]


def test_cron_instants_are_strictly_after_the_given_instant():
    after = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    assert timing.cron_next("0 * * * *", "UTC", after) == datetime(2026, 1, 1, 11, 0, tzinfo=UTC)


def test_interval_slots_stay_on_the_anchor_grid():
    anchor = datetime(2026, 1, 1, tzinfo=UTC)
    assert timing.interval_next(anchor, 60_000, anchor) == anchor + timedelta(minutes=1)
    assert timing.interval_next(anchor, 60_000, anchor + timedelta(seconds=59.9)) == anchor + timedelta(minutes=1)
    assert timing.interval_next(anchor, 60_000, anchor - timedelta(hours=1)) == anchor


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("0 0 * * * *", "must have 5 fields"),
        ("61 * * * *", "not a valid cron expression"),
        ("", "must be a cron expression"),
    ],
)
def test_bad_cron_expressions_are_explained(expr, message):
    assert message in timing.cron_error(expr)


def test_macros_are_accepted_and_described():
    assert timing.cron_error("@hourly") is None
    assert timing.describe_cron("0 */2 * * *") == "Every 2 hours"
    assert timing.timezone_error("Mars/Olympus") == "unknown timezone 'Mars/Olympus'"
