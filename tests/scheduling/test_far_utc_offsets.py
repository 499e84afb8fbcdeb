"""Adversarial check (review of issue 13, point 8: client input never
causes a 500, and a refusal names what is wrong). ISO 8601 and Python
accept UTC offsets up to +/-23:59; PostgreSQL's timestamptz only up to
+/-15:59. A date-time with such an offset (``+20:00``) is parsed, handed
to the database as is, and fails there (``time zone displacement out of
range``): a 500 on the schedule form, and a 400 that names no field ("a
value is out of range or not valid here", path "") on the schedules API
and a task's schedule block (the events page and API: see
tests/monitoring/test_out_of_range_dates.py).

A fix may convert to UTC before the database sees the value (the offset is
legal) or refuse it on the field; both pass."""

from __future__ import annotations

import pytest

from scheduling.models import Schedule
from tests.scheduling.conftest import task_definition

FAR = "2027-01-01T00:00:00+20:00"


@pytest.fixture
def logged_in(client, admin_user):
    client.force_login(admin_user)
    return client


def _accepted_or_named(response, path: str) -> bool:
    if response.status_code in (200, 201):
        return True
    return response.status_code == 400 and any(e["path"] == path for e in response.json()["errors"])


@pytest.mark.django_db
def test_the_schedule_form_with_a_far_offset_is_not_a_500(logged_in, make_task):
    make_task("b3-far-form")
    response = logged_in.post("/schedules/new/", {
        "taskId": "b3-far-form", "type": "cron", "expression": "0 9 * * *", "timezone": "UTC",
        "concurrent": "forbid", "misfirePolicy": "run-once", "misfireGraceSeconds": "60", "enabled": "on",
        "startDate": FAR,
    })
    assert response.status_code in (200, 302)


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["startDate", "endDate"])
def test_the_schedules_api_with_a_far_offset_answers_or_names_the_field(api_client, make_task, field):
    make_task("b3-far-api")
    response = api_client.post("/api/v1/schedules/", {
        "taskId": "b3-far-api", "type": "cron", "expression": "0 9 * * *", field: FAR}, format="json")
    assert _accepted_or_named(response, field), response.json()


@pytest.mark.django_db
def test_a_task_schedule_block_with_a_far_offset_answers_or_names_the_field(api_client):
    response = api_client.post("/api/v1/tasks/", task_definition(
        "b3-far-task", schedule={"type": "cron", "expression": "0 9 * * *", "startDate": FAR}), format="json")
    assert _accepted_or_named(response, "schedule.startDate"), response.json()
    if response.status_code == 201:
        assert Schedule.objects.get(task__task_id="b3-far-task").start_at is not None
