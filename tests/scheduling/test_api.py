from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scheduling import arming
from scheduling.models import Fire, Schedule
from tests.scheduling.conftest import task_definition

pytestmark = pytest.mark.django_db


@pytest.fixture
def task(make_task):
    return make_task("api-task")


def create(api_client, **block):
    return api_client.post("/api/v1/schedules/", {"taskId": "api-task", **block}, format="json")


def test_create_list_retrieve_update_and_delete(api_client, task):
    created = create(api_client, type="cron", expression="0 */2 * * *", timezone="Asia/Shanghai")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["type"] == "cron" and body["state"] == "active" and body["concurrent"] == "forbid"
    assert body["description"] == "Every 2 hours (Asia/Shanghai)"
    assert body["nextFireAt"] and body["beatEntry"].startswith("webauto-schedule ")
    pk = body["id"]

    listed = api_client.get("/api/v1/schedules/", {"taskId": "api-task"}).json()
    assert [s["id"] for s in listed["results"]] == [pk]

    changed = api_client.patch(f"/api/v1/schedules/{pk}/", {"expression": "30 8 * * 1-5"}, format="json")
    assert changed.status_code == 200
    assert changed.json()["expression"] == "30 8 * * 1-5"
    assert changed.json()["timezone"] == "Asia/Shanghai"

    replaced = api_client.put(f"/api/v1/schedules/{pk}/", {"type": "interval", "interval": 5, "unit": "m"}, format="json")
    assert replaced.json()["interval"] == 5 and replaced.json()["timezone"] == "UTC"

    assert api_client.delete(f"/api/v1/schedules/{pk}/").status_code == 204
    assert not Schedule.objects.filter(pk=pk).exists()
    assert api_client.get(f"/api/v1/schedules/{pk}/").status_code == 404


def test_errors_come_back_with_json_paths(api_client, task):
    response = create(
        api_client, type="cron", expression="0 0 * * * *", timezone="Mars/Base", maxRuns=0,
        concurrent="sometimes", endDate="2026-01-01T00:00:00Z", startDate="2026-02-01T00:00:00Z",
    )
    assert response.status_code == 400
    paths = {e["path"]: e["message"] for e in response.json()["errors"]}
    assert set(paths) == {"expression", "timezone", "maxRuns", "concurrent", "endDate"}
    assert "5 fields" in paths["expression"]
    bad_filter = create(api_client, type="event", event="execution.failed", filter={"durationSeconds": {"greater": 3}})
    assert bad_filter.json()["errors"] == [
        {"path": "filter.durationSeconds.greater", "message": "unknown operator 'greater'; use one of eq, ne, gt, gte, lt, lte, in, nin, exists"}
    ]
    unknown_task = api_client.post("/api/v1/schedules/", {"taskId": "nope", "type": "cron", "expression": "* * * * *"}, format="json")
    assert unknown_task.json()["errors"][0]["path"] == "taskId"


def test_pause_and_resume(api_client, task):
    pk = create(api_client, type="interval", interval=1, unit="h").json()["id"]
    paused = api_client.post(f"/api/v1/schedules/{pk}/pause/", {"reason": "maintenance"}, format="json").json()
    assert (paused["state"], paused["pausedReason"], paused["nextFireAt"]) == ("paused", "maintenance", None)
    resumed = api_client.post(f"/api/v1/schedules/{pk}/resume/").json()
    assert resumed["state"] == "active" and resumed["nextFireAt"]


