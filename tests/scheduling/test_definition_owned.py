"""A schedule that comes from a task's ``schedule`` block is owned by the task's
definition: the API, the pages and the admin refuse to change its settings
(as they refuse to delete it) and still let an operator pause and resume it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from orchestration.definition_export import task_to_definition
from orchestration.models import Task
from scheduling.models import Schedule

pytestmark = pytest.mark.django_db

WEBHOOK = {"type": "manual", "trigger": "webhook"}


@pytest.fixture
def from_definition(make_task) -> Schedule:
    return Schedule.objects.get(task=make_task("s5", schedule=WEBHOOK))


def _unchanged(schedule: Schedule) -> None:
    schedule.refresh_from_db()
    assert (schedule.kind, schedule.manual_trigger, schedule.expression) == ("manual", "webhook", "")
    assert task_to_definition(Task.objects.get(task_id="s5"))["schedule"] == WEBHOOK


def test_put_of_a_definition_schedule_is_refused_like_delete(api_client, from_definition):
    url = f"/api/v1/schedules/{from_definition.pk}/"
    assert api_client.delete(url).status_code == 409
    response = api_client.put(url, {"taskId": "s5", "type": "cron", "expression": "0 3 * * *"}, format="json")
    assert response.status_code == 409
    [error] = response.json()["errors"]
    message = error["message"]
    assert "task's definition" in message and "/api/v1/tasks/s5/" in message
    _unchanged(from_definition)


def test_patch_of_a_definition_schedule_setting_is_refused(api_client, from_definition):
    url = f"/api/v1/schedules/{from_definition.pk}/"
    for change in ({"type": "cron", "expression": "0 3 * * *"}, {"rateLimitPerMinute": 5}, {"maxRuns": 3}):
        assert api_client.patch(url, change, format="json").status_code == 409, change
    _unchanged(from_definition)


def test_pause_and_resume_of_a_definition_schedule_stay_allowed(api_client, from_definition):
    url = f"/api/v1/schedules/{from_definition.pk}/"
    assert api_client.patch(url, {"enabled": False}, format="json").status_code == 200
    assert Schedule.objects.get(pk=from_definition.pk).enabled is False
    assert api_client.post(f"{url}resume/").status_code == 200
    assert api_client.post(f"{url}pause/").status_code == 200
    assert Schedule.objects.get(pk=from_definition.pk).state == "paused"
    _unchanged(from_definition)


def test_an_api_schedule_can_still_be_rewritten(api_client, make_task):
    make_task("plain")
    created = api_client.post("/api/v1/schedules/", {"taskId": "plain", **WEBHOOK}, format="json").json()
    response = api_client.put(
        f"/api/v1/schedules/{created['id']}/", {"type": "cron", "expression": "0 3 * * *"}, format="json"
    )
    assert response.status_code == 200 and response.json()["expression"] == "0 3 * * *"


def test_editing_the_task_definition_still_changes_its_schedule(api_client, from_definition):
    response = api_client.patch(
        "/api/v1/tasks/s5/", {"schedule": {"type": "cron", "expression": "0 3 * * *"}}, format="json"
    )
    assert response.status_code == 200, response.content
    from_definition.refresh_from_db()
    assert (from_definition.kind, from_definition.expression) == ("cron", "0 3 * * *")


def test_the_edit_page_says_why_and_refuses_the_change(client, admin_user, from_definition):
    client.force_login(admin_user)
    url = f"/schedules/{from_definition.pk}/edit/"
    assert 'id="definition-hint"' in client.get(url).content.decode()
    form = {
        "type": "cron", "expression": "0 3 * * *", "timezone": "UTC", "enabled": "on",
        "concurrent": "forbid", "misfirePolicy": "run-once",
    }
    response = client.post(url, form)
    assert response.status_code == 200
    assert "change its settings by editing the task&#x27;s definition" in response.content.decode()
    _unchanged(from_definition)


def test_the_admin_shows_definition_settings_read_only_but_lets_pause(client, admin_user, from_definition):
    client.force_login(admin_user)
    url = reverse("admin:scheduling_schedule_change", args=[from_definition.pk])
    page = client.get(url).content.decode()
    assert 'name="kind"' not in page and 'name="expression"' not in page
    assert 'name="enabled"' in page and "webhook_secret" not in page
    # Posting new timing is ignored (read-only), the pause is kept.
    response = client.post(url, {"kind": "cron", "expression": "0 3 * * *", "paused_reason": "by admin"})
    assert response.status_code == 302
    _unchanged(from_definition)
    assert from_definition.enabled is False and from_definition.paused_reason == "by admin"


def test_patching_enabled_alone_is_no_change_even_for_settings_without_effect(api_client, make_task):
    # misfireMaxRuns without run-all has no effect and is left out of the schedule's
    # own block; a PATCH of enabled alone must not read that as a change.
    block = {"type": "interval", "interval": 1, "unit": "h", "misfireMaxRuns": 5, "rateLimitPerMinute": 7}
    schedule = Schedule.objects.get(task=make_task("quiet", schedule=block))
    response = api_client.patch(f"/api/v1/schedules/{schedule.pk}/", {"enabled": False}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["enabled"] is False
