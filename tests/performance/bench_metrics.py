"""Metrics benchmark: the summary, the chart series and /metrics over a big history.

Creates its own scratch PostgreSQL database, fills it in SQL
(``INSERT ... SELECT`` over ``generate_series``) with ``--executions``
executions (one node run each) and ``--events`` events spread over the last
30 days, a per-minute schedule's fire records and per-minute host samples for
those 30 days, seeds the Prometheus running totals and the daily rollups from
the executions (the migrations' code), ``VACUUM ANALYZE``s, then times, in this process through
Django's test client (URL routing, authentication, DRF, JSON rendering):

- ``GET /api/v1/metrics/summary/?range=30d``
- ``GET /api/v1/metrics/series/?range=30d``
- ``GET /metrics``

each ``--repeat`` times after one warm-up request, prints a table (median,
min, max of the wall time, and the median CPU time: this process plus the
PostgreSQL backend, from /proc, parallel query workers not counted), the
queries of one more request of each with their times, and, last,
``RESULT {"summary_ms", "series_ms", "prometheus_ms", "<same>_cpu_ms",
"load_1m": [before, after]}`` (medians). The target is under 300 ms each. On
a shared machine compare the CPU figures: the wall time also counts waiting
for a core. The database is dropped at the end (``--keep`` keeps it;
``--reuse`` times a kept one again without refilling it; ``--profiles DIR``
writes ``EXPLAIN (ANALYZE, BUFFERS)`` of every query to
``DIR/metrics-<request>.txt``).

    .venv/bin/python tests/performance/bench_metrics.py [--executions 200000] [--events 1000000] [--repeat 7]

Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/webauto_bench_metrics),
REDIS_URL (default redis://127.0.0.1:6379/3; only flushed by the shared bootstrap).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from typing import Any

import benchsupport  # noqa: E402  (sits beside this script)

os.environ.setdefault("WEBAUTO_METRICS_TOKEN", "bench-metrics-token")
benchsupport.configure(database="webauto_bench_metrics", redis_db=3)

DAYS = 30
TASKS = 50
# Final statuses mostly, as in a real history; a few runs still active.
STATUS_WEIGHTS = {
    "completed": 700, "completed_with_errors": 80, "failed": 100, "cancelled": 50, "timed_out": 60,
    "running": 5, "queued": 3, "pending": 2,
}
EVENT_TYPES = ["execution.created", "execution.queued", "execution.started", "execution.completed",
               "workflow.completed", "workflow.failed", "execution.failed", "schedule.fired"]


def _admin_connection() -> Any:
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    return psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"] or "postgres",
                           dbname="postgres", autocommit=True)


def drop_database() -> None:
    from django.conf import settings
    from django.db import connections

    connections.close_all()
    with _admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{settings.DATABASES["default"]["NAME"]}" WITH (FORCE)')


def copy_rows(model: Any, template_pk: int, source: str, overrides: dict[str, str]) -> int:
    """INSERT one row per row of ``source`` (SQL: a table or subquery aliased
    ``b``), copying the template row's columns except the ``overrides``
    (column -> SQL expression). Robust to columns other branches add."""
    from django.db import connection

    table = model._meta.db_table
    columns = [f.column for f in model._meta.concrete_fields if not f.primary_key]
    unknown = set(overrides) - set(columns)
    if unknown:
        raise SystemExit(f"{table} has no column(s) {sorted(unknown)}")
    names = ", ".join(f'"{c}"' for c in columns)
    select = ", ".join(overrides.get(c, f't."{c}"') for c in columns)
    sql = f'INSERT INTO "{table}" ({names}) SELECT {select} FROM "{table}" t CROSS JOIN {source} WHERE t.id = {int(template_pk)}'
    with connection.cursor() as cursor:
        cursor.execute(sql)  # no parameters: "%" stays the modulo operator
        return cursor.rowcount


def fill(executions: int, events: int) -> dict[str, float]:
    """Fill the database; returns seconds spent per table."""
    from django.db import connection
    from django.utils import timezone

    from monitoring.models import ExecutionRollup, ExecutionTally
    from orchestration.models import Event, Execution, NodeRun, Task
    from resources.models import SystemSample
    from scheduling.models import Fire, Schedule

    spent: dict[str, float] = {}
    tasks = Task.objects.bulk_create(
        Task(task_id=f"bench-metrics-{i:03d}", name=f"Bench task {i}", workflows=[]) for i in range(TASKS)
    )
    task_ids = ",".join(str(t.pk) for t in tasks)
    statuses = ",".join(f"'{s}'" for s, weight in STATUS_WEIGHTS.items() for _ in range(weight))
    now = timezone.now()
    template = Execution.objects.create(task=tasks[0], status="completed", definition={"taskId": tasks[0].task_id})
    node_template = NodeRun.objects.create(execution=template, node_id="fetch", workflow="http", status="completed")
    event_template = Event.objects.create(type="execution.created", task=tasks[0])
    schedule = Schedule.objects.create(task=tasks[0], kind="interval", interval_ms=60_000, interval_value=1,
                                       interval_unit="m", enabled=False)
    fire_template = Fire.objects.create(schedule=schedule, source="clock", scheduled_at=now, dedup_key="template",
                                        outcome="started")
    sample_template = SystemSample.objects.create(
        host="bench", taken_at=now, cpu_percent=1, cores=2, memory_used_bytes=1, memory_total_bytes=2,
        disk_used_bytes=1, disk_total_bytes=2, load_1m=0, load_5m=0, load_15m=0,
    )

    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(f"""
            CREATE TEMP TABLE bench_exec AS
            SELECT g, (ARRAY[{task_ids}])[1 + g % {TASKS}] AS task_id,
                   (ARRAY[{statuses}])[1 + floor(random() * 1000)::int] AS status,
                   now() - random() * interval '{DAYS} days' AS created,
                   random() * 5 AS wait, random() * random() * 900 AS dur
            FROM generate_series(1, {int(executions)}) g
        """)
    copy_rows(Execution, template.pk, "bench_exec b", {
        "task_id": "b.task_id", "status": "b.status", "created_at": "b.created",
        "queued_at": "CASE WHEN b.status = 'pending' THEN NULL ELSE b.created + b.wait * interval '1 second' END",
        "started_at": "CASE WHEN b.status IN ('pending', 'queued') THEN NULL "
                      "ELSE b.created + b.wait * interval '1 second' END",
        "finished_at": "CASE WHEN b.status IN ('pending', 'queued', 'running') THEN NULL "
                       "ELSE b.created + (b.wait + b.dur) * interval '1 second' END",
    })
    spent["executions"] = time.monotonic() - started

    started = time.monotonic()
    copy_rows(NodeRun, node_template.pk,
              f"(SELECT id, status, started_at, finished_at FROM orchestration_execution WHERE id <> {template.pk}) b",
              {"execution_id": "b.id",
               "status": "CASE b.status WHEN 'completed' THEN 'completed' WHEN 'completed_with_errors' THEN 'completed'"
                         " WHEN 'failed' THEN 'failed' WHEN 'timed_out' THEN 'timed_out' WHEN 'running' THEN 'running'"
                         " WHEN 'cancelled' THEN 'cancelled' ELSE 'pending' END",
               "started_at": "b.started_at", "finished_at": "b.finished_at",
               "cpu_seconds": "CASE WHEN b.finished_at IS NULL THEN NULL ELSE random() * 3 END",
               "peak_rss_bytes": "CASE WHEN b.finished_at IS NULL THEN NULL ELSE (random() * 4e8)::bigint END"})
    spent["node runs"] = time.monotonic() - started

    started = time.monotonic()
    event_types = ",".join(f"'{t}'" for t in EVENT_TYPES)
    copy_rows(Event, event_template.pk, f"generate_series(1, {int(events)}) b(g)", {
        "type": f"(ARRAY[{event_types}])[1 + b.g % {len(EVENT_TYPES)}]",
        "task_id": f"(ARRAY[{task_ids}])[1 + b.g % {TASKS}]",
        "created_at": f"now() - random() * interval '{DAYS} days'",
    })
    spent["events"] = time.monotonic() - started

    started = time.monotonic()
    minutes = DAYS * 24 * 60
    copy_rows(Fire, fire_template.pk, f"generate_series(1, {minutes}) b(g)", {
        "scheduled_at": "date_trunc('minute', now()) - b.g * interval '1 minute'",
        "dedup_key": "b.g::text",
        "lag_ms": "random() * 2000",
        "fired_at": "date_trunc('minute', now()) - b.g * interval '1 minute' + random() * interval '2 seconds'",
    })
    copy_rows(SystemSample, sample_template.pk, f"generate_series(1, {minutes}) b(g)", {
        "taken_at": "now() - b.g * interval '1 minute'",
        "cpu_percent": "random() * 100",
        "memory_used_bytes": "(random() * 8e9)::bigint", "memory_total_bytes": "8000000000",
    })
    spent["fires, samples"] = time.monotonic() - started

    Execution.objects.filter(pk=template.pk).delete()  # with its node run
    Event.objects.filter(pk=event_template.pk).delete()
    Fire.objects.filter(pk=fire_template.pk).delete()
    SystemSample.objects.filter(pk=sample_template.pk).delete()

    started = time.monotonic()
    from django.apps import apps

    seed = __import__("monitoring.migrations.0002_execution_tally", fromlist=["seed_from_history"])
    ExecutionTally.objects.all().delete()
    seed.seed_from_history(apps, None)
    spent["counters"] = time.monotonic() - started

    started = time.monotonic()
    ExecutionRollup.objects.all().delete()
    __import__("monitoring.migrations.0005_execution_rollup", fromlist=["backfill"]).backfill(apps, None)
    spent["rollups"] = time.monotonic() - started

    started = time.monotonic()
    connection.close()
    with _database_connection() as conn:
        conn.execute("VACUUM ANALYZE")
    spent["vacuum analyze"] = time.monotonic() - started
    return spent


def _database_connection() -> Any:
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    return psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"] or "postgres",
                           dbname=db["NAME"], autocommit=True)


def _backend_cpu_seconds(pid: int | None) -> float:
    """CPU seconds (user + system) the PostgreSQL backend ``pid`` has used,
    read from /proc when the server runs on this machine; 0 otherwise."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _backend_pid() -> int | None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    return pid if os.path.exists(f"/proc/{pid}/stat") else None


