"""Reads: events, metrics (per execution, per task, overall) and chart series.

Definitions used throughout:
- executions are attributed to the time they were created;
- success rate = (completed + completed_with_errors) / (those + failed +
  timed_out); cancelled and unfinished runs are left out; None without data;
- duration = finished_at - started_at; queue wait = started_at - queued_at;
- percentiles interpolate linearly between closest ranks (like
  PostgreSQL's percentile_cont).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from monitoring.models import Alert, AlertStatus, HostSample

SUCCESS = ("completed", "completed_with_errors")
FAILURE = ("failed", "timed_out")
STATUSES = ("pending", "queued", "running", "completed", "completed_with_errors", "failed", "cancelled", "timed_out")


@dataclass(frozen=True)
class MetricRange:
    key: str
    span: timedelta
    bucket: timedelta


RANGES = {
    "1h": MetricRange("1h", timedelta(hours=1), timedelta(minutes=1)),
    "24h": MetricRange("24h", timedelta(hours=24), timedelta(minutes=30)),
    "7d": MetricRange("7d", timedelta(days=7), timedelta(hours=3)),
    "30d": MetricRange("30d", timedelta(days=30), timedelta(hours=12)),
}


def metric_range(key: str | None) -> MetricRange:
    """The range called ``key`` (default 24h); ValueError for unknown names."""
    if not key:
        return RANGES["24h"]
    try:
        return RANGES[key]
    except KeyError:
        raise ValueError(f"range must be one of {', '.join(RANGES)}") from None


def optional_model(label: str, name: str) -> Any:
    """A model of another app, or None when that app does not provide it."""
    try:
        return apps.get_model(label, name)
    except LookupError:
        return None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _rate(success: int, failure: int) -> float | None:
    total = success + failure
    return success / total if total else None


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


# --- Events --------------------------------------------------------------------


def events_list(
    *, types: Iterable[str] = (), task_id: str | None = None, execution_id: int | None = None,
    since: datetime | None = None, until: datetime | None = None,
) -> QuerySet[Any]:
    """Events, newest first. A type ending in ``.*`` matches a prefix."""
    from django.db.models import Q

    from orchestration.models import Event

    qs = Event.objects.select_related("task").order_by("-created_at", "-id")
    type_filter = Q()
    for t in types:
        type_filter |= Q(type__startswith=t[:-1]) if t.endswith(".*") else Q(type=t)
    if type_filter:
        qs = qs.filter(type_filter)
    if task_id:
        qs = qs.filter(task__task_id=task_id)
    if execution_id:
        qs = qs.filter(execution_id=execution_id)
    if since:
        qs = qs.filter(created_at__gte=since)
    if until:
        qs = qs.filter(created_at__lt=until)
    return qs


# --- Metrics -------------------------------------------------------------------


def _executions(since: datetime, until: datetime, task_id: str | None) -> QuerySet[Any]:
    from orchestration.models import Execution

    qs = Execution.objects.filter(created_at__gte=since, created_at__lt=until)
    if task_id:
        qs = qs.filter(task__task_id=task_id)
    return qs


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return max(0.0, (b - a).total_seconds())


def schedule_lags(*, since: datetime, until: datetime, task_id: str | None = None) -> list[tuple[datetime, float]]:
    """(scheduled time, lag seconds) of clock fires in the range, from the
    scheduler's fire records; empty when the scheduler keeps none."""
    fire = optional_model("scheduling", "Fire")
    if fire is None:
        return []
    qs = fire.objects.filter(scheduled_at__gte=since, scheduled_at__lt=until, lag_ms__isnull=False)
    if task_id:
        qs = qs.filter(schedule__task__task_id=task_id)
    return [(at, lag / 1000) for at, lag in qs.values_list("scheduled_at", "lag_ms")]


