"""The one parser of client date-times (``orchestration.instants``): every
value reaches the database in UTC, so an offset PostgreSQL refuses (past
+/-15:59, legal in ISO 8601 up to +/-23:59) is the instant it names; a value
whose UTC equivalent is outside years 1-9999 is a 400 naming its field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from orchestration.instants import parse_instant
from orchestration.models import Event
from scheduling.models import Schedule

FAR = "2027-01-01T00:00:00+20:00"
FAR_UTC = datetime(2026, 12, 31, 4, 0, tzinfo=UTC)
BEYOND = "9999-12-31T23:59:59-23:59"  # 10000-01-01 in UTC


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (FAR, FAR_UTC),
        ("2027-01-01T00:00:00-23:59", datetime(2027, 1, 1, 23, 59, tzinfo=UTC)),
        ("2027-01-01T08:00:00Z", datetime(2027, 1, 1, 8, 0, tzinfo=UTC)),
        ("2027-01-01T08:00", datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),  # naive: read in +08:00 below
    ],
)
def test_every_value_comes_back_in_utc(raw, expected):
    parsed = parse_instant(raw, timezone(timedelta(hours=8)))
    assert parsed == expected
    assert parsed is not None and parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("raw", [BEYOND, "0001-01-01T00:00:00+01:00", "2027-13-01T00:00", "soon", "", None, 5])
def test_what_is_no_representable_instant_is_none(raw):
    assert parse_instant(raw) is None


@pytest.mark.django_db
def test_the_events_api_finds_events_by_the_instant_a_far_offset_names(api_client, make_task):
    task = make_task("instants-events", [{"id": "only", "workflow": "echo"}])
    event = Event.objects.create(type="execution.started", task=task, data={})
    Event.objects.filter(pk=event.pk).update(created_at=FAR_UTC + timedelta(minutes=1))
    ids = [e["id"] for e in api_client.get("/api/v1/events/", {"since": FAR, "task": "instants-events"}).json()["results"]]
    assert event.pk in ids
    ids = [e["id"] for e in api_client.get("/api/v1/events/", {"until": FAR, "task": "instants-events"}).json()["results"]]
    assert event.pk not in ids


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "name"), [
    ("/api/v1/events/", "since"),
    ("/api/v1/events/", "until"),
    ("/api/v1/resources/history/", "start"),
    ("/api/v1/resources/analysis/", "end"),
])
def test_a_date_time_beyond_year_9999_in_utc_is_a_400_naming_the_parameter(api_client, url, name):
    response = api_client.get(url, {name: BEYOND})
    assert response.status_code == 400
    assert [e["path"] for e in response.json()["errors"]] == [name]


@pytest.mark.django_db
def test_a_schedule_stores_the_instant_of_a_far_offset(api_client, make_task):
    make_task("instants-schedule", [{"id": "only", "workflow": "echo"}])
    response = api_client.post("/api/v1/schedules/", {
        "taskId": "instants-schedule", "type": "cron", "expression": "0 9 * * *", "startDate": FAR}, format="json")
    assert response.status_code == 201, response.json()
    assert Schedule.objects.get(task__task_id="instants-schedule").start_at == FAR_UTC


@pytest.mark.django_db
def test_a_schedule_date_beyond_year_9999_names_the_field(api_client, make_task):
    make_task("instants-beyond", [{"id": "only", "workflow": "echo"}])
    response = api_client.post("/api/v1/schedules/", {
        "taskId": "instants-beyond", "type": "cron", "expression": "0 9 * * *", "endDate": BEYOND}, format="json")
    assert response.status_code == 400
    assert [e["path"] for e in response.json()["errors"]] == ["endDate"]


@pytest.mark.django_db
def test_the_events_page_shows_a_date_beyond_year_9999_as_a_field_error(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/events/", {"since": BEYOND})
    assert response.status_code == 200
    assert response.context["form"].errors["since"]
