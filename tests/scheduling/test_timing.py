from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduling import timing


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


def test_an_hourly_schedule_fires_at_both_occurrences_of_the_repeated_hour():
    instants = take("0 * * * *", "Europe/Berlin", datetime(2026, 10, 24, 22, 30, tzinfo=UTC), 5)
    # The hour field is a wildcard: it fires by elapsed time, once an hour, repeated hour included.
    assert local(instants, "Europe/Berlin") == [
        "10-25 01:00+0200", "10-25 02:00+0200", "10-25 02:00+0100", "10-25 03:00+0100", "10-25 04:00+0100",
    ]
    assert {b - a for a, b in itertools.pairwise(instants)} == {timedelta(hours=1)}


def fires_between(expr, tz, start, end):
    out = []
    for instant in timing.cron_instants(expr, tz, start):
        if instant >= end:
            return out
        out.append(instant)
    return out


# Fall back: London 2027-10-31 02:00 BST -> 01:00 GMT; New York 2027-11-07 02:00 EDT -> 01:00 EST.
# Spring forward: London 2027-03-28 01:00 GMT -> 02:00 BST; New York 2027-03-14 02:00 EST -> 03:00 EDT.
DST_NIGHTS = [
    pytest.param("Europe/London", datetime(2027, 10, 30, 22, tzinfo=UTC), id="London fall-back"),
    pytest.param("America/New_York", datetime(2027, 11, 7, 3, tzinfo=UTC), id="New York fall-back"),
    pytest.param("Europe/London", datetime(2027, 3, 27, 23, tzinfo=UTC), id="London spring-forward"),
    pytest.param("America/New_York", datetime(2027, 3, 14, 4, tzinfo=UTC), id="New York spring-forward"),
]


@pytest.mark.parametrize(("tz", "start"), DST_NIGHTS)
@pytest.mark.parametrize(("expr", "step"), [("*/15 * * * *", timedelta(minutes=15)), ("30 * * * *", timedelta(hours=1)), ("5 */1 * * *", timedelta(hours=1))])
def test_a_frequent_schedule_keeps_firing_by_elapsed_time_across_a_dst_change(tz, start, expr, step):
    instants = fires_between(expr, tz, start - timedelta(seconds=1), start + timedelta(hours=6))
    # Every fire is one step after the one before: no silent repeated hour, no extra fire after the gap.
    assert {b - a for a, b in itertools.pairwise(instants)} == {step}
    assert len(instants) == timedelta(hours=6) // step


@pytest.mark.slow
@pytest.mark.parametrize("tz", ["Europe/London", "America/New_York", "Australia/Lord_Howe", "America/Santiago"])
def test_every_15_minutes_is_every_15_minutes_of_real_time_all_year(tz):
    # Both DST changes of the year; Lord Howe shifts by 30 minutes, Santiago changes at midnight.
    start, end = datetime(2027, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)
    instants = fires_between("*/15 * * * *", tz, start - timedelta(seconds=1), end)
    assert len(instants) == 365 * 24 * 4
    assert {b - a for a, b in itertools.pairwise(instants)} == {timedelta(minutes=15)}


def test_every_15_minutes_in_london_fires_through_the_repeated_hour_of_2027_10_31():
    instants = fires_between("*/15 * * * *", "Europe/London", datetime(2027, 10, 31, 0, 30, tzinfo=UTC), datetime(2027, 10, 31, 2, 1, tzinfo=UTC))
    assert [i.strftime("%H:%MZ") for i in instants] == [
        "00:45Z", "01:00Z", "01:15Z", "01:30Z", "01:45Z", "02:00Z",
    ]
    assert local(instants, "Europe/London")[:3] == ["10-31 01:45+0100", "10-31 01:00+0000", "10-31 01:15+0000"]


@pytest.mark.parametrize(
    ("tz", "expr", "start", "expected"),
    [
        ("Europe/London", "30 1 * * *", datetime(2027, 10, 30, 12, tzinfo=UTC), ["10-31 01:30+0100", "11-01 01:30+0000"]),
        ("America/New_York", "30 1 * * *", datetime(2027, 11, 6, 12, tzinfo=UTC), ["11-07 01:30-0400", "11-08 01:30-0500"]),
        # A minute step under a fixed hour is still fixed-time: the repeated 01:xx fires once.
        ("Europe/London", "*/20 1 * * *", datetime(2027, 10, 30, 12, tzinfo=UTC),
         ["10-31 01:00+0100", "10-31 01:20+0100", "10-31 01:40+0100", "11-01 01:00+0000"]),
    ],
)
def test_a_fixed_time_schedule_still_fires_once_in_the_repeated_hour(tz, expr, start, expected):
    assert local(take(expr, tz, start, len(expected)), tz) == expected