def measure(client: Any, path: str, repeat: int, **headers: Any) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds of ``repeat`` requests after one
    warm-up. CPU is this process (Django, DRF, rendering) plus the database
    backend serving it: on a shared machine it tells what the request costs
    whatever else runs, where the wall clock also counts waiting for a core."""
    response = client.get(path, **headers)  # warm-up: connection, caches, plans
    if response.status_code != 200:
        raise SystemExit(f"{path} answered {response.status_code}: {response.content[:300]!r}")
    pid = _backend_pid()
    times, cpu = [], []
    for _ in range(repeat):
        cpu_before = time.process_time() + _backend_cpu_seconds(pid)
        started = time.perf_counter()
        response = client.get(path, **headers)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() + _backend_cpu_seconds(pid) - cpu_before) * 1000)
        assert response.status_code == 200
    return times, cpu


def profile(client: Any, path: str, out: str | None, **headers: Any) -> list[tuple[float, str]]:
    """(ms, SQL) of each query one request runs; with ``out``, also write
    ``EXPLAIN (ANALYZE, BUFFERS)`` of each SELECT to that file."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(path, **headers)
    queries = [(float(q["time"]) * 1000, q["sql"]) for q in captured.captured_queries]
    if out:
        with open(out, "w") as f:
            f.write(f"-- GET {path}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
            for ms, sql in queries:
                f.write(f"\n-- {ms:.1f} ms in the request\n{sql}\n")
                if sql.lstrip().upper().startswith(("SELECT", "WITH")):
                    with connection.cursor() as cursor:
                        cursor.execute("SET work_mem = '64MB'")
                        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                        f.write("\n".join(row[0] for row in cursor.fetchall()) + "\n")
                        cursor.execute("RESET work_mem")
    return queries


def _filled() -> bool:
    """True when the scratch database exists and holds executions (``--reuse``)."""
    from django.conf import settings

    with _admin_connection() as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            [settings.DATABASES["default"]["NAME"]]).fetchone():
            return False
    with _database_connection() as conn:
        try:
            return bool(conn.execute("SELECT EXISTS (SELECT 1 FROM orchestration_execution)").fetchone()[0])
        except Exception:
            return False


