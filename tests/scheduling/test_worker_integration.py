"""Event schedules, auto-pause and overlap replace against a real worker: the
event_recorded receiver enqueues, the worker fires, the engine runs the nodes."""

from __future__ import annotations

import pytest
from django.db import transaction

from orchestration import events
from orchestration.models import Execution, ExecutionStatus
from scheduling import services
from scheduling.models import Fire, Schedule
from tests.conftest import wait_for
from tests.scheduling.conftest import task_definition

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_matching_event_starts_the_task_with_the_event_as_input(celery_worker, make_task):
    listener = services.schedule_create(
        task=make_task("on-failure"),
        block={"type": "event", "event": "execution.*", "filter": {"status": {"in": ["failed", "timed_out"]}, "durationSeconds": {"gt": 10}}},
    )
    watched = make_task("watched")
    with transaction.atomic():
        matching = events.emit("execution.failed", task=watched, data={"status": "failed", "durationSeconds": 12})
        events.emit("execution.failed", task=watched, data={"status": "failed", "durationSeconds": 2})
        events.emit("workflow.failed", task=watched, data={"status": "completed", "durationSeconds": 99})
    fire = wait_for(lambda: Fire.objects.filter(schedule=listener).first(), timeout=30)
    execution = wait_for(
        lambda: Execution.objects.filter(pk=fire.execution_id, status=ExecutionStatus.COMPLETED).first(), timeout=30
    )
    assert (fire.outcome, fire.source, fire.event_id) == ("started", "event", matching.pk)
    assert execution.trigger == "event"
    assert execution.input["event"]["data"] == {"status": "failed", "durationSeconds": 12}
    assert execution.input["event"]["taskId"] == "watched"
    assert Fire.objects.filter(schedule=listener).count() == 1


def test_an_external_event_posted_to_the_api_starts_matching_schedules(celery_worker, make_task, api_client):
    schedule = services.schedule_create(
        task=make_task("deploy-check"), block={"type": "event", "event": "deploy.finished", "filter": {"env": "prod"}}
    )
    response = api_client.post("/api/v1/schedules/events/", {"type": "deploy.finished", "data": {"env": "prod"}, "source": "ci"}, format="json")
    api_client.post("/api/v1/schedules/events/", {"type": "deploy.finished", "data": {"env": "staging"}}, format="json")
    fire = wait_for(lambda: Fire.objects.filter(schedule=schedule).first(), timeout=30)
    assert fire.event_id == response.json()["id"]
    wait_for(lambda: Execution.objects.filter(pk=fire.execution_id, status=ExecutionStatus.COMPLETED).exists(), timeout=30)
    assert Fire.objects.filter(schedule=schedule).count() == 1


def test_it_auto_pauses_after_consecutive_real_failures(celery_worker):
    from orchestration import services as core

    task = core.task_create(definition=task_definition(
        "always-fails",
        workflows=[{"id": "boom", "name": "boom", "workflow": "test-fail-until", "config": {"succeedOnAttempt": 0}}],
    ))
    schedule = services.schedule_create(task=task, block={"type": "manual", "trigger": "api", "pauseAfterFailures": 2})
    for _ in range(2):
        fire = services.schedule_trigger(schedule=schedule, input={})
        wait_for(lambda f=fire: Fire.objects.get(pk=f.pk).execution_status == "failed", timeout=30)
    schedule.refresh_from_db()
    assert schedule.state == "paused"
    assert "auto-paused after 2 consecutive failed runs" in schedule.paused_reason


def test_overlap_replace_cancels_a_really_running_execution(celery_worker):
    from orchestration import services as core

    task = core.task_create(definition=task_definition(
        "slow", workflows=[{"id": "wait", "name": "wait", "workflow": "delay", "config": {"seconds": 30}}],
    ))
    schedule = services.schedule_create(task=task, block={"type": "manual", "trigger": "api", "concurrent": "replace"})
    first = services.schedule_trigger(schedule=schedule, input={})
    wait_for(lambda: first.execution.node_runs.filter(status="running").exists(), timeout=30)
    second = services.schedule_trigger(schedule=schedule, input={})
    assert second.detail == f"replaced #{first.execution_id}"
    wait_for(lambda: Execution.objects.get(pk=first.execution_id).status == ExecutionStatus.CANCELLED, timeout=30)
    Execution.objects.get(pk=second.execution_id)
    core.execution_cancel(execution_id=second.execution_id, reason="test over")
    assert Schedule.objects.get(pk=schedule.pk).state == "active"
