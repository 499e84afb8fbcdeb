"""The metrics aggregated in SQL give the values the Python implementation
they replace gave (issue 13, point 10).

``reference_summary`` and ``reference_series`` are the previous
implementation (every matching row loaded into Python), kept here as the
oracle and compared on a random but seeded data set: several tasks, every
status, unfinished runs, node runs, schedule fires and host samples. Run on
PostgreSQL (percentile_cont) and on SQLite (the fallback) alike.

The data set is written in bulk, as a history that predates the rollups, and
the rollups are then filled by the data migration's backfill. Where the
summary reads them (7d and 30d on PostgreSQL) its percentiles are compared
within the histogram's documented bound (``monitoring.rollups``) and its
averages and CPU sums within the last rounded digit (floats summed in
another order); every other figure must be equal.
"""

from __future__ import annotations

import importlib
import math
import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.apps import apps as global_apps
from django.db import connection

from monitoring import aggregates, rollups
from monitoring.selectors import (
    FAILURE,
    STATUSES,
    SUCCESS,
    metric_range,
    metrics_series,
    metrics_summary,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 27, 12, 0, 30, 250000, tzinfo=UTC)


# --- The previous implementation (the oracle) ---------------------------------------


def _rnd(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _secs(a: datetime | None, b: datetime | None) -> float | None:
    return None if a is None or b is None else max(0.0, (b - a).total_seconds())


def _rate(success: int, failure: int) -> float | None:
    return success / (success + failure) if success + failure else None


def schedule_lags(*, since: datetime, until: datetime, task_id: str | None) -> list[tuple[datetime, float]]:
    """(scheduled time, lag seconds) of the clock fires in the range."""
    from scheduling.models import Fire

    qs = Fire.objects.filter(scheduled_at__gte=since, scheduled_at__lt=until, lag_ms__isnull=False)
    if task_id:
        qs = qs.filter(task_key=task_id)
    return [(at, lag / 1000) for at, lag in qs.values_list("scheduled_at", "lag_ms")]


def system_samples(*, since: datetime, until: datetime) -> list[tuple[datetime, float, float]]:
    """(time, cpu %, memory %) of the host samples in the range."""
    from resources.models import SystemSample

    return [
        (s.taken_at, s.cpu_percent, s.memory_percent)
        for s in SystemSample.objects.filter(taken_at__gte=since, taken_at__lt=until)
    ]


def _rows(since: datetime, until: datetime, task_id: str | None) -> list[dict[str, Any]]:
    from orchestration.models import Execution

    qs = Execution.objects.filter(created_at__gte=since, created_at__lt=until)
    if task_id:
        qs = qs.filter(task__task_id=task_id)
    return list(qs.values("id", "status", "created_at", "queued_at", "started_at", "finished_at", "task__task_id"))


def _reference_summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    pct = aggregates.percentile
    by_status = Counter(r["status"] for r in rows)
    durations = [d for r in rows if r["status"] in SUCCESS + FAILURE
                 if (d := _secs(r["started_at"], r["finished_at"])) is not None]
    waits = [w for r in rows if (w := _secs(r["queued_at"], r["started_at"])) is not None]
    return {
        "total": len(rows),
        "byStatus": {s: by_status.get(s, 0) for s in STATUSES},
        "successRate": _rnd(_rate(sum(by_status[s] for s in SUCCESS), sum(by_status[s] for s in FAILURE)), 4),
        "duration": {
            "count": len(durations),
            "avg": _rnd(sum(durations) / len(durations)) if durations else None,
            "p50": _rnd(pct(durations, 50)), "p95": _rnd(pct(durations, 95)),
            "max": _rnd(max(durations)) if durations else None,
        },
        "queueWait": {
            "count": len(waits), "avg": _rnd(sum(waits) / len(waits)) if waits else None, "p95": _rnd(pct(waits, 95)),
        },
    }


def reference_summary(*, range_key: str, task_id: str | None, now: datetime) -> dict[str, Any]:
    from monitoring.models import Alert
    from orchestration.models import NodeRun

    rng = metric_range(range_key)
    since = now - rng.span
    rows = _rows(since, now, task_id)
    per_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        per_task[row["task__task_id"]].append(row)
    nodes = NodeRun.objects.filter(execution_id__in=[r["id"] for r in rows])
    failures = Counter(nodes.filter(status__in=FAILURE).values_list("node_id", "workflow"))
    usage = list(nodes.values_list("cpu_seconds", "peak_rss_bytes"))
    cpu = [c for c, _ in usage if c is not None]
    rss = [r for _, r in usage if r is not None]
    lags = [lag for _, lag in schedule_lags(since=since, until=now, task_id=task_id)]
    alerts = Alert.objects.exclude(status="resolved")
    if task_id:
        alerts = alerts.filter(task__task_id=task_id)
    return {
        "range": rng.key, "since": since.isoformat(), "until": now.isoformat(), "task": task_id,
        "executions": _reference_summarise(rows),
        "scheduleLag": {
            "count": len(lags), "avg": _rnd(sum(lags) / len(lags)) if lags else None,
            "p95": _rnd(aggregates.percentile(lags, 95)), "max": _rnd(max(lags)) if lags else None,
        },
        # Ties were in row order; the SQL version orders them by node id, workflow.
        "nodeFailures": [
            {"nodeId": node, "workflow": workflow, "count": count}
            for (node, workflow), count in sorted(failures.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "resources": {
            "cpuSeconds": _rnd(sum(cpu)) if cpu else None,
            "avgCpuSecondsPerNode": _rnd(sum(cpu) / len(cpu)) if cpu else None,
            "peakRssBytes": max(rss) if rss else None,
        },
        "alertsOpen": alerts.count(),
        "tasks": [
            {"taskId": key, **{k: v for k, v in _reference_summarise(task_rows).items() if k != "queueWait"}}
            for key, task_rows in sorted(per_task.items())
        ],
    }


def reference_series(*, range_key: str, task_id: str | None, now: datetime) -> dict[str, Any]:
    rng = metric_range(range_key)
    since = now - rng.span
    size = rng.bucket.total_seconds()
    first = datetime.fromtimestamp(math.floor(since.timestamp() / size) * size, tz=UTC)
    starts = []
    while (first + len(starts) * rng.bucket) < now:
        starts.append(first + len(starts) * rng.bucket)
    n = len(starts)

    def index(at: datetime) -> int | None:
        i = int((at - first).total_seconds() // size)
        return i if 0 <= i < n else None

    counts: dict[str, list[int]] = {s: [0] * n for s in STATUSES}
    durations: list[list[float]] = [[] for _ in range(n)]
    for r in _rows(since, now, task_id):
        if (i := index(r["created_at"])) is None:
            continue
        counts[r["status"]][i] += 1
        if r["status"] in SUCCESS + FAILURE and (d := _secs(r["started_at"], r["finished_at"])) is not None:
            durations[i].append(d)
    lags: list[list[float]] = [[] for _ in range(n)]
    for at, lag in schedule_lags(since=since, until=now, task_id=task_id):
        if (i := index(at)) is not None:
            lags[i].append(lag)
    cpu: list[list[float]] = [[] for _ in range(n)]
    memory: list[list[float]] = [[] for _ in range(n)]
    for at, c, m in system_samples(since=since, until=now):
        if (i := index(at)) is not None:
            cpu[i].append(c)
            memory[i].append(m)

    def avg(values: list[float]) -> float | None:
        return _rnd(sum(values) / len(values), 2) if values else None

    return {
        "range": rng.key, "task": task_id, "bucketSeconds": int(size), "buckets": [s.isoformat() for s in starts],
        "executions": counts,
        "successRate": [
            _rnd(_rate(sum(counts[s][i] for s in SUCCESS), sum(counts[s][i] for s in FAILURE)), 4) for i in range(n)
        ],
        "durationP50": [_rnd(aggregates.percentile(d, 50)) for d in durations],
        "durationP95": [_rnd(aggregates.percentile(d, 95)) for d in durations],
        "scheduleLag": [avg(v) for v in lags],
        "system": {"cpu": [avg(v) for v in cpu], "memory": [avg(v) for v in memory]},
    }


# --- The data set -------------------------------------------------------------------------


@pytest.fixture
def history(make_task):
    """~400 executions over 31 days on 3 tasks, with microsecond timestamps,
    runs that never started or never finished, clock skew (finished before
    started), node runs, fires on two schedules and host samples."""
    from monitoring.models import Alert
    from orchestration.models import Execution, NodeRun
    from resources.models import SystemSample
    from scheduling.models import Fire, Schedule

    rnd = random.Random(13)
    tasks = [make_task(name) for name in ("alpha", "beta", "gamma")]
    executions = []
    for _ in range(400):
        status = rnd.choice(STATUSES)
        span = rnd.choice([31 * 86400, 31 * 86400, 26 * 3600, 70 * 60])  # the short ranges get runs too
        created = NOW - timedelta(seconds=rnd.uniform(0, span))
        # A few land on bucket boundaries (to the microsecond).
        if rnd.random() < 0.05:
            created = created.replace(minute=0, second=0, microsecond=0)
        queued = None if status == "pending" else created + timedelta(seconds=rnd.uniform(0, 5))
        started = None if status in ("pending", "queued") or queued is None else queued + timedelta(
            microseconds=rnd.randint(0, 90_000_000))
        if status == "cancelled" and rnd.random() < 0.5:
            started = None
        finished = None
        if started is not None and status not in ("running",):
            finished = started + timedelta(microseconds=rnd.randint(-2_000_000, 900_000_000))
        executions.append(Execution(task=rnd.choice(tasks), status=status, definition={}, created_at=created,
                                    queued_at=queued, started_at=started, finished_at=finished))
    intended = [e.created_at for e in executions]
    Execution.objects.bulk_create(executions)
    # auto_now_add overrode created_at on insert: put the intended one back.
    for e, created in zip(executions, intended, strict=True):
        Execution.objects.filter(pk=e.pk).update(created_at=created)
    NodeRun.objects.bulk_create(
        NodeRun(execution=e, node_id=node, workflow=rnd.choice(["http", "echo"]),
                status=rnd.choice(["completed", "failed", "timed_out", "skipped"]),
                cpu_seconds=rnd.choice([None, round(rnd.uniform(0, 3), 6)]),
                peak_rss_bytes=rnd.choice([None, rnd.randint(1, 10**9)]))
        for e in executions for node in ("fetch", "parse", "save")[: rnd.randint(0, 3)]
    )
    importlib.import_module("monitoring.migrations.0005_execution_rollup").backfill(global_apps, None)
    fires = []
    for task in tasks[:2]:
        schedule = Schedule.objects.create(task=task, kind="interval", interval_ms=60000)
        for k in range(120):
            span = rnd.choice([31 * 86400, 26 * 3600, 70 * 60])
            fire = Fire(schedule=schedule, source="clock", scheduled_at=NOW - timedelta(seconds=rnd.uniform(0, span)),
                        dedup_key=f"{k}", lag_ms=rnd.choice([None, rnd.uniform(0, 90_000)]), outcome="started")
            fire.keep_names(schedule)  # what save() does; bulk_create skips it
            fires.append(fire)
    Fire.objects.bulk_create(fires)
    times = [NOW - timedelta(seconds=rnd.uniform(0, rnd.choice([31 * 86400, 26 * 3600, 70 * 60]))) for _ in range(300)]
    SystemSample.objects.bulk_create(
        SystemSample(host="h", taken_at=at, cpu_percent=rnd.uniform(0, 100), cores=2,
                     memory_used_bytes=rnd.randint(0, 8 * 2**30), memory_total_bytes=rnd.choice([0, 8 * 2**30]),
                     disk_used_bytes=1, disk_total_bytes=2, load_1m=0, load_5m=0, load_15m=0)
        for at in times
    )
    Alert.objects.create(rule="failure", task=tasks[0], fingerprint="x", title="x")
    return tasks


CASES = [(range_key, task_id) for range_key in ("1h", "24h", "7d", "30d") for task_id in (None, "beta")]


def from_rollups(range_key: str) -> bool:
    """True where the summary reads the daily rollups (approximate percentiles)."""
    return metric_range(range_key).rollups and connection.vendor == "postgresql"


def within_bound(actual: float | None, exact: float | None) -> bool:
    """A histogram percentile (both rounded to 3 decimals) is within the
    documented bound of the exact one."""
    if actual is None or exact is None:
        return actual is exact
    bound = exact * rollups.HISTOGRAM_RELATIVE_ERROR + rollups.HISTOGRAM_ABSOLUTE_ERROR + 0.001
    return abs(actual - exact) <= bound


def assert_summary_matches(actual: dict[str, Any], expected: dict[str, Any], *, approximate: bool) -> None:
    """Equal, except (when ``approximate``) percentiles within the bound and
    sums/averages of floats within the last rounded digit."""
    if not approximate:
        assert actual == expected
        return
    actual, expected = json_copy(actual), json_copy(expected)
    blocks = [(actual["executions"], expected["executions"])]
    blocks += list(zip(actual["tasks"], expected["tasks"], strict=True))
    for got, want in blocks:
        for part, keys in (("duration", ("p50", "p95")), ("queueWait", ("p95",))):
            if part not in want:
                continue
            for key in keys:
                assert within_bound(got[part][key], want[part][key]), (part, key, got[part][key], want[part][key])
                got[part][key] = want[part][key]
            if want[part]["avg"] is not None:
                assert got[part]["avg"] == pytest.approx(want[part]["avg"], abs=0.0011)
                got[part]["avg"] = want[part]["avg"]
    for key in ("cpuSeconds", "avgCpuSecondsPerNode"):
        if expected["resources"][key] is not None:
            assert actual["resources"][key] == pytest.approx(expected["resources"][key], abs=0.0011)
            actual["resources"][key] = expected["resources"][key]
    assert actual == expected


def json_copy(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value))


def test_the_sql_summary_equals_the_python_one(history):
    for range_key, task_id in CASES:
        expected = reference_summary(range_key=range_key, task_id=task_id, now=NOW)
        assert expected["executions"]["total"] > 0, (range_key, task_id)
        actual = metrics_summary(range_key=range_key, task_id=task_id, now=NOW)
        try:
            assert_summary_matches(actual, expected, approximate=from_rollups(range_key))
        except AssertionError as failure:
            raise AssertionError(f"{range_key} {task_id}: {failure}") from failure


def test_the_rollup_percentiles_are_not_the_exact_ones_by_accident(history):
    """The 30-day percentiles do come from the histograms on PostgreSQL
    (some differ from the exact values, every one within the bound), so the
    comparison above is not vacuous; elsewhere they are the exact ones."""
    actual = metrics_summary(range_key="30d", now=NOW)
    expected = reference_summary(range_key="30d", task_id=None, now=NOW)
    pairs = [(a["duration"][q], e["duration"][q]) for a, e in zip(
        [actual["executions"], *actual["tasks"]], [expected["executions"], *expected["tasks"]], strict=True)
        for q in ("p50", "p95")]
    if not from_rollups("30d"):
        assert all(a == e for a, e in pairs)
        return
    assert all(within_bound(a, e) for a, e in pairs)
    assert any(a != e for a, e in pairs)


def test_the_sql_series_equal_the_python_ones(history):
    for range_key, task_id in CASES:
        expected = reference_series(range_key=range_key, task_id=task_id, now=NOW)
        assert metrics_series(range_key=range_key, task_id=task_id, now=NOW) == expected, (range_key, task_id)


def test_ranges_without_executions_give_the_python_figures(history):
    """No execution in the range (a month before the data set, or a taskId
    that does not exist): the overall row is still there, with zero counts
    and no averages or percentiles, and there are no per-task rows."""
    for now, task_id in ((NOW - timedelta(days=400), None), (NOW, "no-such-task"), (NOW - timedelta(days=400), "beta")):
        for range_key in ("1h", "30d"):
            summary = metrics_summary(range_key=range_key, task_id=task_id, now=now)
            assert_summary_matches(summary, reference_summary(range_key=range_key, task_id=task_id, now=now),
                                   approximate=from_rollups(range_key))
            assert summary["executions"]["total"] == 0 and summary["tasks"] == []
            series = metrics_series(range_key=range_key, task_id=task_id, now=now)
            assert series == reference_series(range_key=range_key, task_id=task_id, now=now), (now, task_id)


def test_the_covering_indexes_exist_on_postgresql_only(history):
    """Migration monitoring 0003 adds the covering indexes the metrics reads
    scan (PostgreSQL only: INCLUDE)."""
    names = {"monitoring_exec_created_cov", "monitoring_exec_task_created_cov"}
    with connection.cursor() as cursor:
        found = {index for index in connection.introspection.get_constraints(cursor, "orchestration_execution")
                 if index in names}
    assert found == (names if connection.vendor == "postgresql" else set())


def test_the_data_set_exercises_the_figures(history):
    """Guard against a vacuous comparison: the 30-day figures are all populated."""
    s = reference_summary(range_key="30d", task_id=None, now=NOW)
    assert s["executions"]["duration"]["count"] > 50 and s["executions"]["queueWait"]["count"] > 50
    assert s["nodeFailures"] and s["resources"]["cpuSeconds"] and s["scheduleLag"]["count"] > 50
    series = reference_series(range_key="30d", task_id=None, now=NOW)
    assert sum(v is not None for v in series["durationP95"]) > 30
    assert sum(v is not None for v in series["system"]["memory"]) > 30


def test_every_query_aggregates_in_the_database(history):
    """On PostgreSQL every query over executions, node runs, fires and samples
    is an aggregate (percentiles included, via percentile_cont): no row is
    loaded into Python. Elsewhere percentiles read one sorted column."""
    import re

    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        metrics_summary(range_key="30d", now=NOW)
        metrics_series(range_key="30d", now=NOW)
    reads = [q["sql"] for q in queries.captured_queries
             if re.search(r'FROM "(orchestration_execution|orchestration_noderun|scheduling_fire|resources_systemsample)"',
                          q["sql"])]
    assert len(reads) >= 6  # executions, node runs, fires (summary and series), samples
    aggregate = re.compile(r"(COUNT|AVG|SUM|MAX|percentile_cont)\(")
    if connection.vendor == "postgresql":
        assert all(aggregate.search(sql) for sql in reads), [sql for sql in reads if not aggregate.search(sql)]
        assert any("percentile_cont" in sql for sql in reads)
    else:
        assert not any("percentile_cont" in sql for sql in reads)
