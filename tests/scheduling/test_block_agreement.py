"""One schedule block, one verdict: the task API (create and patch), a
template's instantiate options and the schedules API accept and refuse the
same blocks with the same messages, and make the same schedule."""

from __future__ import annotations

from typing import Any

import pytest

from scheduling import spec
from scheduling.models import Schedule
from tests.scheduling.conftest import task_definition

pytestmark = pytest.mark.django_db

TEMPLATE = {
    "id": "agreement-template",
    "name": "Agreement",
    "workflows": [{"id": "only", "name": "only", "workflow": "echo", "config": {"output": {"ok": True}}}],
}

BLOCKS = [
    pytest.param({"type": "cron", "expression": "@hourly"}, id="cron macro"),
    pytest.param({"type": "cron", "expression": "0 9 1-7 * 1", "timezone": "Europe/London"}, id="cron both day fields"),
    pytest.param({"type": "cron", "expression": "0 0 31 2 *"}, id="cron never fires"),
    pytest.param({"type": "cron", "expression": "* * * *"}, id="cron four fields"),
    pytest.param({"type": "cron", "expression": "0 9 * * *", "timezone": "Mars/Olympus"}, id="unknown timezone"),
    pytest.param({"type": "interval", "interval": 0.5, "unit": "h"}, id="fractional interval"),
    pytest.param({"type": "interval", "interval": 30, "unit": "m"}, id="interval"),
    pytest.param({"type": "interval", "interval": 500, "unit": "ms"}, id="interval under a second"),
    pytest.param({"type": "interval", "interval": True}, id="boolean interval"),
    pytest.param({"type": "interval", "interval": 10**15, "unit": "h"}, id="interval past the column"),
    pytest.param({"type": "cron", "expression": "0 0 * * *", "maxRuns": 10**12}, id="maxRuns past the column"),
    pytest.param({"type": "event", "event": "execution.failed", "filter": {"status": {"in": ["failed"]}}}, id="event"),
    pytest.param({"type": "event", "event": "execution.failed", "filter": {"x": {"greater": 1}}}, id="bad filter"),
    pytest.param({"type": "manual", "trigger": "email"}, id="bad trigger"),
    pytest.param({"type": "cron", "expression": "0 9 * * *", "colour": "red"}, id="unknown field"),
    pytest.param({"type": "cron", "expression": "0 9 * * *", "maxRuns": 0, "concurrent": "sometimes"}, id="bad common fields"),
    pytest.param({"type": "hourly"}, id="unknown type"),
    # Found by the API fuzz run: a value of the wrong type for each key the parser maps.
    pytest.param({"type": "cron", "expression": "0 9 * * *", "concurrent": {}, "timezone": []}, id="unhashable values"),
    pytest.param({"type": "interval", "interval": "5", "unit": {}, "startDate": 5}, id="wrongly typed interval"),
]


def _verdict(response: Any, prefix: str, task_id: str) -> tuple[int, Any]:
    """(status, problems relative to the block) or (status, the schedule made, as a block)."""
    if response.status_code >= 400:
        problems = sorted(
            (e["path"].removeprefix(prefix).lstrip("."), e["message"]) for e in response.json()["errors"]
        )
        return response.status_code, problems
    return response.status_code // 100 * 100, spec.to_block(Schedule.objects.get(task__task_id=task_id))


def through_task_create(api_client: Any, block: dict[str, Any]) -> tuple[int, Any]:
    response = api_client.post("/api/v1/tasks/", task_definition("via-task", schedule=block), format="json")
    return _verdict(response, "schedule", "via-task")


def through_task_patch(api_client: Any, block: dict[str, Any]) -> tuple[int, Any]:
    assert api_client.post("/api/v1/tasks/", task_definition("via-patch"), format="json").status_code == 201
    response = api_client.patch("/api/v1/tasks/via-patch/", {"schedule": block}, format="json")
    return _verdict(response, "schedule", "via-patch")


def through_template(api_client: Any, block: dict[str, Any]) -> tuple[int, Any]:
    assert api_client.post("/api/v1/templates/", TEMPLATE, format="json").status_code == 201
    response = api_client.post(
        "/api/v1/templates/agreement-template/instantiate/",
        {"taskId": "via-template", "options": {"schedule": block}},
        format="json",
    )
    return _verdict(response, "options.schedule", "via-template")


def through_schedules_api(api_client: Any, block: dict[str, Any]) -> tuple[int, Any]:
    assert api_client.post("/api/v1/tasks/", task_definition("via-schedules"), format="json").status_code == 201
    response = api_client.post("/api/v1/schedules/", {"taskId": "via-schedules", **block}, format="json")
    return _verdict(response, "", "via-schedules")


@pytest.mark.parametrize("block", BLOCKS)
def test_every_entry_point_gives_the_same_verdict_on_a_schedule_block(api_client, block):
    verdicts = {
        "task API create": through_task_create(api_client, block),
        "task API patch": through_task_patch(api_client, block),
        "template instantiate": through_template(api_client, block),
        "schedules API": through_schedules_api(api_client, block),
    }
    reference = verdicts["schedules API"]
    assert reference[0] in (200, 400), reference  # a verdict, never a 500
    assert verdicts == dict.fromkeys(verdicts, reference)


def test_the_cases_from_the_issue_get_the_expected_verdicts(api_client):
    status, made = through_task_create(api_client, {"type": "cron", "expression": "@hourly"})
    assert status == 200 and made["expression"] == "@hourly"
    status, problems = through_schedules_api(api_client, {"type": "interval", "interval": 0.5})
    assert status == 400 and [path for path, _ in problems] == ["interval"]
    assert "whole number" in problems[0][1]


@pytest.mark.parametrize("unit", ["ms", "s", "m", "h", None])
def test_the_schemas_interval_bounds_are_the_timing_modules(unit):
    """The bounds of an interval live in the block schema, one clause per
    unit; they are timing.MIN_INTERVAL_MS and MAX_INTERVAL_MS in every unit."""
    from scheduling import timing

    per = timing.INTERVAL_UNITS_MS[unit or "ms"]
    lowest, highest = -(-timing.MIN_INTERVAL_MS // per), timing.MAX_INTERVAL_MS // per

    def verdict(interval: int) -> list[dict[str, str]]:
        block = {"type": "interval", "interval": interval, **({"unit": unit} if unit else {})}
        return spec.parse_block(block, "schedule").errors

    assert verdict(lowest) == [] and verdict(highest) == []
    assert verdict(highest + 1) == [
        {"path": "schedule.interval", "message": "interval must be at most 366 days (use a cron schedule for longer periods)"}
    ]
    below = verdict(lowest - 1)
    if lowest > 1:
        assert below == [{"path": "schedule.interval", "message": "interval must be at least 1 second"}]
    else:  # 0 of any unit from a second up is refused as not positive
        assert [e["path"] for e in below] == ["schedule.interval"]