def test_preview_gives_the_next_fire_times_in_the_timezone(api_client, task, clock):
    clock.at(datetime(2026, 3, 7, 12, tzinfo=UTC))
    pk = create(api_client, type="cron", expression="30 2 * * *", timezone="America/New_York").json()["id"]
    preview = api_client.get(f"/api/v1/schedules/{pk}/preview/", {"count": 3}).json()
    assert preview["fireTimes"] == ["2026-03-08T07:00:00+00:00", "2026-03-09T06:30:00+00:00", "2026-03-10T06:30:00+00:00"]
    loose = api_client.get("/api/v1/schedules/preview/", {"expression": "0 9 * * 1", "timezone": "Europe/Berlin", "count": 2}).json()
    assert loose["description"] == "At 09:00, only on Monday"
    assert loose["fireTimes"] == ["2026-03-09T08:00:00+00:00", "2026-03-16T08:00:00+00:00"]
    bad = api_client.get("/api/v1/schedules/preview/", {"expression": "nope", "count": 500})
    assert bad.status_code == 400
    assert {e["path"] for e in bad.json()["errors"]} == {"expression"}
    assert api_client.get(f"/api/v1/schedules/{pk}/preview/", {"count": 0}).json()["errors"][0]["path"] == "count"


def test_history_lists_fires_newest_first_with_lag(api_client, task):
    pk = create(api_client, type="manual", trigger="api", concurrent="allow").json()["id"]
    for _ in range(2):
        assert api_client.post(f"/api/v1/schedules/{pk}/trigger/", {"input": {"x": 1}}, format="json").status_code == 202
    history = api_client.get(f"/api/v1/schedules/{pk}/history/").json()
    assert history["count"] == 2
    first = history["results"][0]
    assert first["outcome"] == "started" and first["source"] == "api" and first["lagMs"] >= 0
    assert first["executionId"]
    assert api_client.get(f"/api/v1/schedules/{pk}/history/", {"outcome": "missed"}).json()["count"] == 0
    assert Fire.objects.count() == 2


def test_a_webhook_url_is_returned_once_on_create_and_on_rotate(api_client, task):
    body = create(api_client, type="manual", trigger="webhook", webhookSecret="k").json()
    assert body["webhookUrl"].startswith("http://testserver/hooks/")
    assert body["hasWebhookSecret"] is True and "webhookSecret" not in body
    again = api_client.get(f"/api/v1/schedules/{body['id']}/").json()
    assert "webhookUrl" not in again
    rotated = api_client.post(f"/api/v1/schedules/{body['id']}/rotate-token/").json()
    assert rotated["webhookUrl"] != body["webhookUrl"]


def test_the_api_requires_authentication(client, task):
    assert client.get("/api/v1/schedules/").status_code in (401, 403)


def test_an_expression_that_never_fires_is_a_400_on_expression_in_preview_and_create(api_client, task):
    preview = api_client.get("/api/v1/schedules/preview/", {"expression": "0 0 31 2 *", "timezone": "Europe/London"})
    assert preview.status_code == 400
    [error] = preview.json()["errors"]
    assert error["path"] == "expression" and "never fires" in error["message"]
    created = create(api_client, type="cron", expression="0 0 31 2 *")
    assert created.status_code == 400
    assert [(e["path"], "never fires" in e["message"]) for e in created.json()["errors"]] == [("expression", True)]
    pk = create(api_client, type="cron", expression="0 9 * * *").json()["id"]
    edited = api_client.patch(f"/api/v1/schedules/{pk}/", {"expression": "0 9 1-7 * 5#2"}, format="json")
    assert edited.status_code == 400 and edited.json()["errors"][0]["path"] == "expression"
    assert not Schedule.objects.filter(expression__in=["0 0 31 2 *", "0 9 1-7 * 5#2"]).exists()


def test_a_stored_schedule_that_never_fires_is_served_without_a_500(api_client, task, client, admin_user):
    # Saved before the never-fires check existed: straight into the table.
    stored = Schedule.objects.create(task=task, kind="cron", expression="0 0 31 2 *", timezone="Europe/London")
    assert api_client.get(f"/api/v1/schedules/{stored.pk}/").status_code == 200
    assert api_client.get(f"/api/v1/schedules/{stored.pk}/preview/").json()["fireTimes"] == []
    client.force_login(admin_user)
    assert client.get(f"/schedules/{stored.pk}/").status_code == 200
    assert client.get("/schedules/").status_code == 200
    # Arming it (resume) finishes it instead of raising.
    resumed = api_client.post(f"/api/v1/schedules/{stored.pk}/resume/")
    assert resumed.status_code == 200
    assert (resumed.json()["state"], resumed.json()["finishedReason"]) == ("finished", "no further fire time")


