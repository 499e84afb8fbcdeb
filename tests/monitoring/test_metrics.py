from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitoring.selectors import metrics_series, metrics_summary, percentile
from tests.monitoring.factories import execution

NOW = datetime(2026, 11, 27, 12, 0, 30, tzinfo=UTC)


def test_percentiles_interpolate_between_ranks():
    assert percentile([], 50) is None
    assert percentile([7], 95) == 7
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile(list(range(1, 11)), 95) == pytest.approx(9.55)


@pytest.fixture
def history(make_task):
    """Known runs: task a: 3 completed (10, 20, 30 s), 1 failed (40 s), 1 cancelled;
    task b: 1 timed_out (60 s), 1 running, 1 completed_with_errors (50 s); one run 2 h ago."""
    a, b = make_task("a"), make_task("b")
    at = NOW - timedelta(minutes=10)
    for d in (10, 20, 30):
        execution(a, "completed", created=at, duration=d, wait=2)
    execution(a, "failed", created=at, duration=40, wait=4)
    execution(a, "cancelled", created=at, duration=5)
    execution(b, "timed_out", created=NOW - timedelta(minutes=40), duration=60)
    execution(b, "running", created=NOW - timedelta(minutes=1))
    execution(b, "completed_with_errors", created=NOW - timedelta(minutes=40), duration=50)
    execution(a, "completed", created=NOW - timedelta(hours=2), duration=999)
    return a, b


def test_summary_over_the_last_hour(history):
    s = metrics_summary(range_key="1h", now=NOW)
    ex = s["executions"]
    assert ex["total"] == 8
    assert ex["byStatus"]["completed"] == 3 and ex["byStatus"]["running"] == 1 and ex["byStatus"]["cancelled"] == 1
    # 4 successes (3 completed + 1 completed_with_errors) out of 6 decided runs
    assert ex["successRate"] == round(4 / 6, 4)
    # durations of decided runs: 10 20 30 40 50 60
    assert ex["duration"]["count"] == 6
    assert ex["duration"]["p50"] == 35.0
    assert ex["duration"]["p95"] == 57.5
    assert ex["duration"]["max"] == 60.0
    # waits: 2 2 2 4 1 1 1 1 (running has started too)
    assert ex["queueWait"]["count"] == 8
    assert ex["queueWait"]["avg"] == round(14 / 8, 3)
    per_task = {t["taskId"]: t for t in s["tasks"]}
    assert per_task["a"]["successRate"] == 0.75 and per_task["b"]["successRate"] == 0.5


def test_summary_for_one_task_and_a_longer_range(history):
    s = metrics_summary(range_key="24h", task_id="a", now=NOW)
    assert s["executions"]["total"] == 6
    assert s["executions"]["duration"]["max"] == 999.0
    assert [t["taskId"] for t in s["tasks"]] == ["a"]


def test_summary_counts_node_failures_and_resource_usage(make_task):
    from orchestration.models import NodeRun

    task = make_task("nodes")
    e1 = execution(task, "failed", created=NOW - timedelta(minutes=5))
    e2 = execution(task, "completed", created=NOW - timedelta(minutes=5))
    NodeRun.objects.create(execution=e1, node_id="fetch", workflow="echo", status="failed", cpu_seconds=1.5,
                           peak_rss_bytes=100)
    NodeRun.objects.create(execution=e2, node_id="fetch", workflow="echo", status="completed", cpu_seconds=0.5,
                           peak_rss_bytes=300)
    NodeRun.objects.create(execution=e2, node_id="save", workflow="echo", status="timed_out")
    s = metrics_summary(range_key="1h", now=NOW)
    assert s["nodeFailures"] == [
        {"nodeId": "fetch", "workflow": "echo", "count": 1}, {"nodeId": "save", "workflow": "echo", "count": 1}
    ]
    assert s["resources"] == {"cpuSeconds": 2.0, "avgCpuSecondsPerNode": 1.0, "peakRssBytes": 300}