def test_the_frequent_rule_reads_only_the_hour_field():
    assert [timing.cron_is_frequent(e) for e in ("*/15 * * * *", "0 */2 * * *", "0 8-18/2 * * *", "@hourly")] == [True] * 4
    assert [timing.cron_is_frequent(e) for e in ("30 1 * * *", "* 1 * * *", "0 9,17 * * *", "@daily")] == [False] * 4


def test_iterating_from_inside_the_repeated_hour_gives_only_later_fires():
    after = datetime(2027, 10, 31, 1, 20, tzinfo=UTC)  # 01:20 GMT, the second 01:20 in London
    assert [i.strftime("%H:%MZ") for i in take("*/15 * * * *", "Europe/London", after, 3)] == ["01:30Z", "01:45Z", "02:00Z"]


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


@pytest.mark.parametrize("expr", ["0 0 31 2 *", "0 0 30 2 *", "0 12 31 4,6,9,11 *", "0 0 30,31 2 *"])
def test_an_expression_that_never_fires_is_refused(expr):
    assert "never fires" in timing.cron_error(expr)
    # A stored one (made before this check) simply has no fire times: no croniter error escapes.
    assert timing.cron_next(expr, "UTC", datetime(2026, 1, 1, tzinfo=UTC)) is None
    assert list(timing.cron_instants(expr, "Europe/London", datetime(2026, 1, 1, tzinfo=UTC))) == []


def test_the_never_fires_horizon_covers_the_eight_years_between_two_leap_days():
    assert timing.cron_error("0 0 29 2 *") is None
    # 2100 is not a leap year: after 2096-02-29 the next 29 February is in 2104.
    assert not timing.cron_never_fires("0 0 29 2 *", after=datetime(2096, 3, 1, tzinfo=UTC))
    assert timing.cron_next("0 0 29 2 *", "UTC", datetime(2096, 3, 1, tzinfo=UTC)) == datetime(2104, 2, 29, tzinfo=UTC)


def test_an_unreadable_stored_expression_is_described_as_written_and_never_fires():
    assert timing.describe_cron("0 9 * * 5L") == "0 9 * * 5L"
    assert timing.cron_next("0 9 * * 5L", "UTC", datetime(2026, 1, 1, tzinfo=UTC)) is None


def days_2027(expr):
    instants = fires_between(expr, "UTC", datetime(2026, 12, 31, 12, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC))
    return {i.date() for i in instants}


def all_days_2027():
    day = date(2027, 1, 1)
    while day.year == 2027:
        yield day
        day += timedelta(days=1)


def weekday_nearest_15(day):
    fifteenth = day.replace(day=15)
    return fifteenth + timedelta(days={5: -1, 6: 1}.get(fifteenth.weekday(), 0))


def last_day(day):
    return (day + timedelta(days=1)).month != day.month


