from __future__ import annotations

import hashlib
import hmac

import pytest

from monitoring.alerting import alert_acknowledge, alert_evaluate_execution, consecutive_failures
from monitoring.models import Alert, Channel, Delivery
from monitoring.transports.webhook import SIGNATURE_HEADER
from tests.monitoring.conftest import process_deliveries
from tests.monitoring.factories import execution

ESCALATION = {
    "strategy": "continue-on-error",
    "notificationOnFailure": True,
    "escalationPolicy": {
        "level1": {"threshold": 3, "action": "notify-team"},
        "level2": {"threshold": 5, "action": "escalate-to-manager"},
    },
}


@pytest.fixture
def escalating_task(make_task, http_receiver, smtp_server, settings):
    settings.WEBAUTO_WEBHOOK_SIGNING_SECRET = "shared-signing-key"
    task = make_task(
        "escalating",
        channels=[
            {"type": "email", "config": {"recipients": ["owner@example.com"], "subject": "Task mail"}},
            {"type": "webhook", "config": {"url": http_receiver.url("/owner")}},
        ],
        error_handling=ESCALATION,
    )
    Channel.objects.create(name="team hook", kind="webhook", actions=["notify-team"],
                           config={"url": http_receiver.url("/team")})
    Channel.objects.create(name="manager mail", kind="email", actions=["escalate-to-manager"],
                           config={"recipients": ["manager@example.com"]})
    return task


def fail(task, n=1):
    for _ in range(n):
        e = execution(task, "failed", error="selector .post not found")
        alert_evaluate_execution(execution_id=e.pk)
        process_deliveries()


def test_the_seed_channels_are_created_from_the_definition(escalating_task):
    channels = list(Channel.objects.filter(task=escalating_task).order_by("position"))
    assert [(c.kind, c.source, c.position) for c in channels] == [
        ("email", "definition", 0), ("webhook", "definition", 1)
    ]


def test_three_failures_notify_the_team_and_five_the_manager_each_once(escalating_task, http_receiver, smtp_server):
    fail(escalating_task)
    alert = Alert.objects.get(task=escalating_task, rule="failure")
    assert alert.level == 0
    # notificationOnFailure: the task's own channels hear about the first failure, once.
    assert len(smtp_server.to("owner@example.com")) == 1
    assert len(http_receiver.at("/owner")) == 1
    assert http_receiver.at("/owner")[0].json()["event"] == "alert.triggered"

    fail(escalating_task, 2)
    alert.refresh_from_db()
    assert alert.level == 1 and alert.occurrences == 3
    team = http_receiver.at("/team")
    assert len(team) == 1
    body = team[0].json()
    assert body["event"] == "alert.escalated"
    assert body["action"] == "notify-team"
    assert body["alert"]["taskId"] == "escalating"
    assert body["alert"]["details"]["consecutiveFailures"] == 3
    assert "failed 3 times in a row" in body["alert"]["title"]
    assert smtp_server.to("manager@example.com") == []

    fail(escalating_task)
    assert len(http_receiver.at("/team")) == 1
    assert smtp_server.to("manager@example.com") == []

    fail(escalating_task)
    alert.refresh_from_db()
    assert alert.level == 2 and alert.occurrences == 5
    manager = smtp_server.to("manager@example.com")
    assert len(manager) == 1
    subject = " ".join(manager[0]["Subject"].split())  # unfold the long header
    assert "ESCALATED (level 2)" in subject
    assert "failed 5 times in a row" in subject
    assert "escalate-to-manager" in manager[0].get_payload()[0].get_payload(decode=True).decode()

    fail(escalating_task, 2)
    assert len(http_receiver.at("/team")) == 1
    assert len(smtp_server.to("manager@example.com")) == 1
    # the owner was told once, when the alert opened
    assert len(smtp_server.to("owner@example.com")) == 1
    assert Alert.objects.filter(task=escalating_task).count() == 1


def test_a_success_resolves_the_alert_and_sends_recovery_to_everyone_notified(
    escalating_task, http_receiver, smtp_server
):
    fail(escalating_task, 5)
    ok = execution(escalating_task, "completed")
    alert_evaluate_execution(execution_id=ok.pk)
    process_deliveries()

    alert = Alert.objects.get(task=escalating_task, rule="failure")
    assert alert.status == "resolved"
    assert f"Execution #{ok.pk} succeeded" in alert.resolution
    for path in ("/owner", "/team"):
        last = http_receiver.at(path)[-1].json()
        assert last["event"] == "alert.resolved"
        assert last["alert"]["status"] == "resolved"
    for address in ("owner@example.com", "manager@example.com"):
        assert "RESOLVED" in smtp_server.to(address)[-1]["Subject"]
    assert len(http_receiver.at("/team")) == 2  # escalation + recovery

    from orchestration.models import Event

    types = list(Event.objects.filter(task=escalating_task, type__startswith="alert.").values_list("type", flat=True))
    assert sorted(set(types)) == ["alert.escalated", "alert.resolved", "alert.triggered"]
    assert consecutive_failures(task=escalating_task) == 0


