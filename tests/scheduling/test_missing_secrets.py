"""A scheduled (or webhook) fire of a task whose secret was never stored is
recorded as failed-to-start with the reason, and starts once the secret
exists; an operator's trigger (API, "Run now") is refused with 409 instead,
as execute is."""

from __future__ import annotations

from datetime import UTC, datetime

from django.urls import reverse

from orchestration import services as core
from orchestration.models import Execution, Secret
from scheduling import services
from scheduling.models import Schedule
from tests.scheduling.conftest import task_definition


def test_a_fire_without_its_secret_fails_to_start_with_the_reason(db, clock):
    clock.at(datetime(2026, 6, 1, 0, 0, tzinfo=UTC))
    definition = task_definition("needs-token")
    definition["workflows"][0]["config"] = {"output": {"auth": "Bearer ${deployToken}"}}
    task = core.task_create(definition=definition)
    schedule = services.schedule_create(task=task, block={"type": "interval", "interval": 10, "unit": "m"})
    clock.at(schedule.next_fire_at)
    [fire] = services.schedule_fire_due(schedule_id=schedule.pk)
    assert fire.outcome == "failed-to-start"
    assert "SecretsMissing" in fire.detail and "deployToken" in fire.detail
    assert not Execution.objects.exists()

    Secret.objects.create(name="deployToken", value="a-long-enough-token")
    schedule.refresh_from_db()
    clock.at(schedule.next_fire_at)
    [fire] = services.schedule_fire_due(schedule_id=schedule.pk)
    assert fire.outcome == "started" and fire.execution_id is not None


def _needs_secret_schedule(make_task_id: str) -> Schedule:
    definition = task_definition(make_task_id)
    definition["workflows"][0]["config"] = {"output": {"auth": "Bearer ${triggerToken}"}}
    task = core.task_create(definition=definition)
    return services.schedule_create(task=task, block={"type": "manual", "trigger": "api"})


def test_triggering_without_its_secret_is_a_409_naming_it_like_execute(db, api_client):
    schedule = _needs_secret_schedule("trigger-needs-token")
    url = f"/api/v1/schedules/{schedule.pk}/trigger/"
    response = api_client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    execute = api_client.post("/api/v1/tasks/trigger-needs-token/execute/", {}, format="json")
    assert response.status_code == 409 and execute.status_code == 409
    assert "triggerToken" in response.json()["errors"][0]["message"]
    assert response.json() == execute.json()
    # Refused before anything is written: no fire, no run, the key is still free.
    assert not schedule.fires.exists() and not Execution.objects.exists()

    Secret.objects.create(name="triggerToken", value="a-long-enough-token")
    response = api_client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert response.status_code == 202 and response.json()["fire"]["outcome"] == "started"


def test_run_now_on_the_page_shows_the_missing_secret(db, client, admin_user):
    schedule = _needs_secret_schedule("page-needs-token")
    client.force_login(admin_user)
    page = client.post(f"/schedules/{schedule.pk}/run/", follow=True).content.decode()
    assert "triggerToken" in page and "not exist" in page
    assert not schedule.fires.exists()


def test_a_webhook_fire_without_its_secret_is_still_recorded_as_failed_to_start(db, client):
    schedule = _needs_secret_schedule("hook-needs-token")
    schedule = services.schedule_update(schedule=schedule, block={"type": "manual", "trigger": "webhook"})
    token = schedule.new_webhook_token
    response = client.post(reverse("scheduling:webhook", args=[token]), {}, content_type="application/json")
    fire = schedule.fires.get()
    assert fire.outcome == "failed-to-start" and "triggerToken" in fire.detail
    assert response.status_code < 500
