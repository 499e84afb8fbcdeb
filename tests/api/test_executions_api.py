from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from orchestration.definition_export import definition_to_fields
from orchestration.models import Execution, NodeRun, Secret, Task

pytestmark = pytest.mark.django_db

EXECUTIONS = "/api/v1/executions/"


@pytest.fixture
def task(make_definition):
    return Task.objects.create(**definition_to_fields(make_definition()))


@pytest.fixture
def other_task(make_definition):
    return Task.objects.create(**definition_to_fields(make_definition(taskId="other-task")))


def make_execution(task, status="completed", **fields):
    now = timezone.now()
    execution = Execution.objects.create(
        task=task,
        status=status,
        definition={"workflows": task.workflows},
        started_at=now - timedelta(seconds=5),
        finished_at=now if status in ("completed", "failed", "cancelled") else None,
        **fields,
    )
    return execution


def test_anonymous_requests_are_refused(task):
    execution = make_execution(task)
    client = APIClient()
    assert client.get(EXECUTIONS).status_code == 401
    assert client.get(f"{EXECUTIONS}{execution.pk}/").status_code == 401
    assert client.post(f"{EXECUTIONS}{execution.pk}/cancel/").status_code == 401


def test_list_filters_by_task_and_status_newest_first(api_client, task, other_task):
    a = make_execution(task, "completed")
    b = make_execution(task, "failed")
    c = make_execution(other_task, "failed")
    d = make_execution(task, "timed_out")

    def ids(query):
        body = api_client.get(EXECUTIONS + query).json()
        return [row["executionId"] for row in body["results"]], body["count"]

    assert ids("") == ([d.pk, c.pk, b.pk, a.pk], 4)
    assert ids("?task=small-task") == ([d.pk, b.pk, a.pk], 3)
    assert ids("?status=failed") == ([c.pk, b.pk], 2)
    assert ids("?task=small-task&status=failed,timed_out") == ([d.pk, b.pk], 2)
    assert ids("?task=nobody") == ([], 0)
    response = api_client.get(EXECUTIONS + "?status=exploded")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "status"


def test_list_is_paginated(api_client, task):
    for _ in range(55):
        make_execution(task)
    first = api_client.get(EXECUTIONS).json()
    assert first["count"] == 55 and len(first["results"]) == 50 and first["next"]
    second = api_client.get(first["next"]).json()
    assert len(second["results"]) == 5 and second["next"] is None


def test_detail_shows_the_execution_and_its_nodes(api_client, task):
    first = make_execution(
        task, "failed", error="node second failed", status_reason="1 node failed"
    )
    retry = make_execution(
        task,
        "completed",
        retry_of=first,
        previous_attempts=1,
        trigger="retry",
        input={"url": "https://example.org"},
    )
    NodeRun.objects.create(
        execution=retry,
        node_id="first",
        workflow="echo",
        status="completed",
        attempts=1,
        started_at=retry.started_at,
        finished_at=retry.finished_at,
        output={"text": "hello"},
        logs=[{"message": "ran"}],
    )
    NodeRun.objects.create(
        execution=retry,
        node_id="second",
        workflow="echo",
        status="skipped",
        reason="condition is false",
    )
    body = api_client.get(f"{EXECUTIONS}{retry.pk}/").json()
    assert body["executionId"] == retry.pk and body["taskId"] == "small-task"
    assert (body["status"], body["trigger"], body["retryOf"], body["retryNumber"]) == (
        "completed",
        "retry",
        first.pk,
        1,
    )
    assert body["input"] == {"url": "https://example.org"}
    assert body["durationSeconds"] == pytest.approx(5, abs=1)
    assert [n["nodeId"] for n in body["nodes"]] == ["first", "second"]
    node = body["nodes"][0]
    assert (node["status"], node["attempts"], node["output"], node["logs"]) == (
        "completed",
        1,
        {"text": "hello"},
        [{"message": "ran"}],
    )
    assert node["startedAt"] and node["finishedAt"]
    assert body["nodes"][1]["reason"] == "condition is false"
    failed = api_client.get(f"{EXECUTIONS}{first.pk}/").json()
    assert (failed["error"], failed["statusReason"]) == ("node second failed", "1 node failed")
    assert api_client.get(f"{EXECUTIONS}999999/").status_code == 404