def execution_metrics(execution: Any) -> dict[str, Any]:
    """Metrics of one execution."""
    nodes = list(execution.node_runs.all())
    cpu = [n.cpu_seconds for n in nodes if n.cpu_seconds is not None]
    rss = [n.peak_rss_bytes for n in nodes if n.peak_rss_bytes is not None]
    return {
        "executionId": execution.pk,
        "taskId": execution.task.task_id,
        "status": execution.status,
        "durationSeconds": _round(_seconds(execution.started_at, execution.finished_at)),
        "queueWaitSeconds": _round(_seconds(execution.queued_at, execution.started_at)),
        "nodeCount": len(nodes),
        "nodesByStatus": dict(Counter(n.status for n in nodes)),
        "nodes": [
            {"nodeId": n.node_id, "status": n.status, "attempts": n.attempts,
             "durationSeconds": _round(n.duration_seconds), "cpuSeconds": n.cpu_seconds,
             "peakRssBytes": n.peak_rss_bytes}
            for n in nodes
        ],
        "cpuSeconds": _round(sum(cpu)) if cpu else None,
        "peakRssBytes": max(rss) if rss else None,
    }


def _summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_status = Counter(r["status"] for r in rows)
    durations = [d for r in rows if r["status"] in SUCCESS + FAILURE
                 if (d := _seconds(r["started_at"], r["finished_at"])) is not None]
    waits = [w for r in rows if (w := _seconds(r["queued_at"], r["started_at"])) is not None]
    return {
        "total": len(rows),
        "byStatus": {s: by_status.get(s, 0) for s in STATUSES},
        "successRate": _round(_rate(sum(by_status[s] for s in SUCCESS), sum(by_status[s] for s in FAILURE)), 4),
        "duration": {
            "count": len(durations),
            "avg": _round(sum(durations) / len(durations)) if durations else None,
            "p50": _round(percentile(durations, 50)),
            "p95": _round(percentile(durations, 95)),
            "max": _round(max(durations)) if durations else None,
        },
        "queueWait": {
            "count": len(waits),
            "avg": _round(sum(waits) / len(waits)) if waits else None,
            "p95": _round(percentile(waits, 95)),
        },
    }