@pytest.mark.parametrize(
    ("expr", "description", "matches"),
    [
        # Both day fields restricted: standard (Vixie) cron fires on either...
        ("0 9 1-7 * 1", "At 09:00, between day 1 and 7 of the month, or on Monday", lambda d: d.day <= 7 or d.weekday() == 0),
        ("0 9 L * 1", "At 09:00, on the last day of the month, or on Monday", lambda d: last_day(d) or d.weekday() == 0),
        ("0 9 1 * 7", "At 09:00, on day 1 of the month, or on Sunday", lambda d: d.day == 1 or d.weekday() == 6),
        ("0 9 1 * 5-7", "At 09:00, on day 1 of the month, or Friday through Sunday", lambda d: d.day == 1 or d.weekday() >= 4),
        # ...but on both when one of them starts with '*' (Vixie's DOM_STAR/DOW_STAR).
        ("0 9 */2 * 1", "At 09:00, every 2 days, only if it is Monday", lambda d: d.day % 2 == 1 and d.weekday() == 0),
        ("0 9 */10 * 1-5", "At 09:00, every 10 days, only if it is Monday through Friday", lambda d: d.day in (1, 11, 21, 31) and d.weekday() < 5),
        ("0 9 1 * */2", "At 09:00, on day 1 of the month, only on every 2 days of the week", lambda d: d.day == 1 and d.weekday() in (6, 1, 3, 5)),
        # A day of week naming all seven days is '*' (never "Sunday through Sunday").
        ("0 9 1 * 0-7", "At 09:00", lambda d: True),
        ("0 9 1-7 * 1-7", "At 09:00", lambda d: True),
        ("0 9 */2 * 0-7", "At 09:00, every 2 days", lambda d: d.day % 2 == 1),
        # One field restricted ('?' and '*' mean any day; 7 is Sunday).
        ("0 9 ? * 1", "At 09:00, only on Monday", lambda d: d.weekday() == 0),
        ("0 9 * * 7", "At 09:00, only on Sunday", lambda d: d.weekday() == 6),
        ("0 9 L * ?", "At 09:00, on the last day of the month", last_day),
        ("0 9 * * 5#2", "At 09:00, on the second Friday of the month", lambda d: d.weekday() == 4 and 8 <= d.day <= 14),
        ("0 9 15W * ?", "At 09:00, on the weekday nearest day 15 of the month", lambda d: d == weekday_nearest_15(d)),
    ],
)
def test_the_description_says_what_the_fires_do(expr, description, matches):
    assert timing.describe_cron(expr) == description
    assert days_2027(expr) == {d for d in all_days_2027() if matches(d)}


@pytest.mark.parametrize("expr", ["0 9 1-10 * 5#2", "0 9 1-7 * 5#2", "0 9 L * 5#2", "0 9 15W * 1", "0 9 15W * 1-5"])
def test_nth_or_nearest_weekday_next_to_a_restricted_day_field_is_refused(expr):
    # croniter would ignore the other field (1-10 * 5#2 fires on every second Friday).
    assert "need '*' or '?' in the other day field" in timing.cron_error(expr)


def test_only_both_restricted_day_fields_get_a_warning():
    assert "EITHER" in timing.cron_warnings("0 9 1-7 * 1")[0]
    assert "BOTH" in timing.cron_warnings("0 9 */2 * 1")[0]
    assert [timing.cron_warnings(e) for e in ("0 9 ? * 1", "0 9 1 * *", "0 9 * * 5#2", "@hourly", "0 9 1 * 0-7")] == [[]] * 5


def test_vixie_day_rule_follows_a_leading_star_in_either_day_field():
    assert [timing.cron_day_or(e) for e in ("0 9 1-7 * 1", "0 9 */2 * 1", "0 9 1 * */2", "0 9 ? * 1", "@weekly")] == [
        True, False, False, False, False,
    ]


@pytest.mark.django_db
def test_preview_and_fires_agree_with_the_description_for_a_star_step_day_field(api_client, make_task, clock):
    # The preview endpoint, a schedule's own preview and its fire instants walk one rule.
    clock.at(datetime(2027, 1, 1, tzinfo=UTC))
    body = api_client.get("/api/v1/schedules/preview/", {"expression": "0 9 */2 * 1", "count": 4}).json()
    expected = ["2027-01-11T09:00:00+00:00", "2027-01-25T09:00:00+00:00", "2027-02-01T09:00:00+00:00", "2027-02-15T09:00:00+00:00"]
    assert body["description"] == "At 09:00, every 2 days, only if it is Monday"
    assert body["fireTimes"] == expected
    task = make_task("vixie", schedule={"type": "cron", "expression": "0 9 */2 * 1"})
    schedule = task.schedules.get()
    assert api_client.get(f"/api/v1/schedules/{schedule.pk}/preview/", {"count": 4}).json()["fireTimes"] == expected
    assert schedule.next_fire_at.isoformat() == expected[0]


def test_macros_are_accepted_and_described():
    assert timing.cron_error("@hourly") is None
    assert timing.describe_cron("0 */2 * * *") == "Every 2 hours"
    assert timing.timezone_error("Mars/Olympus") == "unknown timezone 'Mars/Olympus'"