def test_stored_secret_values_never_reach_the_response(api_client, task):
    Secret.objects.create(name="apiKey", value="sk-live-123456")
    execution = make_execution(task, "failed", error="401 for key sk-live-123456")
    NodeRun.objects.create(
        execution=execution,
        node_id="first",
        workflow="echo",
        status="failed",
        output={"echo": "Bearer sk-live-123456", "sk-live-123456": 1},
        error="rejected sk-live-123456",
        logs=["sent sk-live-123456"],
    )
    for url in (f"{EXECUTIONS}{execution.pk}/", EXECUTIONS):
        text = api_client.get(url).content.decode()
        assert "sk-live-123456" not in text
    body = api_client.get(f"{EXECUTIONS}{execution.pk}/").json()
    assert body["nodes"][0]["output"]["echo"] == "Bearer ********"
    assert body["error"] == "401 for key ********"


def test_cancel_a_queued_execution(api_client, task):
    execution = make_execution(task, "queued")
    NodeRun.objects.create(execution=execution, node_id="first", workflow="echo")
    NodeRun.objects.create(execution=execution, node_id="second", workflow="echo")
    response = api_client.post(f"{EXECUTIONS}{execution.pk}/cancel/")
    assert response.status_code == 202, response.content
    assert response.json()["executionId"] == execution.pk
    execution.refresh_from_db()
    assert response.json()["status"] == execution.status == "cancelled"
    assert set(execution.node_runs.values_list("status", flat=True)) == {"cancelled"}


def test_cancel_a_finished_execution_is_a_conflict(api_client, task):
    execution = make_execution(task, "completed")
    response = api_client.post(f"{EXECUTIONS}{execution.pk}/cancel/")
    assert response.status_code == 409
    assert response.json() == {
        "errors": [
            {"path": "", "message": f"execution #{execution.pk} already finished (completed)"}
        ]
    }


def test_rerun_a_finished_execution(api_client, task):
    execution = make_execution(task, "failed")
    NodeRun.objects.create(
        execution=execution,
        node_id="first",
        workflow="echo",
        status="completed",
        output={"text": "hi"},
    )
    NodeRun.objects.create(execution=execution, node_id="second", workflow="echo", status="failed")
    response = api_client.post(f"{EXECUTIONS}{execution.pk}/rerun/")
    assert response.status_code == 202, response.content
    new = Execution.objects.get(pk=response.json()["executionId"])
    assert new.pk != execution.pk and new.trigger == "rerun" and new.retry_of == execution
    assert new.node_runs.get(node_id="first").output == {"text": "hi"}


def test_rerun_of_an_unfinished_execution_is_a_conflict(api_client, task):
    execution = make_execution(task, "running")
    response = api_client.post(f"{EXECUTIONS}{execution.pk}/rerun/")
    assert response.status_code == 409
    assert response.json()["errors"][0]["message"] == (
        f"execution #{execution.pk} is still running; cancel it first"
    )
    assert Execution.objects.count() == 1


def test_an_execution_started_through_the_api_is_listed(api_client, task):
    response = api_client.post(
        f"/api/v1/tasks/{task.task_id}/execute/",
        data=json.dumps({"input": {"n": 1}}),
        content_type="application/json",
    )
    assert response.status_code == 202
    listed = api_client.get(EXECUTIONS + "?task=small-task").json()["results"]
    assert [row["executionId"] for row in listed] == [response.json()["executionId"]]
    assert listed[0]["trigger"] == "api" and listed[0]["triggeredBy"] == "admin"