def metrics_summary(*, range_key: str | None = None, task_id: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Aggregates over the range, overall (or for one task) and per task."""
    from orchestration.models import NodeRun

    rng = metric_range(range_key)
    until = now or timezone.now()
    since = until - rng.span
    rows = list(
        _executions(since, until, task_id).values(
            "id", "status", "queued_at", "started_at", "finished_at", "task__task_id"
        )
    )
    summary = _summarise(rows)
    per_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        per_task[row["task__task_id"]].append(row)

    nodes = NodeRun.objects.filter(execution_id__in=[r["id"] for r in rows])
    failures = Counter(
        (n, w) for n, w in nodes.filter(status__in=FAILURE).values_list("node_id", "workflow")
    )
    usage = list(nodes.values_list("cpu_seconds", "peak_rss_bytes"))
    cpu = [c for c, _ in usage if c is not None]
    rss = [r for _, r in usage if r is not None]
    lags = [lag for _, lag in schedule_lags(since=since, until=until, task_id=task_id)]
    alerts = Alert.objects.exclude(status=AlertStatus.RESOLVED)
    if task_id:
        alerts = alerts.filter(task__task_id=task_id)
    return {
        "range": rng.key,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "task": task_id,
        "executions": summary,
        "scheduleLag": {
            "count": len(lags),
            "avg": _round(sum(lags) / len(lags)) if lags else None,
            "p95": _round(percentile(lags, 95)),
            "max": _round(max(lags)) if lags else None,
        },
        "nodeFailures": [
            {"nodeId": node, "workflow": workflow, "count": count}
            for (node, workflow), count in failures.most_common()
        ],
        "resources": {
            "cpuSeconds": _round(sum(cpu)) if cpu else None,
            "avgCpuSecondsPerNode": _round(sum(cpu) / len(cpu)) if cpu else None,
            "peakRssBytes": max(rss) if rss else None,
        },
        "alertsOpen": alerts.count(),
        "tasks": [
            {"taskId": key, **{k: v for k, v in _summarise(task_rows).items() if k != "queueWait"}}
            for key, task_rows in sorted(per_task.items())
        ],
    }


def _bucket_starts(since: datetime, until: datetime, size: timedelta) -> list[datetime]:
    seconds = size.total_seconds()
    first = datetime.fromtimestamp(math.floor(since.timestamp() / seconds) * seconds, tz=since.tzinfo)
    starts = []
    current = first
    while current < until:
        starts.append(current)
        current += size
    return starts


def _bucket_index(at: datetime, first: datetime, size: timedelta) -> int:
    return int((at - first).total_seconds() // size.total_seconds())


def system_samples(*, since: datetime, until: datetime) -> list[tuple[datetime, float, float]]:
    """(time, cpu %, memory %) host samples, from the resource manager's
    samples when it keeps them, else from monitoring's own."""
    sample = optional_model("resources", "SystemSample")
    if sample is not None:
        return [
            (at, cpu, 100.0 * used / total if total else 0.0)
            for at, cpu, used, total in sample.objects.filter(taken_at__gte=since, taken_at__lt=until)
            .values_list("taken_at", "cpu_percent", "memory_used_bytes", "memory_total_bytes")
        ]
    return list(
        HostSample.objects.filter(created_at__gte=since, created_at__lt=until).values_list(
            "created_at", "cpu_percent", "memory_percent"
        )
    )


def metrics_series(*, range_key: str | None = None, task_id: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Time-bucketed series for the dashboard's charts. Buckets are aligned
    to multiples of the bucket size; the first may start before the range."""
    rng = metric_range(range_key)
    until = now or timezone.now()
    since = until - rng.span
    starts = _bucket_starts(since, until, rng.bucket)
    first = starts[0]
    n = len(starts)
    counts: dict[str, list[int]] = {s: [0] * n for s in STATUSES}
    durations: list[list[float]] = [[] for _ in range(n)]
    for status, created, started, finished in _executions(since, until, task_id).values_list(
        "status", "created_at", "started_at", "finished_at"
    ):
        i = _bucket_index(created, first, rng.bucket)
        if not 0 <= i < n:
            continue
        counts[status][i] += 1
        if status in SUCCESS + FAILURE and (d := _seconds(started, finished)) is not None:
            durations[i].append(d)
    lags: list[list[float]] = [[] for _ in range(n)]
    for at, lag in schedule_lags(since=since, until=until, task_id=task_id):
        i = _bucket_index(at, first, rng.bucket)
        if 0 <= i < n:
            lags[i].append(lag)
    cpu: list[list[float]] = [[] for _ in range(n)]
    memory: list[list[float]] = [[] for _ in range(n)]
    for at, c, m in system_samples(since=since, until=until):
        i = _bucket_index(at, first, rng.bucket)
        if 0 <= i < n:
            cpu[i].append(c)
            memory[i].append(m)

    def avg(values: list[float]) -> float | None:
        return _round(sum(values) / len(values), 2) if values else None

    return {
        "range": rng.key,
        "task": task_id,
        "bucketSeconds": int(rng.bucket.total_seconds()),
        "buckets": [s.isoformat() for s in starts],
        "executions": counts,
        "successRate": [
            _round(_rate(sum(counts[s][i] for s in SUCCESS), sum(counts[s][i] for s in FAILURE)), 4)
            for i in range(n)
        ],
        "durationP50": [_round(percentile(d, 50)) for d in durations],
        "durationP95": [_round(percentile(d, 95)) for d in durations],
        "scheduleLag": [avg(values) for values in lags],
        "system": {"cpu": [avg(v) for v in cpu], "memory": [avg(v) for v in memory]},
    }


# --- Dashboard tables -------------------------------------------------------------


def executions_running(*, limit: int = 20) -> list[Any]:
    from orchestration.models import Execution

    return list(
        Execution.objects.filter(status__in=["running", "queued"]).select_related("task")
        .order_by("status", "-started_at", "-id")[:limit]
    )


def executions_recent_failures(*, since: datetime, limit: int = 10) -> list[Any]:
    from orchestration.models import Execution

    return list(
        Execution.objects.filter(status__in=FAILURE, created_at__gte=since).select_related("task")
        .order_by("-finished_at", "-id")[:limit]
    )


def alerts_active(*, limit: int | None = None) -> QuerySet[Alert]:
    qs = Alert.objects.exclude(status=AlertStatus.RESOLVED).select_related("task").order_by("-last_seen_at", "-id")
    return qs[:limit] if limit else qs


def workers_alive(*, now: datetime | None = None) -> int | None:
    """Workers with a recent heartbeat, or None when workers do not report
    heartbeats (no resource manager), i.e. when liveness is unknown."""
    worker = optional_model("resources", "Worker")
    if worker is None:
        return None
    stale = getattr(settings, "WEBAUTO_WORKER_LOST_SECONDS", 90)
    since = (now or timezone.now()) - timedelta(seconds=stale)
    return worker.objects.filter(status="alive", last_heartbeat_at__gte=since).count()
