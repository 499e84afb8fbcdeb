"""When schedules fire: cron instants in an IANA timezone, interval slots, and
human-readable descriptions. Pure Python, no ORM.

Cron expressions are matched on the *local wall clock* of the schedule's
timezone with croniter on naive datetimes, then each wall time is turned into
one UTC instant:

- a wall time that does not exist (the spring-forward gap) fires once, at the
  first instant after the gap (02:30 on a 02:00->03:00 night fires at 03:00);
  several gap times collapse into that one fire;
- a wall time that happens twice (the fall-back hour) fires once, at its first
  occurrence.

django-celery-beat's own crontab-with-timezone gets both of these wrong
(django-celery-beat #194, #604), which is why beat is only used as an alarm
clock for instants computed here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import croniter

INTERVAL_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
MIN_INTERVAL_MS = 1000
CRON_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def normalize_cron(expression: str) -> str:
    """The 5-field form of ``expression`` (macros expanded, spaces collapsed)."""
    expression = " ".join(str(expression).split())
    return CRON_MACROS.get(expression.lower(), expression)


def cron_error(expression: object) -> str | None:
    """A message saying what is wrong with ``expression``, or None when it is valid."""
    if not isinstance(expression, str) or not expression.strip():
        return "must be a cron expression such as '0 */2 * * *'"
    normalized = normalize_cron(expression)
    fields = normalized.split(" ")
    if len(fields) != 5:
        return f"must have 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}"
    if not croniter.is_valid(normalized):
        return f"'{expression}' is not a valid cron expression"
    return None


def timezone_error(name: object) -> str | None:
    if not isinstance(name, str) or not name:
        return "must be an IANA timezone name such as 'Asia/Shanghai'"
    if name not in timezone_names():
        return f"unknown timezone '{name}'"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown timezone '{name}'"
    return None


_ZONES: set[str] | None = None


def timezone_names() -> set[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = set(available_timezones()) | {"UTC"}
    return _ZONES


def _instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant at which local wall time ``wall`` (naive) fires."""
    first = wall.replace(tzinfo=tz, fold=0)
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall:
        # Exists (for a repeated time, fold=0 is its first occurrence).
        return first.astimezone(UTC)
    # In a gap: the first instant whose local wall time is at or after ``wall``.
    # Both fold readings bracket the gap; walk it by the minute (gaps are short).
    low = min(first.astimezone(UTC), wall.replace(tzinfo=tz, fold=1).astimezone(UTC))
    candidate = low.replace(second=0, microsecond=0)
    while candidate.astimezone(tz).replace(tzinfo=None) < wall:
        candidate += timedelta(minutes=1)
    return candidate


def cron_instants(expression: str, timezone: str, after: datetime) -> Iterator[datetime]:
    """Fire instants (aware, UTC) of ``expression`` in ``timezone`` strictly after ``after``."""
    tz = ZoneInfo(timezone)
    after_utc = after.astimezone(UTC)
    # Start an hour or more back on the wall clock so that a gap time whose
    # instant lies after ``after`` is not skipped, then filter.
    local_start = after_utc.astimezone(tz).replace(tzinfo=None) - timedelta(hours=3)
    walls = croniter(normalize_cron(expression), local_start)
    previous = after_utc
    while True:
        wall = walls.get_next(datetime)
        instant = _instant(wall, tz)
        if instant <= previous:
            continue
        previous = instant
        yield instant


def cron_next(expression: str, timezone: str, after: datetime) -> datetime:
    return next(cron_instants(expression, timezone, after))


def interval_next(anchor: datetime, interval_ms: int, after: datetime) -> datetime:
    """The first slot ``anchor + k * interval`` (k >= 0) strictly after ``after``."""
    step = timedelta(milliseconds=interval_ms)
    if after < anchor:
        return anchor
    k = (after - anchor) // step + 1
    return anchor + k * step


def describe_cron(expression: str) -> str:
    """A human-readable sentence for ``expression`` ("At 0 minutes past the hour, every 2 hours")."""
    from cron_descriptor import Options, get_description

    options = Options()
    options.use_24hour_time_format = True
    options.verbose = False
    return str(get_description(normalize_cron(expression), options))


def describe_interval(value: int, unit: str) -> str:
    names = {"ms": "millisecond", "s": "second", "m": "minute", "h": "hour"}
    name = names[unit]
    return f"Every {name}" if value == 1 else f"Every {value} {name}s"
