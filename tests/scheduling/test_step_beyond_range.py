"""Adversarial check (review of issue 13, point 3: the description, the
preview and the fires must agree). A cron step larger than its field's
range (``*/90`` minutes, ``*/25`` hours, ``*/40`` days) does not repeat
every N units: cron restarts the step at every hour, day or month, so
``*/90 * * * *`` fires at minute 0 of every hour. Today the description
says "Every 90 minutes" with no warning, in the preview, on the schedules
API and for a task definition's block. The fix may refuse such a step (400
on ``expression``) or describe what it does and warn; both pass."""

from __future__ import annotations

import pytest

from tests.scheduling.conftest import task_definition

CASES = [
    ("*/90 * * * *", "90 minutes"),
    ("0 */25 * * *", "25 hours"),
    ("0 0 */40 * *", "40 days"),
]


def _honest(status: int, body: dict, claim: str) -> bool:
    if status == 400:
        return any(e.get("path", "").endswith("expression") for e in body.get("errors", []))
    return claim not in body.get("description", "") and bool(body.get("warnings"))


@pytest.mark.django_db
@pytest.mark.parametrize(("expression", "claim"), CASES)
def test_a_step_longer_than_its_field_is_not_described_as_that_period(api_client, expression, claim):
    response = api_client.get("/api/v1/schedules/preview/", {"expression": expression, "timezone": "UTC", "count": 3})
    body = response.json()
    assert _honest(response.status_code, body, claim), body


@pytest.mark.django_db
def test_the_schedules_api_and_a_task_block_say_the_same_about_a_long_step(api_client, make_task):
    make_task("b3-step")
    created = api_client.post("/api/v1/schedules/", {"taskId": "b3-step", "type": "cron", "expression": "*/90 * * * *"},
                              format="json")
    assert _honest(created.status_code, created.json(), "90 minutes"), created.json()
    defined = api_client.post(
        "/api/v1/tasks/", task_definition("b3-step-def", schedule={"type": "cron", "expression": "*/90 * * * *"}),
        format="json",
    )
    if defined.status_code == 400:
        assert any(e["path"] == "schedule.expression" for e in defined.json()["errors"])
    else:
        listed = api_client.get("/api/v1/schedules/", {"taskId": "b3-step-def"}).json()["results"]
        assert listed and "90 minutes" not in listed[0]["description"], listed
