"""Alerting and the notification kind through the real engine on a real worker."""

from __future__ import annotations

import pytest

from monitoring.models import Alert, Channel
from orchestration import services
from orchestration.models import EXECUTION_FINAL
from tests.conftest import wait_for
from tests.monitoring.conftest import task_definition

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def run_to_end(task, timeout: float = 60):
    execution = services.execution_create(task=task, input={"run": True})

    def done():
        execution.refresh_from_db()
        return execution if execution.status in EXECUTION_FINAL else None

    return wait_for(done, timeout=timeout)


def test_failures_escalate_and_a_success_recovers_through_the_worker(worker_factory, http_receiver):
    worker_factory()
    failing = [{"id": "fetch", "name": "Fetch", "workflow": "test-fail-until", "config": {"message": "site down"}}]
    definition = task_definition(
        "live-escalation",
        channels=[{"type": "webhook", "config": {"url": http_receiver.url("/owner")}}],
        error_handling={"notificationOnFailure": True,
                        "escalationPolicy": {"level1": {"threshold": 2, "action": "notify-team"}}},
    )
    definition["workflows"] = failing
    task = services.task_create(definition=definition)
    Channel.objects.create(name="team", kind="webhook", actions=["notify-team"], config={"url": http_receiver.url("/team")})

    assert run_to_end(task).status == "failed"
    wait_for(lambda: http_receiver.at("/owner"))
    assert run_to_end(task).status == "failed"
    team = wait_for(lambda: http_receiver.at("/team"))
    assert team[0].json()["event"] == "alert.escalated"
    assert team[0].json()["alert"]["details"]["consecutiveFailures"] == 2

    definition["workflows"] = [{"id": "fetch", "name": "Fetch", "workflow": "echo", "config": {}}]
    task = services.task_update(task=task, definition=definition)
    assert run_to_end(task).status == "completed"
    wait_for(lambda: Alert.objects.filter(task=task, status="resolved").exists())
    wait_for(lambda: len(http_receiver.at("/team")) == 2 and len(http_receiver.at("/owner")) == 2)
    assert [r.json()["event"] for r in http_receiver.at("/owner")] == ["alert.triggered", "alert.resolved"]
    assert [r.json()["event"] for r in http_receiver.at("/team")] == ["alert.escalated", "alert.resolved"]


def test_a_notification_node_delivers_its_report_through_the_worker(worker_factory, http_receiver, smtp_server):
    worker_factory(env={"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(smtp_server.port)})
    definition = task_definition(
        "live-report",
        channels=[
            {"type": "email", "config": {"recipients": ["admin@example.com"], "subject": "微博监控任务通知"}},
            {"type": "webhook", "config": {"url": http_receiver.url("/report")}},
        ],
    )
    definition["workflows"] = [
        {"id": "analysis", "name": "Analysis", "workflow": "echo",
         "config": {"output": {"summary": "three new posts", "counts": {"downloaded": 3}}}},
        {"id": "notification", "name": "Notify", "workflow": "notification-workflow", "dependsOn": ["analysis"],
         "inputFrom": "analysis.output", "config": {"channels": ["email", "webhook"], "template": "monitoring-report"},
         "stopOnFailure": False},
    ]
    task = services.task_create(definition=definition)
    execution = run_to_end(task)
    assert execution.status == "completed", execution.error
    node = execution.node_runs.get(node_id="notification")
    assert node.output["sent"] == 2
    report = http_receiver.at("/report")[0].json()
    assert report["data"]["summary"] == "three new posts"
    # The report says which task and run it is about (it once carried "taskId": null).
    assert (report["taskId"], report["executionId"], report["nodeId"]) == (
        "live-report", execution.pk, "notification"
    )
    mail = smtp_server.to("admin@example.com")[0]
    text = next(p for p in mail.walk() if p.get_content_type() == "text/plain").get_payload(decode=True).decode()
    assert "three new posts" in text and "downloaded: 3" in text
