"""The schedule block (as in a task definition or the API) <-> Schedule fields.

``parse_block`` is the one validator and parser of a schedule block, wherever
the block comes from: a task definition's ``schedule`` (task API, import,
pages), a template's instantiate ``options.schedule``, ``/api/v1/schedules/``
and the schedule form. It checks a block completely and returns either the
model fields or every problem with its JSON path; ``to_block`` gives the block
back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from orchestration import blocks, contract
from orchestration.definition_checks import join
from orchestration.instants import parse_instant
from orchestration.schemavalues import whole_numbers_to_int
from scheduling import filters, timing

if TYPE_CHECKING:
    from scheduling.models import Schedule

SCHEMA_PATH = Path(__file__).resolve().parent / "schedule.schema.json"
SCHEMA = blocks.load_schema(SCHEMA_PATH)
KINDS = tuple(SCHEMA["properties"]["type"]["enum"])
TRIGGERS = tuple(SCHEMA["properties"]["trigger"]["enum"])
MISFIRE_POLICIES = tuple(SCHEMA["properties"]["misfirePolicy"]["enum"])
OVERLAP_WORDS = {True: "allow", False: "forbid", "allow": "allow", "forbid": "forbid", "replace": "replace"}
# Block key -> Schedule field, for the keys the structure check alone decides.
PLAIN_FIELDS = {
    "maxRuns": "max_runs", "pauseAfterFailures": "pause_after_failures", "misfirePolicy": "misfire_policy",
    "misfireGraceSeconds": "misfire_grace_seconds", "misfireMaxRuns": "misfire_max_runs",
    "rateLimitPerMinute": "rate_limit_per_minute", "input": "input",
}
DEFAULTS = {"misfirePolicy": "run-once", "misfireGraceSeconds": 60, "misfireMaxRuns": 10, "rateLimitPerMinute": 60, "input": {}}


@dataclass
class Parsed:
    fields: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    # None: leave the stored secret alone; "": remove it.
    webhook_secret: str | None = None


def parse_block(block: Any, prefix: str = "", parameters: Any = None) -> Parsed:
    """Validate ``block`` and map it to Schedule fields.

    ``prefix`` is the JSON path of the block (``"schedule"`` in a task
    definition, ``""`` in the schedules API); every problem is reported as
    ``{"path": "<prefix>.<field>", "message": ...}`` in ``Parsed.errors``.
    Structure (keys, types, enums, ranges, such as an interval's 1 second to
    366 days in each unit) is the block schema's (``schedule.schema.json``,
    messages from its ``errorMessage``s); then, for the keys that passed it:
    time zones, cron expressions (5 fields or a macro such as ``@hourly``,
    firing within ``timing.NEVER_FIRES_YEARS`` years), event filters and dates. ``parameters`` is unused (the block takes no references); it is
    part of the block-parser signature of ``orchestration.blocks``, where this
    app registers the function."""
    if isinstance(block, dict):
        block = whole_numbers_to_int(SCHEMA, block)  # 60.0 is the integer 60
    out = Parsed(errors=contract.problems_from(blocks.validator(SCHEMA_PATH), block, prefix=prefix))
    bad = {re.split(r"[.\[]", e["path"][len(prefix):].lstrip("."))[0] for e in out.errors}
    if not isinstance(block, dict) or "type" in bad:
        return out

    def check(key: str, message: str | None) -> bool:
        if message:
            out.errors.append({"path": join(prefix, key), "message": message})
        return not message

    kind, f = block["type"], out.fields
    f.update(kind=kind, name=block.get("name") or "", expression="", interval_value=None, interval_unit="",
             interval_ms=None, event_name="", event_filter={}, manual_trigger="", enabled=block.get("enabled", True))
    f.update({attr: block.get(key, DEFAULTS.get(key)) for key, attr in PLAIN_FIELDS.items()})
    tz_name = block.get("timezone", "UTC")
    tz = ZoneInfo(tz_name) if "timezone" not in bad and check("timezone", timing.timezone_error(tz_name)) else None
    f["timezone"] = tz_name
    if kind == "cron" and "expression" not in bad and check("expression", timing.cron_error(block["expression"])):
        f["expression"] = " ".join(block["expression"].split())
    elif kind == "interval" and not {"interval", "unit"} & bad:
        unit = block.get("unit", "ms")
        ms = block["interval"] * timing.INTERVAL_UNITS_MS[unit]
        f.update(interval_value=block["interval"], interval_unit=unit, interval_ms=ms)
    elif kind == "event":
        f.update(event_name=str(block.get("event", "")).strip(), event_filter=block.get("filter") or {})
        if "filter" not in bad:
            out.errors.extend(filters.filter_errors(block.get("filter"), join(prefix, "filter")))
    elif kind == "manual":
        f["manual_trigger"] = block.get("trigger", "api")
    for key, attr in (("startDate", "start_at"), ("endDate", "end_at")):
        value = block.get(key)
        # A date without offset is read in the schedule's own timezone; every
        # date is stored in UTC (PostgreSQL refuses offsets past +/-15:59).
        f[attr] = None if value is None or key in bad else parse_instant(value, tz or ZoneInfo("UTC"))
        if value is not None and key not in bad and f[attr] is None:
            check(key, "must be an ISO 8601 date-time such as '2026-01-31T08:00:00+08:00' (years 1-9999 in UTC)")
    if f["start_at"] and f["end_at"] and f["end_at"] <= f["start_at"]:
        check("endDate", "endDate must be after startDate")
    # Clock schedules default to forbid: piled-up overlapping runs are the
    # classic scheduler failure. Event and webhook fires are distinct requests.
    if "concurrent" not in bad:
        f["overlap"] = OVERLAP_WORDS[block.get("concurrent", "forbid" if kind in ("cron", "interval") else "allow")]
    if "webhookSecret" in block:
        out.webhook_secret = block["webhookSecret"] or ""
    return out


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
        block["startDate"] = schedule.start_at.isoformat()
    if schedule.end_at:
        block["endDate"] = schedule.end_at.isoformat()
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
