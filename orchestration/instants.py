"""Reading a date-time that a client sent: one parser for every query
parameter, block field and form field that becomes a database instant.

ISO 8601 (and Python's ``datetime``) allow UTC offsets up to +/-23:59;
PostgreSQL's ``timestamptz`` input only up to +/-15:59 ("time zone
displacement out of range"). A value such as ``2027-01-01T00:00:00+20:00`` is
a valid instant, so it is not refused: :func:`parse_instant` converts every
date-time to UTC before any query sees it. A date-time whose UTC equivalent
falls outside Python's years 1-9999 (``9999-12-31T23:59:59-23:59``) cannot be
represented and is refused like any other bad value.

Used by the events API and page (``since``/``until``), the resources API
(``start``/``end``) and the schedule block (``startDate``/``endDate``, in the
schedules API, a task's ``schedule`` block and the schedule form).
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

MESSAGE = "is not an ISO 8601 date-time (such as '2026-01-31T08:00:00+08:00') within years 1-9999"


def to_utc(value: datetime, default_tz: tzinfo | None = None) -> datetime | None:
    """``value`` as an aware UTC datetime, or None when its UTC equivalent
    is outside years 1-9999. A naive ``value`` is read in ``default_tz``
    (the current Django time zone when None)."""
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=default_tz or timezone.get_current_timezone())
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return None


def parse_instant(raw: Any, default_tz: tzinfo | None = None) -> datetime | None:
    """Parse the ISO 8601 date-time ``raw`` (Django's ``parse_datetime``
    syntax: ``2026-01-31T08:00``, seconds, fractions, ``Z`` or an offset up to
    +/-23:59) into an aware UTC datetime; without an offset it is read in
    ``default_tz`` (the current Django time zone when None).

    Returns None for anything that is not such a date-time: not a string,
    malformed, well formed but impossible (month 13), or outside years
    1-9999 once in UTC. Callers turn None into a 400 naming their field."""
    if not isinstance(raw, str):
        return None
    try:
        parsed = parse_datetime(raw.strip())
    except ValueError:  # well formed but impossible, such as month 13
        return None
    return None if parsed is None else to_utc(parsed, default_tz)


class InstantField(forms.DateTimeField):
    """A form ``DateTimeField`` whose value is always an aware UTC datetime
    (see :func:`parse_instant`): an ISO 8601 value with any offset up to
    +/-23:59 is converted, not handed to the database as is; one that cannot
    be represented in UTC is a form error on the field."""

    def to_python(self, value: Any) -> datetime | None:  # type: ignore[override]
        result = super().to_python(value)
        if result is None:
            return None
        converted = to_utc(result)
        if converted is None:
            raise ValidationError(f"{value!r} {MESSAGE}", code="invalid")
        return converted
