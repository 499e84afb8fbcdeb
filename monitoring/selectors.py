"""Reads: events, metrics (per execution, per task, overall) and chart series.

Definitions used throughout:
- executions are attributed to the time they were created;
- success rate = (completed + completed_with_errors) / (those + failed +
  timed_out); cancelled and unfinished runs are left out; None without data;
- duration = finished_at - started_at; queue wait = started_at - queued_at;
- percentiles interpolate linearly between closest ranks (PostgreSQL's
  percentile_cont, which computes them there; see ``monitoring.aggregates``);
- the 7d and 30d summary on PostgreSQL reads whole UTC days from the daily
  rollups (``monitoring.rollups``): exact counts, sums, averages and maxima,
  percentiles from histograms within 4.53 % + 0.5 ms of the exact value.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Avg, Case, Count, F, FloatField, Max, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Greatest
from django.utils import timezone

from monitoring import rollups
from monitoring.aggregates import (
    EpochBucket,
    PercentileCont,
    Seconds,
    grouped_percentiles,
    percentiles_in_sql,
    sort_memory,
)
from monitoring.aggregates import percentile as percentile  # part of this module's public reads
from monitoring.models import Alert, AlertStatus
from resources import selectors as resources_selectors
from scheduling import selectors as scheduling_selectors

SUCCESS = ("completed", "completed_with_errors")
FAILURE = ("failed", "timed_out")
STATUSES = ("pending", "queued", "running", "completed", "completed_with_errors", "failed", "cancelled", "timed_out")


@dataclass(frozen=True)
class MetricRange:
    """A range of the metrics: its span, its chart bucket, and whether its
    summary reads the daily rollups for whole days (PostgreSQL; percentiles
    then approximate, see ``monitoring.rollups``)."""

    key: str
    span: timedelta
    bucket: timedelta
    rollups: bool = False


RANGES = {
    "1h": MetricRange("1h", timedelta(hours=1), timedelta(minutes=1)),
    "24h": MetricRange("24h", timedelta(hours=24), timedelta(minutes=30)),
    "7d": MetricRange("7d", timedelta(days=7), timedelta(hours=3), rollups=True),
    "30d": MetricRange("30d", timedelta(days=30), timedelta(hours=12), rollups=True),
}


def metric_range(key: str | None) -> MetricRange:
    """The range called ``key`` (default 24h); ValueError for unknown names."""
    if not key:
        return RANGES["24h"]
    try:
        return RANGES[key]
    except KeyError:
        raise ValueError(f"range must be one of {', '.join(RANGES)}") from None


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
#
# Every figure is aggregated by the database (counts, sums, averages, maxima,
# time buckets, and on PostgreSQL the percentiles), so the cost of a request
# does not grow with the number of executions loaded into Python.

DECIDED = SUCCESS + FAILURE


def _executions(since: datetime, until: datetime, task_id: str | None) -> QuerySet[Any]:
    from orchestration.models import Execution

    qs = Execution.objects.filter(created_at__gte=since, created_at__lt=until)
    if task_id:
        qs = qs.filter(task__task_id=task_id)
    return qs.order_by()


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return max(0.0, (b - a).total_seconds())


def _elapsed(start: str, end: str, **when: Any) -> Case:
    """Seconds from ``start`` to ``end`` (floored at 0) where both are set
    and ``when`` holds, else NULL (so COUNT/AVG/percentiles skip the row)."""
    return Case(
        When(**{f"{start}__isnull": False, f"{end}__isnull": False}, **when,
             then=Greatest(Seconds(end, start), Value(0.0))),
        default=None, output_field=FloatField(),
    )


def _duration() -> Case:
    """Duration of a decided run (success or failure)."""
    return _elapsed("started_at", "finished_at", status__in=DECIDED)


def _queue_wait() -> Case:
    return _elapsed("queued_at", "started_at")


def _fires(since: datetime, until: datetime, task_id: str | None) -> QuerySet[Any]:
    """Clock fires with a lag in the range, read through the scheduler's
    selectors. Fires outlive their schedule and task (``task_key``)."""
    return scheduling_selectors.clock_fires_between(since=since, until=until, task_id=task_id)


def schedule_lag_stats(*, since: datetime, until: datetime, task_id: str | None = None) -> dict[str, Any]:
    """``{"count", "avg", "p95", "max"}`` of the lag (seconds, unrounded;
    None without fires) of clock fires in the range, aggregated in SQL."""
    qs = _fires(since, until, task_id)
    if percentiles_in_sql():
        row = qs.aggregate(count=Count("id"), avg=Avg("lag_ms"), max=Max("lag_ms"), p95=PercentileCont("lag_ms", 0.95))
        p95 = row["p95"]
    else:
        row = qs.aggregate(count=Count("id"), avg=Avg("lag_ms"), max=Max("lag_ms"))
        p95 = grouped_percentiles(qs, value=F("lag_ms"), quantiles=[95]).get(None, {}).get(95)
    return {
        "count": row["count"],
        **{k: None if v is None else v / 1000 for k, v in (("avg", row["avg"]), ("p95", p95), ("max", row["max"]))},
    }


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


def _execution_stats(
    since: datetime, until: datetime, task_id: str | None,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Raw aggregates of the executions created in [since, until) (of one
    task, or all), overall and per taskId: ``total``, ``status_<s>``,
    ``d_*`` for durations of decided runs, ``w_*`` for queue waits (overall
    only)."""
    if percentiles_in_sql():
        return _execution_stats_postgresql(since, until, task_id)
    qs = _executions(since, until, task_id)
    duration, wait = _duration(), _queue_wait()
    aggregates: dict[str, Any] = {
        "total": Count("id"),
        **{f"status_{s}": Count("id", filter=Q(status=s)) for s in STATUSES},
        "d_count": Count(duration), "d_avg": Avg(duration), "d_max": Max(duration),
    }
    overall = qs.aggregate(**aggregates, w_count=Count(wait), w_avg=Avg(wait))
    per_task = {row["task__task_id"]: row for row in qs.values("task__task_id").annotate(**aggregates)}
    found = grouped_percentiles(qs, value=duration, quantiles=[50, 95])
    overall["d_p50"], overall["d_p95"] = found.get(None, {}).get(50), found.get(None, {}).get(95)
    overall["w_p95"] = grouped_percentiles(qs, value=wait, quantiles=[95]).get(None, {}).get(95)
    for key, values in grouped_percentiles(qs, value=duration, group=F("task__task_id"), quantiles=[50, 95]).items():
        per_task[key]["d_p50"], per_task[key]["d_p95"] = values[50], values[95]
    for row in per_task.values():
        row.setdefault("d_p50", None)
        row.setdefault("d_p95", None)
    return overall, per_task