def test_series_buckets_by_minute_for_the_last_hour(history):
    s = metrics_series(range_key="1h", now=NOW)
    assert s["bucketSeconds"] == 60
    assert len(s["buckets"]) == 61  # aligned minutes from 11:00 to 12:00
    assert s["buckets"][0] == "2026-11-27T11:00:00+00:00"
    i_ten = s["buckets"].index("2026-11-27T11:50:00+00:00")
    i_forty = s["buckets"].index("2026-11-27T11:20:00+00:00")
    assert s["executions"]["completed"][i_ten] == 3
    assert s["executions"]["failed"][i_ten] == 1
    assert s["executions"]["timed_out"][i_forty] == 1
    assert s["successRate"][i_ten] == 0.75
    assert s["successRate"][i_forty] == 0.5
    assert s["durationP50"][i_ten] == 25.0
    assert s["durationP95"][i_forty] == 59.5
    assert sum(sum(v) for v in s["executions"].values()) == 8
    assert s["successRate"][0] is None


def test_series_include_schedule_lag_and_system_samples(make_task):
    from resources.models import SystemSample

    at = NOW - timedelta(minutes=3, seconds=30)
    for cpu in (20.0, 40.0):
        SystemSample.objects.create(host="h", taken_at=at, cpu_percent=cpu, cores=4, memory_used_bytes=50,
                                    memory_total_bytes=100, disk_used_bytes=1, disk_total_bytes=2,
                                    load_1m=0, load_5m=0, load_15m=0)
    s = metrics_series(range_key="1h", now=NOW)
    i = s["buckets"].index("2026-11-27T11:57:00+00:00")
    assert s["system"]["cpu"][i] == 30.0 and s["system"]["memory"][i] == 50.0

    assert all(v is None for v in s["scheduleLag"])
    from scheduling.models import Fire, Schedule

    task = make_task("lagging")
    schedule = Schedule.objects.create(task=task, kind="interval", interval_ms=60000)
    for n, lag in enumerate((1000.0, 3000.0)):
        Fire.objects.create(schedule=schedule, source="clock", scheduled_at=at + timedelta(seconds=n),
                            dedup_key=str(n), lag_ms=lag, outcome="started")
    s = metrics_series(range_key="1h", now=NOW)
    assert s["scheduleLag"][i] == 2.0
    assert metrics_summary(range_key="1h", now=NOW)["scheduleLag"]["max"] == 3.0


@pytest.mark.django_db
def test_unknown_range_is_rejected_by_the_api(api_client):
    response = api_client.get("/api/v1/metrics/summary/?range=2w")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "range"


def test_metrics_api_returns_summary_series_and_execution_metrics(api_client, history):
    a, _ = history
    assert api_client.get("/api/v1/metrics/summary/?range=30d&task=a").json()["executions"]["total"] >= 6
    series = api_client.get("/api/v1/metrics/series/?range=7d").json()
    assert series["bucketSeconds"] == 3 * 3600
    e = a.executions.first()
    detail = api_client.get(f"/api/v1/metrics/executions/{e.pk}/").json()
    assert detail["executionId"] == e.pk and detail["durationSeconds"] is not None


def test_events_api_filters_by_type_task_and_time(api_client, make_task):
    from orchestration.events import emit
    from orchestration.models import Event

    t1, t2 = make_task("e1"), make_task("e2")
    Event.objects.all().delete()
    old = emit("execution.failed", task=t1, data={"n": 1})
    Event.objects.filter(pk=old.pk).update(created_at=NOW - timedelta(days=2))
    emit("execution.completed", task=t1, data={"n": 2})
    emit("execution.failed", task=t2, data={"n": 3})
    emit("workflow.failed", task=t2, data={"n": 4})

    def ns(query):
        body = api_client.get("/api/v1/events/" + query).json()
        return sorted(e["data"]["n"] for e in body["results"])

    assert ns("?type=execution.failed") == [1, 3]
    assert ns("?type=execution.*&task=e1") == [1, 2]
    assert ns("?type=execution.failed,workflow.failed&task=e2") == [3, 4]
    assert ns("?since=" + (NOW - timedelta(days=1)).isoformat().replace("+", "%2B")) == [2, 3, 4]
    assert ns("?range=24h") == [2, 3, 4]
    body = api_client.get("/api/v1/events/?task=e2").json()
    assert body["count"] == 2 and body["results"][0]["taskId"] == "e2"
    assert api_client.get("/api/v1/events/?since=yesterday").status_code == 400