def test_the_preview_describes_both_day_fields_with_or_and_warns(api_client, task, clock):
    clock.at(datetime(2026, 11, 30, 12, tzinfo=UTC))
    body = api_client.get(
        "/api/v1/schedules/preview/", {"expression": "0 9 1-7 * 1", "timezone": "UTC", "count": 12}
    ).json()
    assert body["description"] == "At 09:00, between day 1 and 7 of the month, or on Monday"
    assert "EITHER" in body["warnings"][0]
    december = [t[:10] for t in body["fireTimes"] if t.startswith("2026-12")]
    # Days 1-7 and the Mondays after them: what the description says, and what fires.
    assert december == [f"2026-12-{d:02d}" for d in (1, 2, 3, 4, 5, 6, 7, 14, 21, 28)]
    assert api_client.get("/api/v1/schedules/preview/", {"expression": "0 9 * * 1"}).json()["warnings"] == []


def test_deleting_a_schedule_from_a_task_definition_is_refused_with_a_pointer_to_pause(api_client, make_task):
    definition_task = make_task("defined-task", schedule={"type": "cron", "expression": "0 * * * *"})
    schedule = Schedule.objects.get(task=definition_task)
    response = api_client.delete(f"/api/v1/schedules/{schedule.pk}/")
    assert response.status_code == 409
    [error] = response.json()["errors"]
    assert f"/api/v1/schedules/{schedule.pk}/pause/" in error["message"] and "'schedule'" in error["message"]
    assert Schedule.objects.filter(pk=schedule.pk).exists()
    schedule.refresh_from_db()
    assert arming.is_armed(schedule)  # still armed: nothing half-done


def test_a_paused_definition_schedule_stays_paused_through_task_patches(api_client, make_task):
    make_task("patched-task", schedule={"type": "cron", "expression": "0 * * * *"})
    pk = Schedule.objects.get(task__task_id="patched-task").pk
    assert api_client.post(f"/api/v1/schedules/{pk}/pause/").status_code == 200
    assert api_client.patch("/api/v1/tasks/patched-task/", {"description": "new words"}, format="json").status_code == 200
    assert api_client.patch("/api/v1/tasks/patched-task/", {"enabled": False}, format="json").status_code == 200
    assert api_client.patch("/api/v1/tasks/patched-task/", {"enabled": True}, format="json").status_code == 200
    assert list(Schedule.objects.filter(task__task_id="patched-task").values_list("pk", "enabled")) == [(pk, False)]
    # Removing the block is what unschedules it.
    assert api_client.patch("/api/v1/tasks/patched-task/", {"schedule": None}, format="json").status_code == 200
    assert not Schedule.objects.filter(task__task_id="patched-task").exists()


def test_a_task_definition_whose_schedule_never_fires_is_a_400_on_schedule_expression(api_client):
    definition = task_definition("never-task", schedule={"type": "cron", "expression": "0 0 31 2 *"})
    response = api_client.post("/api/v1/tasks/", definition, format="json")
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["path"] == "schedule.expression" and "never fires" in error["message"]
    assert api_client.get("/api/v1/tasks/never-task/").status_code == 404


def test_whole_number_floats_in_a_schedule_block_are_taken_as_ints(api_client, task):
    # JSON Schema counts 60.0 as an integer (the published block schema accepts
    # it), so the API takes it too and stores 60.
    created = create(api_client, type="interval", interval=60.0, unit="s", maxRuns=3.0)
    assert created.status_code == 201, created.json()
    schedule = Schedule.objects.get(pk=created.json()["id"])
    assert schedule.interval_ms == 60000 and type(schedule.max_runs) is int and schedule.max_runs == 3
