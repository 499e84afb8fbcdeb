"""Query parameters and form fields of the scheduling API and pages that a
client fills with anything: refused with a 4xx naming the field, never a 500.
("²" passes str.isdigit() but int() refuses it; "2026-13-45T10:00" is well
formed but not a date, so Django's parse_datetime raises.)"""

from __future__ import annotations

import pytest
from django.test import Client

from orchestration.models import Task
from scheduling.models import Schedule
from tests.scheduling.conftest import task_definition

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(admin_user):
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    return client


def test_a_preview_count_that_is_not_ascii_digits_is_a_400(api_client):
    for count in ("\u00b2", "\u0663", "1.5"):
        response = api_client.get("/api/v1/schedules/preview/", {"expression": "*/5 * * * *", "count": count})
        assert response.status_code == 400
        assert response.json()["errors"][0]["path"] == "count"


def test_a_schedule_id_that_is_not_ascii_digits_is_a_404(api_client):
    assert api_client.get("/api/v1/schedules/\u00b2/").status_code == 404


@pytest.mark.parametrize("value", ["2026-13-45T10:00:00", "2026-02-30T08:00"])
def test_an_impossible_start_date_is_a_400_on_the_field(api_client, make_task, value):
    make_task("api-task")
    response = api_client.post(
        "/api/v1/schedules/",
        {"taskId": "api-task", "type": "cron", "expression": "0 9 * * *", "startDate": value},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "startDate"
    assert not Schedule.objects.exists()


def test_the_form_refuses_odd_digits_and_impossible_dates(logged_in, make_task):
    make_task("form-task")
    for fields in (
        {"type": "interval", "interval": "\u00b2", "unit": "s"},
        {"type": "cron", "expression": "0 9 * * *", "maxRuns": "\u00b2"},
        {"type": "cron", "expression": "0 9 * * *", "startDate": "2026-13-45T10:00"},
    ):
        response = logged_in.post("/schedules/new/", {"taskId": "form-task", **fields})
        assert response.status_code == 200
    assert not Schedule.objects.exists()


def test_a_task_schedule_timezone_too_long_for_a_file_name_is_a_400(api_client):
    doc = task_definition("tz-task", schedule={"type": "cron", "expression": "0 9 * * *", "timezone": "x" * 300})
    response = api_client.post("/api/v1/tasks/", doc, format="json")
    assert response.status_code == 400
    assert any(e["path"] == "schedule.timezone" for e in response.json()["errors"])
    assert not Task.objects.exists()


def test_the_task_page_ignores_an_execution_id_that_is_not_ascii_digits(logged_in, make_task):
    task = make_task("page-task")
    assert logged_in.get(f"/tasks/{task.task_id}/", {"execution": "\u00b2"}).status_code == 200


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"type": "deploy.done", "source": "ci\u0000"}, "source"),
        ({"type": "deploy.done", "data": {"k": ["ok", "a\u0000b"]}}, "data.k[1]"),
        ({"type": "deploy.done", "data": {"k\u0000": 1}}, "data.k\\u0000"),  # the NUL shown escaped
    ],
)
def test_an_event_with_a_nul_character_is_a_400_on_its_path(api_client, body, path):
    api_client.raise_request_exception = False
    response = api_client.post("/api/v1/schedules/events/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == path


@pytest.fixture
def webhook_url(make_task):
    from scheduling import services

    schedule = services.schedule_create(task=make_task(), block={"type": "manual", "trigger": "webhook"})
    return schedule, f"/hooks/{schedule.new_webhook_token}/"


@pytest.mark.parametrize(
    ("data", "content_type", "path"),
    [
        ('{"k": "\\u0000"}', "application/json", "body.k"),
        ("a\x00b", "text/plain", "body.body"),
        ("k=%00", "application/x-www-form-urlencoded", "body.k"),
    ],
)
def test_a_webhook_body_with_a_nul_character_is_a_400(webhook_url, data, content_type, path):
    from scheduling.models import Fire

    schedule, url = webhook_url
    response = Client(raise_request_exception=False).post(url, data=data, content_type=content_type)
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == path
    assert not Fire.objects.exists()


def test_an_idempotency_key_with_control_characters_is_a_400(webhook_url, api_client):
    schedule, url = webhook_url
    hook = Client(raise_request_exception=False).post(
        url, data="{}", content_type="application/json", headers={"Idempotency-Key": "a\x00b"}
    )
    assert hook.status_code == 400
    assert hook.json()["errors"][0]["path"] == "headers.Idempotency-Key"
    manual = api_client.post(
        "/api/v1/schedules/",
        {"taskId": schedule.task.task_id, "type": "manual", "trigger": "api"},
        format="json",
    ).json()
    api_client.raise_request_exception = False
    trigger = f"/api/v1/schedules/{manual['id']}/trigger/"
    refused = api_client.post(trigger, {}, format="json", headers={"Idempotency-Key": "a\x00b"})
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["path"] == "headers.Idempotency-Key"
    nul_input = api_client.post(trigger, {"input": {"k": "\u0000"}}, format="json")
    assert nul_input.status_code == 400
    assert nul_input.json()["errors"][0]["path"] == "input.k"


@pytest.mark.parametrize(
    ("text", "message"),
    [("[" * 50000 + "]" * 50000, "nested too deeply"), ('{"k": "\\ud800"}', "lone surrogate")],
)
def test_the_form_refuses_json_input_nested_too_deeply_or_with_a_lone_surrogate(logged_in, make_task, text, message):
    make_task("form-task")
    response = logged_in.post(
        "/schedules/new/", {"taskId": "form-task", "type": "cron", "expression": "0 9 * * *", "input": text}
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Schedule.objects.exists()
