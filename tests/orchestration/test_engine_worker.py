"""The engine on a real Celery worker, real Redis and PostgreSQL."""

from __future__ import annotations

import pytest

from orchestration import services
from orchestration.models import EXECUTION_FINAL, Event, Execution, NodeStatus
from tests.conftest import wait_for
from tests.orchestration.conftest import node_map

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def finished(execution: Execution, timeout: float = 60) -> Execution:
    def done() -> Execution | None:
        execution.refresh_from_db()
        return execution if execution.status in EXECUTION_FINAL else None

    wait_for(done, timeout=timeout)
    return execution


def test_a_mixed_graph_reaches_the_right_final_statuses(celery_worker, make_task):
    task = make_task(
        "mixed",
        [
            {"id": "start", "workflow": "echo", "config": {"output": {"x": 1, "greeting": "${greeting}"}}},
            {"id": "left", "workflow": "delay", "dependsOn": ["start"], "config": {"seconds": 1}},
            {"id": "right", "workflow": "delay", "dependsOn": ["start"], "config": {"seconds": 1}},
            {
                "id": "gated", "workflow": "echo", "dependsOn": ["start"],
                "condition": {"type": "expression", "expression": "${start.x == 2}"},
            },
            {"id": "after_gated", "workflow": "echo", "dependsOn": ["gated"]},
            {
                "id": "flaky", "workflow": "test-fail-until", "dependsOn": ["start"],
                "config": {"succeedOnAttempt": 2}, "execution": {"retryAttempts": 2},
            },
            {
                "id": "broken", "workflow": "test-fail-until", "dependsOn": ["start"],
                "config": {"message": "remote said no"}, "stopOnFailure": False,
            },
            {"id": "after_broken", "workflow": "echo", "dependsOn": ["broken"]},
            {
                "id": "join", "workflow": "echo", "dependsOn": ["left", "right", "flaky"],
                "inputFrom": "start.output",
            },
        ],
        parameters={"greeting": "hello"},
        retry_delay_ms=100,
    )
    execution = finished(services.execution_create(task=task, input={"run": 1}))

    assert execution.status == "completed_with_errors"
    nodes = node_map(execution)
    assert nodes["start"].output == {"run": 1, "x": 1, "greeting": "hello"}
    assert nodes["gated"].status == NodeStatus.SKIPPED
    assert "start.x == 2" in nodes["gated"].reason
    assert nodes["after_gated"].status == NodeStatus.SKIPPED
    assert "gated" in nodes["after_gated"].reason
    assert nodes["flaky"].status == NodeStatus.COMPLETED
    assert nodes["flaky"].attempts == 2
    assert [a["status"] for a in nodes["flaky"].attempt_log] == ["failed", "completed"]
    assert nodes["broken"].status == NodeStatus.FAILED
    assert nodes["broken"].error == "remote said no"
    assert nodes["after_broken"].status == NodeStatus.SKIPPED
    assert nodes["join"].status == NodeStatus.COMPLETED
    assert nodes["join"].input == nodes["start"].output
    # Independent branches ran in parallel: each started before the other ended.
    left, right = nodes["left"], nodes["right"]
    assert left.started_at < right.finished_at and right.started_at < left.finished_at
    types = set(Event.objects.filter(execution=execution).values_list("type", flat=True))
    assert {"execution.started", "workflow.retrying", "workflow.skipped", "workflow.failed",
            "execution.completed_with_errors"} <= types


def test_stop_on_failure_cancels_the_rest_and_fails_the_execution(celery_worker, make_task):
    task = make_task(
        "stopper",
        [
            {"id": "slow", "workflow": "delay", "config": {"seconds": 30}},
            {"id": "bad", "workflow": "test-fail-until", "stopOnFailure": True},
            {"id": "after", "workflow": "echo", "dependsOn": ["slow"]},
        ],
    )
    execution = finished(services.execution_create(task=task), timeout=30)
    assert execution.status == "failed"
    nodes = node_map(execution)
    assert nodes["bad"].status == NodeStatus.FAILED
    assert nodes["slow"].status == NodeStatus.CANCELLED
    assert nodes["after"].status == NodeStatus.CANCELLED
    assert "bad" in execution.status_reason


def test_node_timeout_stops_a_cooperative_and_a_stubborn_node(celery_worker, make_task):
    task = make_task(
        "timeouts",
        [
            {"id": "polite", "workflow": "delay", "config": {"seconds": 60}, "execution": {"timeout": 1000}},
            {"id": "stubborn", "workflow": "test-stubborn-sleep", "config": {"seconds": 60},
             "execution": {"timeout": 1000}},
        ],
    )
    execution = finished(services.execution_create(task=task), timeout=40)
    nodes = node_map(execution)
    assert nodes["polite"].status == NodeStatus.TIMED_OUT
    assert nodes["stubborn"].status == NodeStatus.TIMED_OUT
    assert "timed out after 1s" in nodes["stubborn"].error
    assert execution.status == "failed"