PATHS = {"summary": "/api/v1/metrics/summary/?range=30d", "series": "/api/v1/metrics/series/?range=30d",
         "prometheus": "/metrics"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--executions", type=int, default=200_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--reuse", action="store_true",
                        help="time the database a --keep run left (migrated first), without filling it again")
    parser.add_argument("--profiles", metavar="DIR",
                        help="write EXPLAIN (ANALYZE, BUFFERS) of each request's queries to DIR/metrics-<request>.txt")
    args = parser.parse_args()

    import django

    django.setup()
    reuse = args.reuse and _filled()
    if not reuse:
        drop_database()
    load_before = os.getloadavg()
    spent: dict[str, float] = {}
    try:
        benchsupport.setup()
        if not reuse:
            spent = fill(args.executions, args.events)

        from django.contrib.auth import get_user_model
        from django.db import connection
        from django.test import Client

        from orchestration.models import Event, Execution, NodeRun
        from scheduling.models import Fire

        user, _ = get_user_model().objects.get_or_create(
            username="bench-metrics", defaults={"is_staff": True, "is_superuser": True})
        client = Client()
        client.force_login(user)
        token = os.environ["WEBAUTO_METRICS_TOKEN"]
        headers = {"prometheus": {"HTTP_AUTHORIZATION": f"Bearer {token}"}}
        timings = {key: measure(client, path, args.repeat, **headers.get(key, {})) for key, path in PATHS.items()}
        load_after = os.getloadavg()
        if args.profiles:
            os.makedirs(args.profiles, exist_ok=True)
        queries = {
            key: profile(client, path, args.profiles and os.path.join(args.profiles, f"metrics-{key}.txt"),
                         **headers.get(key, {}))
            for key, path in PATHS.items()
        }
        rows = {"executions": Execution.objects.count(), "node runs": NodeRun.objects.count(),
                "events": Event.objects.count(), "fires": Fire.objects.count()}
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            pg_version = cursor.fetchone()[0]
    finally:
        if not (args.keep or args.reuse):
            drop_database()

    print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPU, "
          f"Python {platform.python_version()}, PostgreSQL {pg_version}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}; "
          f"after: {' '.join(f'{x:.2f}' for x in load_after)}")
    print("rows: " + ", ".join(f"{name} {n:,}" for name, n in rows.items()))
    if spent:
        print("fill: " + ", ".join(f"{name} {s:.1f} s" for name, s in spent.items()))
    print()
    print(f"{'request':<42} {'median':>9} {'min':>9} {'max':>9} {'CPU med':>9}  target")
    for key, (wall, cpu) in timings.items():
        median = statistics.median(wall)
        print(f"{'GET ' + PATHS[key]:<42} {median:7.1f}ms {min(wall):7.1f}ms {max(wall):7.1f}ms "
              f"{statistics.median(cpu):7.1f}ms  {'ok' if median < 300 else 'MISSED'} (< 300 ms)")
    print("\nqueries of one more request each (ms as Django timed them):")
    for key, found in queries.items():
        print(f"  GET {PATHS[key]}")
        for ms, sql in found:
            print(f"    {ms:8.1f} ms  {' '.join(sql.split())[:100]}")
    result: dict[str, Any] = {f"{key}_ms": round(statistics.median(wall), 1) for key, (wall, _) in timings.items()}
    result.update({f"{key}_cpu_ms": round(statistics.median(cpu), 1) for key, (_, cpu) in timings.items()})
    result["load_1m"] = [round(load_before[0], 2), round(load_after[0], 2)]
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