# Raw SQL for PostgreSQL: a decided run's duration and a run's queue wait, in
# seconds floored at 0, as ``_duration()`` and ``_queue_wait()`` compute them.
_PG_DURATION = (
    "CASE WHEN e.status IN ('completed', 'completed_with_errors', 'failed', 'timed_out')"
    " AND e.started_at IS NOT NULL AND e.finished_at IS NOT NULL"
    " THEN GREATEST(date_part('epoch', e.finished_at - e.started_at), 0.0) END"
)
_PG_WAIT = (
    "CASE WHEN e.queued_at IS NOT NULL AND e.started_at IS NOT NULL"
    " THEN GREATEST(date_part('epoch', e.started_at - e.queued_at), 0.0) END"
)


def _pg_status_counts(column: str) -> tuple[str, list[str]]:
    return ", ".join(f'COUNT(*) FILTER (WHERE {column} = %s) AS "status_{s}"' for s in STATUSES), list(STATUSES)


def _pg_rows(sql: str, params: list[Any] | dict[str, Any]) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [c.name for c in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def _execution_stats_postgresql(
    since: datetime, until: datetime, task_id: str | None,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """``_execution_stats`` on PostgreSQL, in one pass.

    The range is read by an index-only scan of the covering index on
    (task, created_at) (migration monitoring 0003), which hands the rows
    over already grouped by task: ``GROUPING SETS`` then gives the per-task
    rows and the overall row without sorting the month by task, and each
    percentile sorts only its own group's values. (The per-task queue-wait
    p95 comes for free from the same pass and is not shown.)"""
    from orchestration.models import Execution, Task

    execution, task = (connection.ops.quote_name(m._meta.db_table) for m in (Execution, Task))
    statuses, status_params = _pg_status_counts("s.status")
    only_task = f"AND e.task_id IN (SELECT id FROM {task} WHERE task_id = %s)" if task_id else ""
    rows = _pg_rows(f"""
        SELECT s.task, GROUPING(s.task) AS overall, COUNT(*) AS total, {statuses},
               COUNT(s._d) AS d_count, AVG(s._d) AS d_avg, MAX(s._d) AS d_max,
               percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY s._d) AS d_p,
               COUNT(s._w) AS w_count, AVG(s._w) AS w_avg,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY s._w) AS w_p95
        FROM (SELECT e.task_id AS task, e.status, {_PG_DURATION} AS _d, {_PG_WAIT} AS _w FROM {execution} e
              WHERE e.created_at >= %s AND e.created_at < %s {only_task}) s
        GROUP BY GROUPING SETS ((s.task), ())
    """, [*status_params, since, until, *([task_id] if task_id else [])])
    # The empty grouping set always yields the overall row, even for no rows.
    overall: dict[str, Any] = {}
    per_task: dict[str, dict[str, Any]] = {}
    task_ids = dict(Task.objects.filter(pk__in=[r["task"] for r in rows if not r["overall"]]).values_list("pk", "task_id"))
    for row in rows:
        row["d_p50"], row["d_p95"] = row.pop("d_p") or (None, None)
        if row["overall"]:
            overall = row
        elif row["task"] in task_ids:  # a task deleted in between has no taskId left to show
            per_task[task_ids[row["task"]]] = row
    return overall, per_task


ACTIVE = ("pending", "queued", "running")


def _stats_from_rollups(
    since: datetime, until: datetime, days: tuple[Any, Any], task_id: str | None,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """``_execution_stats`` and the node-run figures of ``metrics_summary``
    for a range holding the whole UTC days [``days[0]``, ``days[1]``), on
    PostgreSQL: those days are read from ``ExecutionRollup`` (one row per task
    and day) and only the partial days at both ends, plus the runs of the
    whole days that have not finished (which no rollup holds yet), from the
    executions and node runs. Percentiles come from the merged histograms
    (``monitoring.rollups.histogram_percentile``); everything else is exact.

    Node figures are rows ``{"node_id", "workflow", "failed", "cpu", "cpu_n",
    "rss"}``: one per failing node, and one (``failed`` 0) with the usage."""
    from monitoring.models import ExecutionRollup
    from orchestration.models import Execution, NodeRun, Task

    execution, task, noderun, rollup = (
        connection.ops.quote_name(m._meta.db_table) for m in (Execution, Task, NodeRun, ExecutionRollup))
    first, end = days
    low, high = rollups.day_start(first), rollups.day_start(end)
    only = f"AND e.task_id IN (SELECT id FROM {task} WHERE task_id = %(task)s)" if task_id else ""
    only_r = f"AND r.task_id IN (SELECT id FROM {task} WHERE task_id = %(task)s)" if task_id else ""
    params = {"since": since, "until": until, "low": low, "high": high, "first": first, "end": end,
              "task": task_id, **{f"s_{s}": s for s in STATUSES}}
    active = ", ".join(f"%(s_{s})s" for s in ACTIVE)

    def raw_rows(columns: str) -> str:
        """The executions read from rows: the partial days at both ends, and
        the unfinished runs of the whole days. Without ``e.id`` the covering
        index on created_at (migration monitoring 0003) answers alone."""
        select = f"SELECT {columns} FROM {execution} e"
        return f"""raw AS (
            {select} WHERE e.created_at >= %(since)s AND e.created_at < %(low)s {only}
            UNION ALL {select} WHERE e.created_at >= %(high)s AND e.created_at < %(until)s {only}
            UNION ALL {select} WHERE e.created_at >= %(low)s AND e.created_at < %(high)s
                AND e.status IN ({active}) {only})"""

    raw = raw_rows(f"e.task_id, e.status, {_PG_DURATION} AS d, {_PG_WAIT} AS w")
    days_r = f"r.day >= %(first)s AND r.day < %(end)s {only_r}"
    final = [s for s in STATUSES if s not in ACTIVE]
    unit_counts = ", ".join([*(f"0 AS {s}" for s in ACTIVE), *(f"r.{s}" for s in final)])
    raw_counts = ", ".join(f"(raw.status = %(s_{s})s)::int" for s in STATUSES)
    sums = ", ".join(f'COALESCE(SUM(u.{s}), 0)::bigint AS "status_{s}"' for s in STATUSES)
    rows = _pg_rows(f"""
        WITH {raw}, u AS (
            SELECT r.task_id AS task, {unit_counts}, r.d_count, r.d_sum, r.d_min, r.d_max,
                   r.w_count, r.w_sum, r.w_min, r.w_max
            FROM {rollup} r WHERE {days_r}
            UNION ALL
            SELECT raw.task_id, {raw_counts}, (raw.d IS NOT NULL)::int, COALESCE(raw.d, 0.0), raw.d, raw.d,
                   (raw.w IS NOT NULL)::int, COALESCE(raw.w, 0.0), raw.w, raw.w
            FROM raw
        )
        SELECT u.task, GROUPING(u.task) AS overall, COALESCE(SUM({" + ".join(f"u.{s}" for s in STATUSES)}), 0)::bigint AS total,
               {sums}, COALESCE(SUM(u.d_count), 0)::bigint AS d_count, SUM(u.d_sum) AS d_sum, MIN(u.d_min) AS d_min,
               MAX(u.d_max) AS d_max, COALESCE(SUM(u.w_count), 0)::bigint AS w_count, SUM(u.w_sum) AS w_sum,
               MIN(u.w_min) AS w_min, MAX(u.w_max) AS w_max
        FROM u GROUP BY GROUPING SETS ((u.task), ())
    """, params)
    cells = _pg_rows(f"""
        WITH {raw}
        SELECT 'd' AS kind, s.task, s.k, SUM(s.c)::bigint AS n FROM (
            SELECT r.task_id AS task, x.k::int AS k, x.v::bigint AS c
            FROM {rollup} r, jsonb_each_text(r.d_hist) x(k, v) WHERE {days_r}
            UNION ALL SELECT raw.task_id, {rollups.bucket_sql("raw.d")}, 1 FROM raw WHERE raw.d IS NOT NULL
        ) s GROUP BY s.task, s.k
        UNION ALL
        SELECT 'w', NULL, s.k, SUM(s.c)::bigint FROM (
            SELECT x.k::int AS k, x.v::bigint AS c FROM {rollup} r, jsonb_each_text(r.w_hist) x(k, v) WHERE {days_r}
            UNION ALL SELECT {rollups.bucket_sql("raw.w")}, 1 FROM raw WHERE raw.w IS NOT NULL
        ) s GROUP BY s.k
    """, params)
    failure = ", ".join(f"%(s_{s})s" for s in FAILURE)
    nodes = _pg_rows(f"""
        WITH {raw_rows("e.id")}, rn AS MATERIALIZED (
            SELECT nr.node_id, nr.workflow, nr.status, nr.cpu_seconds, nr.peak_rss_bytes FROM {noderun} nr
            WHERE nr.execution_id IN (SELECT id FROM raw)
        )
        SELECT s.k, SUM(s.c)::bigint AS failed, NULL::float8 AS cpu, 0::bigint AS cpu_n, NULL::bigint AS rss FROM (
            SELECT x.k, x.v::bigint AS c FROM {rollup} r, jsonb_each_text(r.node_failures) x(k, v) WHERE {days_r}
            UNION ALL SELECT jsonb_build_array(rn.node_id, rn.workflow)::text, 1 FROM rn WHERE rn.status IN ({failure})
        ) s GROUP BY s.k
        UNION ALL
        SELECT NULL, 0, SUM(s.cpu), SUM(s.cpu_n)::bigint, MAX(s.rss) FROM (
            SELECT r.node_cpu_sum AS cpu, r.node_cpu_count AS cpu_n, r.node_rss_max AS rss
            FROM {rollup} r WHERE {days_r}
            UNION ALL SELECT rn.cpu_seconds, (rn.cpu_seconds IS NOT NULL)::int, rn.peak_rss_bytes FROM rn
        ) s
    """, params)

    durations: dict[Any, Counter[int]] = {}
    waits: Counter[int] = Counter()
    for cell in cells:
        if cell["kind"] == "w":
            waits[cell["k"]] += cell["n"]
        else:
            durations.setdefault(cell["task"], Counter())[cell["k"]] += cell["n"]
    every: Counter[int] = Counter()
    for found in durations.values():
        every.update(found)

    overall: dict[str, Any] = {}
    per_task: dict[str, dict[str, Any]] = {}
    task_ids = dict(Task.objects.filter(pk__in=[r["task"] for r in rows if not r["overall"]]).values_list("pk", "task_id"))
    for row in rows:
        found = every if row["overall"] else durations.get(row["task"], Counter())
        row["d_avg"] = row["d_sum"] / row["d_count"] if row["d_count"] else None
        row["w_avg"] = row["w_sum"] / row["w_count"] if row["w_count"] else None
        for q in (50, 95):
            row[f"d_p{q}"] = rollups.histogram_percentile(found, q, lowest=row["d_min"], highest=row["d_max"])
        # Queue waits are shown overall only, so only overall cells are summed.
        row["w_p95"] = (rollups.histogram_percentile(waits, 95, lowest=row["w_min"], highest=row["w_max"])
                        if row["overall"] else None)
        if row["overall"]:
            overall = row
        elif row["task"] in task_ids:  # a task deleted in between has no taskId left to show
            per_task[task_ids[row["task"]]] = row
    by_node = []
    for node in nodes:
        if node["k"] is None:
            by_node.append({"node_id": "", "workflow": "", "failed": 0, "cpu": node["cpu"],
                            "cpu_n": node["cpu_n"] or 0, "rss": node["rss"]})
        else:
            node_id, workflow = rollups.node_failure_key(node["k"])
            by_node.append({"node_id": node_id, "workflow": workflow, "failed": node["failed"], "cpu": None,
                            "cpu_n": 0, "rss": None})
    return overall, per_task, by_node


def _summarise(row: dict[str, Any], *, waits: bool = True) -> dict[str, Any]:
    by_status = {s: row[f"status_{s}"] for s in STATUSES}
    out = {
        "total": row["total"],
        "byStatus": by_status,
        "successRate": _round(_rate(sum(by_status[s] for s in SUCCESS), sum(by_status[s] for s in FAILURE)), 4),
        "duration": {
            "count": row["d_count"],
            "avg": _round(row["d_avg"]),
            "p50": _round(row["d_p50"]),
            "p95": _round(row["d_p95"]),
            "max": _round(row["d_max"]),
        },
    }
    if waits:
        out["queueWait"] = {"count": row["w_count"], "avg": _round(row["w_avg"]), "p95": _round(row["w_p95"])}
    return out


def metrics_summary(*, range_key: str | None = None, task_id: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Aggregates over the range, overall (or for one task) and per task.

    Node failures are ordered by count, then node id and workflow. On
    PostgreSQL the 7d and 30d ranges read the whole UTC days from the daily
    rollups and raw rows only for the partial days at both ends (and for runs
    not finished yet): counts, sums, averages, minima and maxima stay exact,
    duration and queue-wait percentiles come from the rollups' histograms
    (error bound in ``monitoring.rollups``). The 1h and 24h ranges, and every
    range on other databases, read raw rows and are exact."""
    from orchestration.models import NodeRun

    rng = metric_range(range_key)
    until = now or timezone.now()
    since = until - rng.span
    days = rollups.whole_days(since, until) if rng.rollups and percentiles_in_sql() else None
    by_node: list[dict[str, Any]]
    with sort_memory(snapshot=days is not None):
        if days is not None:
            overall, per_task, by_node = _stats_from_rollups(since, until, days, task_id)
        else:
            overall, per_task = _execution_stats(since, until, task_id)
            nodes = NodeRun.objects.filter(
                execution__created_at__gte=since, execution__created_at__lt=until).order_by()
            if task_id:
                nodes = nodes.filter(execution__task__task_id=task_id)
            # One pass over the node runs for both failures and resource usage.
            by_node = [dict(row) for row in nodes.values("node_id", "workflow").annotate(
                failed=Count("id", filter=Q(status__in=FAILURE)), cpu=Sum("cpu_seconds"), cpu_n=Count("cpu_seconds"),
                rss=Max("peak_rss_bytes"),
            )]
        lag = schedule_lag_stats(since=since, until=until, task_id=task_id)
    failures = sorted((r for r in by_node if r["failed"]), key=lambda r: (-r["failed"], r["node_id"], r["workflow"]))
    cpu_n = sum(r["cpu_n"] for r in by_node)
    cpu = sum(r["cpu"] for r in by_node if r["cpu"] is not None) if cpu_n else None
    rss = max((r["rss"] for r in by_node if r["rss"] is not None), default=None)
    alerts = Alert.objects.exclude(status=AlertStatus.RESOLVED)
    if task_id:
        alerts = alerts.filter(task__task_id=task_id)
    return {
        "range": rng.key,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "task": task_id,
        "executions": _summarise(overall),
        "scheduleLag": {
            "count": lag["count"],
            "avg": _round(lag["avg"]),
            "p95": _round(lag["p95"]),
            "max": _round(lag["max"]),
        },
        "nodeFailures": [
            {"nodeId": row["node_id"], "workflow": row["workflow"], "count": row["failed"]} for row in failures
        ],
        "resources": {
            "cpuSeconds": _round(cpu),
            "avgCpuSecondsPerNode": _round(cpu / cpu_n) if cpu is not None else None,
            "peakRssBytes": rss,
        },
        "alertsOpen": alerts.count(),
        "tasks": [
            {"taskId": key, **_summarise(row, waits=False)} for key, row in sorted(per_task.items())
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


def _system_by_bucket(since: datetime, until: datetime, size: int) -> QuerySet[Any]:
    """Rows ``{"_b", "cpu", "memory"}``: average cpu % and memory % of the
    host samples per bucket number."""
    qs = resources_selectors.system_samples_between(since=since, until=until).annotate(_b=EpochBucket("taken_at", size))
    return qs.order_by().values("_b").annotate(cpu=Avg("cpu_percent"), memory=Avg("memory_pct"))


def _series_executions_postgresql(
    starts: list[datetime], size: timedelta, since: datetime, until: datetime, task_id: str | None,
) -> list[dict[str, Any]]:
    """Per bucket (in ``starts`` order): ``status_<s>`` counts and ``d_p``
    ([p50, p95] of decided runs' durations, or None) of the executions
    created in the bucket and in [since, until).

    A LATERAL subquery per bucket reads its slice through the covering index
    on created_at (migration monitoring 0003), an index-only range scan, so
    each bucket's durations are sorted on their own and the month is never
    sorted by bucket."""
    from orchestration.models import Execution, Task

    execution, task = (connection.ops.quote_name(m._meta.db_table) for m in (Execution, Task))
    statuses, status_params = _pg_status_counts("e.status")
    only_task = f"AND e.task_id IN (SELECT id FROM {task} WHERE task_id = %s)" if task_id else ""
    lows = [max(start, since) for start in starts]
    highs = [min(start + size, until) for start in starts]
    return _pg_rows(f"""
        SELECT b.i, x.*
        FROM unnest(%s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY AS b(low, high, i)
        CROSS JOIN LATERAL (
            SELECT {statuses},
                   percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY {_PG_DURATION}) AS d_p
            FROM {execution} e
            WHERE e.created_at >= b.low AND e.created_at < b.high {only_task}
        ) x
        ORDER BY b.i
    """, [lows, highs, *status_params, *([task_id] if task_id else [])])


def metrics_series(*, range_key: str | None = None, task_id: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Time-bucketed series for the dashboard's charts. Buckets are aligned
    to multiples of the bucket size; the first may start before the range."""
    rng = metric_range(range_key)
    until = now or timezone.now()
    since = until - rng.span
    starts = _bucket_starts(since, until, rng.bucket)
    size = int(rng.bucket.total_seconds())
    first = math.floor(starts[0].timestamp() / size)
    n = len(starts)

    def index(bucket: int | None) -> int | None:
        i = None if bucket is None else bucket - first
        return i if i is not None and 0 <= i < n else None

    counts: dict[str, list[int]] = {s: [0] * n for s in STATUSES}
    p50: list[float | None] = [None] * n
    p95: list[float | None] = [None] * n
    lags: list[float | None] = [None] * n
    cpu: list[float | None] = [None] * n
    memory: list[float | None] = [None] * n
    with sort_memory():
        if percentiles_in_sql():
            for k, row in enumerate(_series_executions_postgresql(starts, rng.bucket, since, until, task_id)):
                for status in STATUSES:
                    counts[status][k] = row[f"status_{status}"]
                if row["d_p"]:
                    p50[k], p95[k] = _round(row["d_p"][0]), _round(row["d_p"][1])
        else:
            executions = _executions(since, until, task_id).annotate(_b=EpochBucket("created_at", size))
            aggregates: dict[str, Any] = {f"status_{s}": Count("id", filter=Q(status=s)) for s in STATUSES}
            for row in executions.values("_b").annotate(**aggregates):
                if (i := index(row["_b"])) is None:
                    continue
                for status in STATUSES:
                    counts[status][i] += row[f"status_{status}"]
            for bucket, found in grouped_percentiles(
                executions, value=_duration(), group=EpochBucket("created_at", size), quantiles=[50, 95]
            ).items():
                if (i := index(bucket)) is not None:
                    p50[i], p95[i] = _round(found[50]), _round(found[95])
        fires = _fires(since, until, task_id)
        for row in fires.annotate(_b=EpochBucket("scheduled_at", size)).values("_b").annotate(avg=Avg("lag_ms")):
            if (i := index(row["_b"])) is not None:
                lags[i] = _round(row["avg"] / 1000, 2)
        for row in _system_by_bucket(since, until, size):
            if (i := index(row["_b"])) is not None:
                cpu[i], memory[i] = _round(row["cpu"], 2), _round(row["memory"], 2)

    return {
        "range": rng.key,
        "task": task_id,
        "bucketSeconds": size,
        "buckets": [s.isoformat() for s in starts],
        "executions": counts,
        "successRate": [
            _round(_rate(sum(counts[s][i] for s in SUCCESS), sum(counts[s][i] for s in FAILURE)), 4)
            for i in range(n)
        ],
        "durationP50": p50,
        "durationP95": p95,
        "scheduleLag": lags,
        "system": {"cpu": cpu, "memory": memory},
    }


# --- Dashboard tables -------------------------------------------------------------


def executions_running(*, limit: int = 20) -> list[Any]:
    from orchestration.models import Execution

    return list(
        Execution.objects.filter(status__in=["running", "queued"]).select_related("task")
        .order_by("status", "-started_at", "-id")[:limit]
    )


def alerts_active(*, limit: int | None = None) -> QuerySet[Alert]:
    qs = Alert.objects.exclude(status=AlertStatus.RESOLVED).select_related("task").order_by("-last_seen_at", "-id")
    return qs[:limit] if limit else qs


def workers_alive(*, now: datetime | None = None) -> int:
    """Workers with a recent heartbeat (``WEBAUTO_WORKER_LOST_SECONDS``), as
    the resource manager counts them."""
    return resources_selectors.workers_alive_count(now=now)
