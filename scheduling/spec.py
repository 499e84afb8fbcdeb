"""The schedule block (as in a task definition or the API) <-> Schedule fields.

``parse_block`` is the one validator and parser of a schedule block, wherever
the block comes from: a task definition's ``schedule`` (task API, import,
pages), a template's instantiate ``options.schedule``, ``/api/v1/schedules/``
and the schedule form. It checks a block completely and returns either the
model fields or every problem with its JSON path; ``to_block`` gives the block
back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.utils.dateparse import parse_datetime

from scheduling import filters, timing

if TYPE_CHECKING:
    from scheduling.models import Schedule

KINDS = ("cron", "interval", "event", "manual")
TRIGGERS = ("api", "webhook")
OVERLAP_WORDS = {True: "allow", False: "forbid", "allow": "allow", "forbid": "forbid", "replace": "replace"}
MISFIRE_POLICIES = ("run-once", "skip", "run-all")
MAX_MISFIRE_RUNS = 1000
# The largest count the schedule's integer columns hold (PostgreSQL integer).
MAX_COUNT = 2_147_483_647
KNOWN_KEYS = {
    "type", "name", "expression", "timezone", "interval", "unit", "event", "filter", "trigger",
    "startDate", "endDate", "maxRuns", "enabled", "concurrent", "misfirePolicy",
    "misfireGraceSeconds", "misfireMaxRuns", "pauseAfterFailures", "input", "rateLimitPerMinute",
    "webhookSecret",
}


@dataclass
class Parsed:
    fields: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    # None: leave the stored secret alone; "": remove it.
    webhook_secret: str | None = None


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _non_negative_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _parse_date(value: Any, tz: ZoneInfo | None) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:  # well formed but impossible, such as month 13
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        # A date without offset is read in the schedule's own timezone.
        parsed = parsed.replace(tzinfo=tz or ZoneInfo("UTC"))
    return parsed


def parse_block(block: Any, prefix: str = "", parameters: Any = None) -> Parsed:
    """Validate ``block`` and map it to Schedule fields.

    ``prefix`` is the JSON path of the block (``"schedule"`` in a task
    definition, ``""`` in the schedules API); every problem is reported as
    ``{"path": "<prefix>.<field>", "message": ...}`` in ``Parsed.errors``.
    Cron expressions may be 5 fields or a macro (``@hourly``) and must fire
    within ``timing.NEVER_FIRES_YEARS`` years; intervals are whole numbers of
    their unit, at least 1 second. ``parameters`` is unused (the block takes
    no references); it is part of the block-parser signature of
    ``orchestration.blocks``, where this app registers the function."""
    out = Parsed()
    err = out.errors.append
    if not isinstance(block, dict):
        err({"path": prefix, "message": "schedule must be an object"})
        return out
    for key in block:
        if key not in KNOWN_KEYS:
            err({"path": _join(prefix, key), "message": f"unknown schedule field '{key}'"})
    kind = block.get("type")
    if kind not in KINDS:
        err({"path": _join(prefix, "type"), "message": f"type must be one of {', '.join(KINDS)} (got {kind!r})"})
        return out
    f = out.fields
    f["kind"] = kind
    f["name"] = str(block.get("name") or "")[:200]

    tz_name = block.get("timezone", "UTC")
    problem = timing.timezone_error(tz_name)
    tz: ZoneInfo | None = None
    if problem:
        err({"path": _join(prefix, "timezone"), "message": problem})
    else:
        tz = ZoneInfo(tz_name)
        f["timezone"] = tz_name

    f.update(expression="", interval_value=None, interval_unit="", interval_ms=None,
             event_name="", event_filter={}, manual_trigger="")
    if kind == "cron":
        problem = timing.cron_error(block.get("expression"))
        if problem:
            err({"path": _join(prefix, "expression"), "message": problem})
        else:
            f["expression"] = " ".join(str(block["expression"]).split())
    elif kind == "interval":
        value, unit = block.get("interval"), block.get("unit", "ms")
        if unit not in timing.INTERVAL_UNITS_MS:
            err({"path": _join(prefix, "unit"), "message": f"unit must be one of {', '.join(timing.INTERVAL_UNITS_MS)} (got {unit!r})"})
        elif not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            err({"path": _join(prefix, "interval"), "message": f"interval must be a positive whole number of the unit (got {value!r}); for a fraction use a smaller unit, e.g. 30 with unit 'm' for half an hour"})
        elif value * timing.INTERVAL_UNITS_MS[unit] < timing.MIN_INTERVAL_MS:
            err({"path": _join(prefix, "interval"), "message": "interval must be at least 1 second"})
        elif value * timing.INTERVAL_UNITS_MS[unit] > timing.MAX_INTERVAL_MS:
            err({"path": _join(prefix, "interval"), "message": "interval must be at most 366 days (use a cron schedule for longer periods)"})
        else:
            f.update(interval_value=value, interval_unit=unit, interval_ms=value * timing.INTERVAL_UNITS_MS[unit])
    elif kind == "event":
        name = block.get("event")
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            err({"path": _join(prefix, "event"), "message": "event must be an event name such as 'execution.failed' (wildcards like 'execution.*' allowed)"})
        else:
            f["event_name"] = name.strip()
        filter_spec = block.get("filter")
        out.errors.extend(filters.filter_errors(filter_spec, _join(prefix, "filter")))
        f["event_filter"] = filter_spec or {}
    else:
        trigger = block.get("trigger", "api")
        if trigger not in TRIGGERS:
            err({"path": _join(prefix, "trigger"), "message": f"trigger must be one of {', '.join(TRIGGERS)} (got {trigger!r})"})
        else:
            f["manual_trigger"] = trigger

    for key, attr in (("startDate", "start_at"), ("endDate", "end_at")):
        value = block.get(key)
        if value is None:
            f[attr] = None
            continue
        parsed = _parse_date(value, tz)
        if parsed is None:
            err({"path": _join(prefix, key), "message": "must be an ISO 8601 date-time such as '2026-01-31T08:00:00+08:00'"})
        else:
            f[attr] = parsed
    if f.get("start_at") and f.get("end_at") and f["end_at"] <= f["start_at"]:
        err({"path": _join(prefix, "endDate"), "message": "endDate must be after startDate"})

    for key, attr, minimum in (
        ("maxRuns", "max_runs", 1),
        ("pauseAfterFailures", "pause_after_failures", 1),
    ):
        value = block.get(key)
        if value is None:
            f[attr] = None
        elif not _non_negative_int(value) or not minimum <= value <= MAX_COUNT:
            err({"path": _join(prefix, key), "message": f"{key} must be a whole number from {minimum} to {MAX_COUNT}"})
        else:
            f[attr] = value

    enabled = block.get("enabled", True)
    if not isinstance(enabled, bool):
        err({"path": _join(prefix, "enabled"), "message": "enabled must be true or false"})
    f["enabled"] = bool(enabled)

    # Clock schedules default to forbid: piled-up overlapping runs are the
    # classic scheduler failure. Event and webhook fires are distinct requests.
    default_overlap = "forbid" if kind in ("cron", "interval") else "allow"
    concurrent = block.get("concurrent", default_overlap)
    if not isinstance(concurrent, bool | str) or concurrent not in OVERLAP_WORDS:
        err({"path": _join(prefix, "concurrent"), "message": "concurrent must be true/'allow', false/'forbid' or 'replace'"})
    else:
        f["overlap"] = OVERLAP_WORDS[concurrent]

    policy = block.get("misfirePolicy", "run-once")
    if policy not in MISFIRE_POLICIES:
        err({"path": _join(prefix, "misfirePolicy"), "message": f"misfirePolicy must be one of {', '.join(MISFIRE_POLICIES)}"})
    else:
        f["misfire_policy"] = policy
    for key, attr, default, low, high in (
        ("misfireGraceSeconds", "misfire_grace_seconds", 60, 0, 86_400),
        ("misfireMaxRuns", "misfire_max_runs", 10, 1, MAX_MISFIRE_RUNS),
        ("rateLimitPerMinute", "rate_limit_per_minute", 60, 1, 100_000),
    ):
        value = block.get(key, default)
        if not _non_negative_int(value) or not low <= value <= high:
            err({"path": _join(prefix, key), "message": f"{key} must be a whole number from {low} to {high}"})
        else:
            f[attr] = value

    schedule_input = block.get("input", {})
    if not isinstance(schedule_input, dict):
        err({"path": _join(prefix, "input"), "message": "input must be an object"})
    else:
        f["input"] = schedule_input

    if "webhookSecret" in block:
        secret = block["webhookSecret"]
        if secret is not None and not isinstance(secret, str):
            err({"path": _join(prefix, "webhookSecret"), "message": "webhookSecret must be a string"})
        else:
            out.webhook_secret = secret or ""
    return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def to_block(schedule: Schedule) -> dict[str, Any]:
    """The schedule as a block (never includes the webhook secret or token)."""
    block: dict[str, Any] = {"type": schedule.kind}
    if schedule.name:
        block["name"] = schedule.name
    if schedule.kind == "cron":
        block["expression"] = schedule.expression
    elif schedule.kind == "interval":
        block.update(interval=schedule.interval_value, unit=schedule.interval_unit)
    elif schedule.kind == "event":
        block["event"] = schedule.event_name
        if schedule.event_filter:
            block["filter"] = schedule.event_filter
    else:
        block["trigger"] = schedule.manual_trigger
    block["timezone"] = schedule.timezone
    block["enabled"] = schedule.enabled
    if schedule.start_at:
        block["startDate"] = _iso(schedule.start_at)
    if schedule.end_at:
        block["endDate"] = _iso(schedule.end_at)
    if schedule.max_runs is not None:
        block["maxRuns"] = schedule.max_runs
    block["concurrent"] = schedule.overlap
    block["misfirePolicy"] = schedule.misfire_policy
    block["misfireGraceSeconds"] = schedule.misfire_grace_seconds
    if schedule.misfire_policy == "run-all":
        block["misfireMaxRuns"] = schedule.misfire_max_runs
    if schedule.pause_after_failures is not None:
        block["pauseAfterFailures"] = schedule.pause_after_failures
    if schedule.input:
        block["input"] = schedule.input
    if schedule.kind == "manual" and schedule.manual_trigger == "webhook":
        block["rateLimitPerMinute"] = schedule.rate_limit_per_minute
    return block