def test_every_webhook_delivery_is_signed(escalating_task, http_receiver):
    fail(escalating_task, 3)
    for request in http_receiver.requests:
        expected = "sha256=" + hmac.new(b"shared-signing-key", request.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(request.headers[SIGNATURE_HEADER], expected)


def test_acknowledging_stops_escalation(escalating_task, http_receiver):
    fail(escalating_task)
    alert = Alert.objects.get(task=escalating_task)
    alert_acknowledge(alert_id=alert.pk)
    fail(escalating_task, 4)
    alert.refresh_from_db()
    assert alert.status == "acknowledged" and alert.occurrences == 5 and alert.level == 0
    assert http_receiver.at("/team") == []


def test_evaluating_the_same_execution_twice_counts_it_once(escalating_task):
    e = execution(escalating_task, "failed")
    alert_evaluate_execution(execution_id=e.pk)
    alert_evaluate_execution(execution_id=e.pk)
    alert = Alert.objects.get(task=escalating_task)
    assert alert.occurrences == 1
    assert Delivery.objects.filter(alert=alert).count() == 2


def test_a_task_without_failure_notification_opens_no_alert(make_task):
    task = make_task("quiet")
    alert_evaluate_execution(execution_id=execution(task, "failed").pk)
    assert not Alert.objects.exists()


def test_an_escalation_action_no_channel_lists_goes_to_the_task_channels(make_task, http_receiver):
    task = make_task("fallback", channels=[{"type": "webhook", "config": {"url": http_receiver.url("/own")}}],
                     error_handling={"escalationPolicy": {"level1": {"threshold": 2, "action": "page-someone"}}})
    fail(task, 2)
    events = [r.json()["event"] for r in http_receiver.at("/own")]
    assert events == ["alert.escalated"]


def test_cancelled_runs_neither_break_nor_extend_a_failure_streak(make_task):
    task = make_task("streak")
    execution(task, "failed")
    execution(task, "cancelled")
    execution(task, "failed")
    assert consecutive_failures(task=task) == 2
    execution(task, "completed_with_errors")
    assert consecutive_failures(task=task) == 0


def test_slow_runs_raise_and_clear_a_slow_alert(make_task):
    task = make_task("slowpoke", error_handling={"notificationOnFailure": True, "slowExecutionThreshold": 5000})
    slow = execution(task, "completed", duration=9)
    alert_evaluate_execution(execution_id=slow.pk)
    alert = Alert.objects.get(task=task, rule="slow")
    assert alert.details["thresholdSeconds"] == 5.0
    fast = execution(task, "completed", duration=2)
    alert_evaluate_execution(execution_id=fast.pk)
    alert.refresh_from_db()
    assert alert.status == "resolved"


def test_missed_and_late_schedules_raise_a_schedule_alert_that_an_on_time_fire_resolves(make_task):
    from monitoring.alerting import alert_evaluate_event
    from orchestration.events import emit

    task = make_task("sched", error_handling={"notificationOnFailure": True})
    missed = emit("schedule.missed", task=task, data={
        "count": 2, "first": "2026-01-01T00:00:00+00:00", "last": "2026-01-01T02:00:00+00:00", "policy": "skip",
    })
    alert_evaluate_event(event_id=missed.pk)
    alert = Alert.objects.get(task=task, rule="schedule")
    assert alert.title == "2 scheduled runs of Task sched missed"
    assert "2026-01-01T02:00:00+00:00" in alert.message and "skip" in alert.message
    late = emit("schedule.fired", task=task, data={"lagMs": 900_000})
    alert_evaluate_event(event_id=late.pk)
    alert.refresh_from_db()
    assert alert.occurrences == 2
    on_time = emit("schedule.fired", task=task, data={"lagMs": 400})
    alert_evaluate_event(event_id=on_time.pk)
    alert.refresh_from_db()
    assert alert.status == "resolved"


def test_a_failure_evaluated_after_a_later_success_opens_no_alert(escalating_task):
    failed = execution(escalating_task, "failed")
    ok = execution(escalating_task, "completed")
    alert_evaluate_execution(execution_id=ok.pk)
    alert_evaluate_execution(execution_id=failed.pk)
    assert not Alert.objects.exists()


def test_a_run_superseded_by_a_task_level_retry_counts_once(escalating_task):
    from orchestration.models import Execution

    first = execution(escalating_task, "failed")
    retry = execution(escalating_task, "failed")
    Execution.objects.filter(pk=retry.pk).update(retry_of=first, previous_attempts=1)
    assert consecutive_failures(task=escalating_task) == 1