def test_task_timeout_times_the_execution_out(celery_worker, make_task):
    task = make_task("slowtask", [{"id": "wait", "workflow": "delay", "config": {"seconds": 60}}],
                     timeout_ms=1500)
    execution = finished(services.execution_create(task=task), timeout=30)
    assert execution.status == "timed_out"
    assert node_map(execution)["wait"].status == NodeStatus.TIMED_OUT


def test_cancel_stops_running_nodes_and_cancels_the_rest(celery_worker, make_task):
    task = make_task(
        "cancellable",
        [
            {"id": "long", "workflow": "test-stubborn-sleep", "config": {"seconds": 60}},
            {"id": "next", "workflow": "echo", "dependsOn": ["long"]},
        ],
    )
    execution = services.execution_create(task=task)
    wait_for(lambda: node_map(execution)["long"].status == NodeStatus.RUNNING, timeout=30)
    services.execution_cancel(execution_id=execution.pk, reason="operator changed their mind")
    execution = finished(execution, timeout=30)
    assert execution.status == "cancelled"
    nodes = node_map(execution)
    assert nodes["long"].status == NodeStatus.CANCELLED
    assert nodes["next"].status == NodeStatus.CANCELLED
    with pytest.raises(services.ExecutionStateError):
        services.execution_cancel(execution_id=execution.pk)


def test_task_retry_reruns_only_failed_nodes_and_their_dependents(celery_worker, make_task, tmp_path):
    marks = tmp_path / "marks.txt"
    task = make_task(
        "retrying",
        [
            {"id": "fetch", "workflow": "test-marker", "config": {"file": str(marks)}},
            {"id": "flaky", "workflow": "test-fail-until", "dependsOn": ["fetch"],
             "config": {"succeedOnAttempt": 2}},
            {"id": "report", "workflow": "test-marker", "dependsOn": ["flaky"], "config": {"file": str(marks)}},
        ],
        max_retries=2,
        retry_delay_ms=200,
        error_handling={"strategy": "stop-on-error"},
    )
    first = finished(services.execution_create(task=task))
    assert first.status == "failed"

    retry = wait_for(lambda: Execution.objects.filter(retry_of=first).first(), timeout=30)
    retry = finished(retry)
    assert retry.trigger == "retry" and retry.previous_attempts == 1
    # The retry's flaky node is a fresh node run: attempt 1 again, so it fails again,
    # and the second task-level retry is created.
    second = finished(wait_for(lambda: Execution.objects.filter(retry_of=first, previous_attempts=2).first()))
    nodes = node_map(second)
    assert nodes["fetch"].reused_from is not None
    assert nodes["fetch"].attempts == 0
    lines = marks.read_text().splitlines()
    assert sum(line.split(":")[1] == "fetch" for line in lines) == 1


def test_rerun_reuses_completed_outputs(celery_worker, make_task, tmp_path):
    marks = tmp_path / "marks.txt"
    task = make_task(
        "rerunnable",
        [
            {"id": "fetch", "workflow": "test-marker", "config": {"file": str(marks)}},
            {"id": "broken", "workflow": "test-fail-until", "dependsOn": ["fetch"]},
            {"id": "after", "workflow": "test-marker", "dependsOn": ["broken"], "config": {"file": str(marks)}},
        ],
    )
    first = finished(services.execution_create(task=task))
    assert first.status == "completed_with_errors"
    rerun = finished(services.execution_rerun(execution_id=first.pk))
    assert rerun.trigger == "rerun"
    nodes = node_map(rerun)
    assert nodes["fetch"].status == NodeStatus.COMPLETED and nodes["fetch"].reused_from_id is not None
    assert nodes["broken"].status == NodeStatus.FAILED
    assert marks.read_text().count(":fetch:") == 1


def test_a_node_message_delivered_twice_runs_once(celery_worker, make_task, tmp_path):
    from orchestration.tasks import run_node

    marks = tmp_path / "marks.txt"
    task = make_task("dupes", [{"id": "only", "workflow": "test-marker",
                                "config": {"file": str(marks), "seconds": 1}}])
    execution = services.execution_create(task=task)
    run = node_map(execution)["only"]
    run_node.delay(run.pk, str(run.dispatch_id))
    run_node.delay(run.pk, str(run.dispatch_id))
    finished(execution)
    assert marks.read_text().count(":only:") == 1
    assert execution.status == "completed"
