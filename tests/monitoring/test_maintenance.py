from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.models import Alert, DailyRollup, ExecutionRollup
from monitoring.prometheus import metrics_text
from monitoring.retention import history_prune
from monitoring.watchdog import stuck_runs_check
from tests.monitoring.factories import execution


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in metrics output")


def test_pruning_keeps_totals_in_the_rollups_and_prometheus_counters(make_task, settings):
    from orchestration.models import Event, Execution, NodeRun

    settings.WEBAUTO_RETENTION_DAYS = 30
    settings.WEBAUTO_EVENT_RETENTION_DAYS = 30
    settings.WEBAUTO_NODE_OUTPUT_RETENTION_DAYS = 7
    task = make_task("old")
    old = timezone.now() - timedelta(days=40)
    e1 = execution(task, "completed", created=old, duration=3)
    execution(task, "failed", created=old, duration=20)
    NodeRun.objects.create(execution=e1, node_id="a", workflow="echo", status="completed", output={"big": 1})
    recent = execution(task, "completed", created=timezone.now() - timedelta(days=10), duration=1)
    kept_node = NodeRun.objects.create(execution=recent, node_id="a", workflow="echo", status="completed",
                                       output={"x": 1}, input={"y": 2}, logs=["hello"])
    ev = Event.objects.create(type="execution.completed", task=task)
    Event.objects.filter(pk=ev.pk).update(created_at=old)

    before = metrics_text().decode()
    rollups_before = list(ExecutionRollup.objects.order_by("pk").values())
    pruned = history_prune()
    after = metrics_text().decode()

    assert pruned["executions"] == 2 and pruned["events"] >= 1 and pruned["nodeOutputs"] == 1
    assert list(Execution.objects.filter(task=task).values_list("pk", flat=True)) == [recent.pk]
    # The per-day totals are the ExecutionRollup rows each finish wrote; pruning
    # leaves them as they are and no longer writes the unread legacy DailyRollup.
    assert sum(r["completed"] + r["failed"] for r in rollups_before) == 3
    assert list(ExecutionRollup.objects.order_by("pk").values()) == rollups_before
    assert not DailyRollup.objects.exists()
    kept_node.refresh_from_db()
    assert kept_node.output is None and kept_node.input is None and kept_node.logs == []
    for name in ('webauto_executions_total{status="completed"}', 'webauto_executions_total{status="failed"}',
                 "webauto_execution_duration_seconds_count", 'webauto_execution_duration_seconds_bucket{le="5.0"}'):
        assert _sample(before, name) == _sample(after, name)
    assert _sample(after, 'webauto_executions_total{status="completed"}') == 2
    assert history_prune()["executions"] == 0


def test_prometheus_gauges(make_task):
    task = make_task("gauges")
    execution(task, "running")
    execution(task, "queued")
    Alert.objects.create(rule="failure", task=task, fingerprint="f", title="x")
    text = metrics_text().decode()
    assert _sample(text, "webauto_executions_running") == 1
    assert _sample(text, "webauto_queue_depth") == 1
    assert _sample(text, 'webauto_alerts_open{rule="failure"}') == 1
    assert "webauto_schedule_lag_seconds" in text


@pytest.mark.django_db
def test_metrics_endpoint_needs_a_token_or_an_allowed_address(client, settings):
    settings.WEBAUTO_METRICS_TOKEN = "scrape-token"
    settings.WEBAUTO_METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token")
    assert ok.status_code == 200 and b"webauto_queue_depth" in ok.content
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200


def test_runs_past_their_timeout_raise_a_stuck_alert_that_clears(make_task, settings):
    from orchestration.models import Execution

    settings.WEBAUTO_STUCK_GRACE_SECONDS = 60
    task = make_task("stuck", error_handling={"notificationOnFailure": True})
    e = execution(task, "running", created=timezone.now() - timedelta(hours=1))
    Execution.objects.filter(pk=e.pk).update(deadline_at=timezone.now() - timedelta(minutes=5))
    healthy = execution(task, "running")
    Execution.objects.filter(pk=healthy.pk).update(deadline_at=timezone.now() + timedelta(minutes=5))

    [alert] = stuck_runs_check()
    assert alert.rule == "stuck" and f"execution #{e.pk}" in alert.message
    assert f"#{healthy.pk}" not in alert.message
    assert stuck_runs_check()[0].occurrences == 1  # nothing new: not counted again

    Execution.objects.filter(pk=e.pk).update(status="timed_out")
    assert stuck_runs_check() == []
    alert.refresh_from_db()
    assert alert.status == "resolved"


def test_a_node_running_past_its_node_timeout_is_stuck(make_task, settings):
    from orchestration.models import Execution, NodeRun

    settings.WEBAUTO_STUCK_GRACE_SECONDS = 10
    task = make_task("nodestuck")
    e = execution(task, "running")
    Execution.objects.filter(pk=e.pk).update(definition={"workflows": [{"id": "slow", "execution": {"timeout": 1000}}]})
    node = NodeRun.objects.create(execution=e, node_id="slow", workflow="echo", status="running")
    NodeRun.objects.filter(pk=node.pk).update(started_at=timezone.now() - timedelta(seconds=30))
    [alert] = stuck_runs_check()
    assert "node 'slow'" in alert.message


def test_a_run_queued_while_no_worker_is_alive_is_stuck(make_task, settings):
    from monitoring.watchdog import stuck_runs_find
    from orchestration.models import Execution
    from resources.models import Worker

    settings.WEBAUTO_STUCK_QUEUED_SECONDS = 60
    task = make_task("waiting")
    e = execution(task, "queued")
    Execution.objects.filter(pk=e.pk).update(queued_at=timezone.now() - timedelta(minutes=5))
    assert stuck_runs_find()[task.pk] == [f"execution #{e.pk} is queued and no worker is alive"]

    Worker.objects.create(name="w1@h", host="h", last_heartbeat_at=timezone.now())
    assert stuck_runs_find() == {}
