"""The schedule form of the pages: flat form fields <-> a schedule block."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

from django.http import QueryDict

from orchestration import jsoninput
from orchestration.instants import parse_instant
from scheduling import spec

JSON_FIELDS = {"filter": "event filter", "input": "input"}


def _whole(raw: str) -> bool:
    # str.isdigit() is also true for "²", which int() refuses.
    return raw.isascii() and raw.isdigit()


def _text(data: QueryDict, key: str) -> str:
    return str(data.get(key) or "").strip()


def block_from_form(data: QueryDict) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The schedule block a submitted form describes, and any JSON problems in it."""
    kind = data.get("type", "")
    errors: list[dict[str, str]] = []
    block: dict[str, Any] = {"type": kind, "timezone": data.get("timezone") or "UTC"}
    if data.get("name"):
        block["name"] = data["name"]
    if kind == "cron":
        block["expression"] = data.get("expression", "")
    elif kind == "interval":
        raw = _text(data, "interval")
        block["interval"] = int(raw) if _whole(raw) else raw
        block["unit"] = data.get("unit", "s")
    elif kind == "event":
        block["event"] = data.get("event", "")
    elif kind == "manual":
        block["trigger"] = data.get("trigger", "api")
        raw = _text(data, "rateLimitPerMinute")
        if raw:
            block["rateLimitPerMinute"] = int(raw) if _whole(raw) else raw
        if data.get("webhookSecret"):
            block["webhookSecret"] = data["webhookSecret"]
    for key in ("startDate", "endDate"):
        if data.get(key):
            block[key] = data[key]
    for key in ("maxRuns", "pauseAfterFailures", "misfireGraceSeconds", "misfireMaxRuns"):
        raw = _text(data, key)
        if raw:
            block[key] = int(raw) if _whole(raw) else raw
    block["enabled"] = data.get("enabled") == "on"
    if data.get("concurrent"):
        block["concurrent"] = data["concurrent"]
    if data.get("misfirePolicy"):
        block["misfirePolicy"] = data["misfirePolicy"]
    for key, label in JSON_FIELDS.items():
        raw = _text(data, key)
        if not raw or (key == "filter" and kind != "event"):
            continue
        try:
            block[key] = jsoninput.load(raw, path=key)
        except jsoninput.JsonInputError as exc:
            errors.extend(
                {
                    "path": error["path"],
                    "message": f"{label} is {error['message']}" if exc.syntax else error["message"],
                }
                for error in exc.errors
            )
    return block, errors


def initial_from_block(block: dict[str, Any]) -> dict[str, Any]:
    """Form values for an existing schedule's block (dates as local wall time
    of the schedule's timezone, as a datetime-local input shows them)."""
    values: dict[str, Any] = {key: value for key, value in block.items() if key not in JSON_FIELDS}
    for key in JSON_FIELDS:
        if block.get(key):
            values[key] = json.dumps(block[key], indent=2, ensure_ascii=False)
    tz = ZoneInfo(block.get("timezone") or "UTC")
    for key in ("startDate", "endDate"):
        parsed = parse_instant(block.get(key) or "", tz)
        values[key] = parsed.astimezone(tz).strftime("%Y-%m-%dT%H:%M") if parsed else ""
    return values


CHOICES = {
    "types": spec.KINDS,
    "units": ("s", "m", "h", "ms"),
    "overlaps": (
        ("forbid", "Forbid: skip while a run is active"),
        ("allow", "Allow: run concurrently"),
        ("replace", "Replace: cancel the active run"),
    ),
    "misfires": (
        ("run-once", "Run once (one catch-up run)"),
        ("skip", "Skip missed fires"),
        ("run-all", "Run all (up to the bound)"),
    ),
    "triggers": (("api", "API call"), ("webhook", "Webhook URL")),
}
