"""When schedules fire: cron instants in an IANA timezone, interval slots, and
human-readable descriptions. Pure Python, no ORM.

Cron expressions are matched on the *local wall clock* of the schedule's
timezone with croniter on naive datetimes, then each wall time is turned into
one UTC instant:

- *fixed-time* schedules (an hour field of fixed hours, such as ``30 2 * * *``
  or ``0 9,17 * * *``): a wall time that does not exist (the spring-forward
  gap) fires once, at the first instant after the gap (02:30 on a
  02:00->03:00 night fires at 03:00), several gap times collapsing into that
  one fire; a wall time that happens twice (the fall-back hour) fires once, at
  its first occurrence;
- *frequent* schedules (an hour field that is ``*`` or a step such as ``*/2``
  or ``8-18/2``) fire by real elapsed time, as Vixie cron runs its wildcard
  jobs: wall times inside the gap are not on the clock and do not fire, and
  the repeated hour fires at both of its occurrences (``*/15`` keeps firing
  every 15 minutes through a fall-back night).

Day-of-month and day-of-week combine as in Vixie cron (cronie, the crontab
of Debian and Red Hat; see ``cron_day_or``): when both are restricted a day
matches when *either* does, except when one of them starts with ``*`` (such
as ``*/2``): then a day must match *both*. croniter is told which rule
applies (its ``day_or``), so the fires, the preview and ``describe_cron``
("or" / "only if it is") agree. A day-of-week that names all seven days
(``0-7``, ``1-7``) is read as ``*``. ``#`` (nth weekday) and ``W``
(nearest weekday) next to a restricted other day field are refused: croniter
then silently ignores the other field (``0 9 1-10 * 5#2`` fires on every
second Friday, the 11th-14th included), so no description could match its
fires. ``cron_error`` also refuses an expression that matches no date within
``NEVER_FIRES_YEARS`` years, and a step longer than the range it walks
(``*/90`` minutes matches minute 0 only: cron restarts a step every hour, so
it would be described as a period it does not have; see ``cron_step_error``).

django-celery-beat's own crontab-with-timezone gets both of these wrong
(django-celery-beat #194, #604), which is why beat is only used as an alarm
clock for instants computed here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import CroniterError, croniter

INTERVAL_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
MIN_INTERVAL_MS = 1000
MAX_INTERVAL_MS = 366 * 86_400_000
CRON_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# A horizon that covers the longest gap between two leap days (2096-02-29 to
# 2104-02-29: 8 years, as 2100 is not a leap year).
NEVER_FIRES_YEARS = 8
# What croniter raises while expanding or walking an expression; ValueError and
# OverflowError come from date arithmetic near year 9999.
CRON_LIBRARY_ERRORS = (CroniterError, ValueError, OverflowError)
DayRule = Literal["any", "day-of-month", "day-of-week", "either", "both", "special-mixed"]
ALL_WEEKDAYS = frozenset(range(7))


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
    step_problem = cron_step_error(normalized)
    if step_problem:
        return step_problem
    if cron_day_rule(normalized) == "special-mixed":
        return (
            "'#' (nth weekday) and 'W' (nearest weekday) need '*' or '?' in the other day field: "
            "next to a restricted day-of-month or day-of-week the other field would be ignored"
        )
    if cron_never_fires(normalized):
        return (
            f"'{expression}' never fires: it matches no date within {NEVER_FIRES_YEARS} years "
            "(such as 31 February, or a day of the month that is never that weekday)"
        )
    return None


# Of each of the 5 fields: its name, the word for one of its values, its
# lowest and highest value (croniter's; 7 is also Sunday), its unit and the
# period after which cron restarts a step.
CRON_FIELDS = (
    ("minute", "minute", 0, 59, "minutes", "hour"),
    ("hour", "hour", 0, 23, "hours", "day"),
    ("day-of-month", "day", 1, 31, "days", "month"),
    ("month", "month", 1, 12, "months", "year"),
    ("day-of-week", "day-of-week", 0, 6, "days", "week"),
)
_NAMES = {
    **{name: n for n, name in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)},
    **{name: n for n, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))},
}


def _field_value(text: str) -> int | None:
    text = text.strip().lower()
    if text.isascii() and text.isdigit():
        return int(text)
    return _NAMES.get(text)


def _step_span(base: str, low: int, high: int) -> tuple[int, int] | None:
    """(first value, number of values) of the range ``base`` that a step walks
    (``*``, ``a-b`` or ``a``, which means ``a`` to the field's end), or None
    when ``base`` is not such a range (croniter judges it)."""
    if base in ("*", "?"):
        return low, high - low + 1
    if "-" in base:
        start, end = (_field_value(x) for x in base.split("-", 1))
        if start is None or end is None:
            return None
        count = end - start + 1 if end >= start else (high - start + 1) + (end - low + 1)
        return start, count
    start = _field_value(base)
    return None if start is None else (start, high - start + 1)


def cron_step_error(expression: str) -> str | None:
    """A message when a step of the (5-field) ``expression`` is longer than the
    range it steps over (``*/90`` minutes, ``0 */25 * * *``, ``0 0 */40 * *``),
    else None.

    cron (and croniter, which computes the fires) restarts a step at every
    period of the field: ``*/90`` in the minute field matches minute 0 only,
    so it fires every hour, not every 90 minutes. Such an expression matches
    only the first value of its range; it is refused rather than described as
    a period it does not have."""
    fields = normalize_cron(expression).split(" ")
    if len(fields) != 5:
        return None
    for text, (name, value_word, low, high, unit, period) in zip(fields, CRON_FIELDS, strict=True):
        for part in text.split(","):
            base, slash, raw_step = part.partition("/")
            if not slash or not (raw_step.isascii() and raw_step.isdigit()):
                continue
            span = _step_span(base, low, high)
            step = int(raw_step)
            if span is None or step <= span[1]:
                continue
            first, count = span
            where = f"the {name} field ({low}-{high})" if base in ("*", "?") else f"'{base}' ({count} values)"
            return (
                f"'{part}' in the {name} field: a step of {step} is longer than {where}, so it matches only "
                f"{value_word} {first}; cron restarts a step every {period}, so this does not fire every "
                f"{step} {unit}. Write {first} if that is meant; for a longer period use an interval "
                "schedule or list the values."
            )
    return None


def cron_day_or(expression: str) -> bool:
    """Vixie cron's rule for combining the day fields of (5-field) ``expression``:
    True (a day matches when either field does) unless day-of-month or
    day-of-week starts with ``*`` (or ``?``, which means the same), in which
    case False (a day must match both; with a plain ``*`` that is simply the
    other field). Source: Vixie cron 4.1 ``cron.c`` (``DOM_STAR``/``DOW_STAR``),
    kept by cronie. Passed to croniter as ``day_or``."""
    fields = normalize_cron(expression).split(" ")
    if len(fields) != 5:
        return True
    return not (fields[2].startswith(("*", "?")) or fields[4].startswith(("*", "?")))


def _croniter(expression: str, start: datetime | None = None, **kwargs: object) -> croniter:
    normalized = normalize_cron(expression)
    return croniter(normalized, start, day_or=cron_day_or(normalized), **kwargs)  # type: ignore[arg-type]


def cron_never_fires(expression: str, after: datetime | None = None) -> bool:
    """True when the (valid, 5-field) ``expression`` matches no wall time within
    ``NEVER_FIRES_YEARS`` years after ``after`` (default: now)."""
    start = (after or datetime.now(UTC)).replace(tzinfo=None)
    try:
        walls = _croniter(expression, start, max_years_between_matches=NEVER_FIRES_YEARS)
        walls.get_next(datetime)
    except CRON_LIBRARY_ERRORS:
        return True
    return False


def _all_weekdays(parsed: croniter) -> bool:
    """True when the day-of-week field names every day (``*``, ``0-7``, ``1-7``)."""
    days = parsed.expanded[4]
    if days[0] == "*":
        return True
    return not parsed.nth_weekday_of_month and {int(d) % 7 for d in days} == ALL_WEEKDAYS


def cron_day_rule(expression: str) -> DayRule:
    """How the day fields of ``expression`` combine (``cron_day_or``): ``any``
    (every day matches), only one of them restricts, ``either`` (both
    restricted: a day matches when either field does), ``both`` (both
    restricted and one starts with ``*``, such as ``*/2``: a day must match
    both) or ``special-mixed`` (both restricted with ``#`` or ``W``: croniter
    ignores the other field, so ``cron_error`` refuses it). A day-of-week
    naming all seven days counts as unrestricted (``0 9 1 * 0-7`` fires every
    day). Raises CroniterError for an invalid expression."""
    normalized = normalize_cron(expression)
    parsed = croniter(normalized)
    day_or = cron_day_or(normalized)
    dom_any = parsed.expanded[2][0] == "*"
    dow_any = _all_weekdays(parsed)
    if dow_any and day_or and not dom_any and parsed.expanded[4][0] != "*":
        # Either "day N" or "any weekday": every day.
        return "any"
    if dom_any and dow_any:
        return "any"
    if dow_any:
        return "day-of-month"
    if dom_any:
        return "day-of-week"
    if parsed.nth_weekday_of_month or parsed.nearest_weekday:
        return "special-mixed"
    return "either" if day_or else "both"


def cron_warnings(expression: str) -> list[str]:
    """Things a person writing ``expression`` should know (it is valid but may
    not mean what it seems to)."""
    try:
        rule = cron_day_rule(expression)
    except CRON_LIBRARY_ERRORS:
        return []
    if rule == "either":
        return [
            "Both day-of-month and day-of-week are restricted: as in standard (Vixie) cron, it "
            "fires on every day that matches EITHER field (not only days matching both)."
        ]
    if rule == "both":
        return [
            "Both day-of-month and day-of-week are restricted and one starts with '*': as in "
            "standard (Vixie) cron, it fires only on days that match BOTH fields ('*/2' is "
            "days 1, 3, 5, ... of each month in day-of-month, Sunday, Tuesday, Thursday and "
            "Saturday in day-of-week)."
        ]
    return []


def cron_is_frequent(expression: str) -> bool:
    """True when the hour field is ``*`` or a step (``*/2``, ``8-18/2``): such a
    schedule fires by elapsed time across DST changes (Vixie cron's rule for
    wildcard jobs); any other hour field is fixed-time."""
    fields = normalize_cron(expression).split(" ")
    return len(fields) == 5 and (fields[1] == "*" or "/" in fields[1])


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


def _occurrences(wall: datetime, tz: ZoneInfo) -> tuple[datetime, ...]:
    """The UTC instants at which local wall time ``wall`` (naive) is on the
    clock: one, two (the repeated fall-back hour; first occurrence first) or
    none (the spring-forward gap)."""
    first = wall.replace(tzinfo=tz, fold=0)
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wall:
        return ()
    second = wall.replace(tzinfo=tz, fold=1)
    if second.utcoffset() != first.utcoffset():
        return (first.astimezone(UTC), second.astimezone(UTC))
    return (first.astimezone(UTC),)


def _after_gap(wall: datetime, tz: ZoneInfo) -> datetime:
    """The first instant whose local wall time is at or after the gap time ``wall``."""
    # Both fold readings bracket the gap; walk it by the minute (gaps are short).
    low = min(wall.replace(tzinfo=tz, fold=0).astimezone(UTC), wall.replace(tzinfo=tz, fold=1).astimezone(UTC))
    candidate = low.replace(second=0, microsecond=0)
    while candidate.astimezone(tz).replace(tzinfo=None) < wall:
        candidate += timedelta(minutes=1)
    return candidate


def _walls(expression: str, start: datetime) -> Iterator[datetime]:
    """Matching naive wall times after ``start``; ends (instead of raising)
    when croniter finds no further date or cannot read the expression."""
    try:
        walls = _croniter(expression, start)
        while True:
            yield walls.get_next(datetime)
    except CRON_LIBRARY_ERRORS:
        return


def cron_instants(expression: str, timezone: str, after: datetime) -> Iterator[datetime]:
    """Fire instants (aware, UTC, increasing) of ``expression`` in ``timezone``
    strictly after ``after``, under the DST rules in the module docstring.

    Never raises a croniter error: the iterator simply ends when the expression
    has no further fire time (or cannot be read), so every caller (preview,
    arming, firing, watchdog, pages) treats it as "no more fires"."""
    tz = ZoneInfo(timezone)
    frequent = cron_is_frequent(expression)
    after_utc = after.astimezone(UTC)
    # Start an hour or more back on the wall clock so that a gap time whose
    # instant lies after ``after`` is not skipped, then filter.
    local_start = after_utc.astimezone(tz).replace(tzinfo=None) - timedelta(hours=3)
    previous = after_utc
    # Second occurrences of repeated wall times: they come after every first
    # occurrence in the repeated hour and before any later wall time.
    repeated: list[datetime] = []
    for wall in _walls(expression, local_start):
        found = _occurrences(wall, tz)
        instants: tuple[datetime, ...]
        if frequent and len(found) == 2:
            instants = found[:1]
            repeated.append(found[1])
        elif found or frequent:
            # A frequent schedule's gap times are simply not on the clock.
            instants = (*repeated, *found[:1])
            repeated = []
        else:
            instants = (_after_gap(wall, tz),)
        for instant in instants:
            if instant <= previous:
                continue
            previous = instant
            yield instant
    for instant in repeated:
        if instant > previous:
            previous = instant
            yield instant


def cron_next(expression: str, timezone: str, after: datetime) -> datetime | None:
    """The first fire instant strictly after ``after`` (None: it never fires again)."""
    return next(cron_instants(expression, timezone, after), None)


def interval_next(anchor: datetime, interval_ms: int, after: datetime) -> datetime:
    """The first slot ``anchor + k * interval`` (k >= 0) strictly after ``after``."""
    step = timedelta(milliseconds=interval_ms)
    if after < anchor:
        return anchor
    k = (after - anchor) // step + 1
    return anchor + k * step


def _dow_clause(text: str, joiner: str) -> str:
    # ", only on Monday" -> ", or on Monday"; ", Monday through Friday" -> ", or Monday through Friday".
    text = text.removeprefix(", ").removeprefix("only ")
    if joiner.endswith(" is"):
        # ", only on Monday" -> ", only if it is Monday"; a step says "only on every 2 days of the week".
        text = text.removeprefix("on ")
        if text.startswith("every "):
            return f", only on {text}"
    return f", {joiner} {text}" if text else ""


_ORDINALS = ("first", "second", "third", "fourth", "fifth")
_WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


def _nth_weekdays_clause(field: str) -> str | None:
    """", on the first Sunday and the first Saturday of the month" for a
    day-of-week list of ``#`` items (``0#1,6#1``; croniter refuses lists that
    mix them with plain days), or None when ``field`` is not such a list
    (cron_descriptor drops the ordinals of a list: "on the  Sunday and Saturday")."""
    items = field.split(",")
    if len(items) < 2 or not all("#" in item for item in items):
        return None
    words = []
    for item in items:
        day, _, nth = item.partition("#")
        value = _field_value(day)
        if value is None or not (nth.isascii() and nth.isdigit()) or not 1 <= int(nth) <= len(_ORDINALS):
            return None
        words.append(f"the {_ORDINALS[int(nth) - 1]} {_WEEKDAYS[value % 7]}")
    return f", on {_and_list(words)} of the month"


def _last_day_list_clause(field: str) -> str | None:
    """", on the last day and day 15 of the month" for a day-of-month list
    that holds ``L`` (``L,15``, ``1-5,L``), or None when ``field`` is not such
    a list (cron_descriptor shows the L raw: "on day L and 15")."""
    items = field.split(",")
    if len(items) < 2 or not any(item.upper() == "L" for item in items):
        return None
    words = []
    for item in items:
        base, slash, step = item.partition("/")
        span = _step_span(base, 1, 31) if slash and step.isascii() and step.isdigit() else None
        start, dash, end = item.partition("-")
        if item.upper() == "L":
            words.append("the last day")
        elif item.isascii() and item.isdigit():
            words.append(f"day {int(item)}")
        elif dash and start.isdigit() and end.isdigit():
            words.append(f"days {int(start)} through {int(end)}")
        elif span and span[0] + span[1] <= 32:  # a step within the month: its days, named
            days = [str(day) for day in range(span[0], span[0] + span[1], int(step))]
            words.append(f"days {_and_list(days)}" if len(days) > 1 else f"day {days[0]}")
        else:
            return None
    return f", on {_and_list(words)} of the month"


def _and_list(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def describe_cron(expression: str) -> str:
    """A human-readable sentence for ``expression`` ("Every 2 hours"), saying
    "or" where it fires on days matching either day field and "only if it is"
    where a day must match both (see ``cron_day_rule``). Never raises: an expression the describer cannot read
    is given back as it is."""
    from cron_descriptor import ExpressionDescriptor, Options

    options = Options()
    options.use_24hour_time_format = True
    options.verbose = False
    normalized = normalize_cron(expression)
    try:
        rule = cron_day_rule(normalized)
        fields = normalized.split(" ")
        if rule in ("any", "day-of-month"):
            # A day-of-week naming all seven days is "*" ("Sunday through Sunday" otherwise).
            fields[4] = "*"
        if rule == "any":
            fields[2] = "*"
        descriptor = ExpressionDescriptor(" ".join(fields), options)
        dom_text = _last_day_list_clause(fields[2])
        dow_text = _nth_weekdays_clause(fields[4])
        if rule not in ("either", "both") and dom_text is None and dow_text is None:
            return str(descriptor.get_description())
        dow_text = dow_text or descriptor.get_day_of_week_description()
        if rule in ("either", "both"):
            dow_text = _dow_clause(dow_text, "or" if rule == "either" else "only if it is")
        text = (
            descriptor.get_time_of_day_description()
            + (dom_text or descriptor.get_day_of_month_description())
            + dow_text
            + descriptor.get_month_description()
            + descriptor.get_year_description()
        )
        return str(descriptor.transform_case(descriptor.transform_verbosity(text, False), options.casing_type))
    except Exception:  # noqa: BLE001 - a description must never turn a page into a 500
        return normalized


def describe_interval(value: int, unit: str) -> str:
    names = {"ms": "millisecond", "s": "second", "m": "minute", "h": "hour"}
    name = names[unit]
    return f"Every {name}" if value == 1 else f"Every {value} {name}s"
