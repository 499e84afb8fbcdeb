"""Daily rollups of finished executions (issue 13, point 10): kept in the
finishing transaction, equal to what the data migration backfills, never
changed by retention, and the source of the 7- and 30-day summary, whose
percentiles stay within the histogram's documented bound."""

from __future__ import annotations

import importlib
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.apps import apps as global_apps
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from monitoring import aggregates, rollups
from monitoring.models import ExecutionRollup
from monitoring.retention import history_prune
from monitoring.selectors import metrics_summary
from orchestration import services
from orchestration.models import Execution, NodeRun
from orchestration.signals import execution_finished

FIELDS = [f.name for f in ExecutionRollup._meta.concrete_fields if f.name != "id"]
FLOATS = {"d_sum", "d_min", "d_max", "w_sum", "w_min", "w_max", "node_cpu_sum"}


def snapshot() -> dict[tuple[int, Any], dict[str, Any]]:
    """Every rollup row's values, keyed by (task, day)."""
    return {(row["task"], row["day"]): row for row in ExecutionRollup.objects.values(*FIELDS)}


def assert_same_rollups(actual: dict, expected: dict) -> None:
    assert set(actual) == set(expected)
    for key, row in expected.items():
        for name, value in row.items():
            if name in FLOATS and value is not None:
                assert actual[key][name] == pytest.approx(value, rel=1e-9, abs=1e-9), (key, name)
            else:
                assert actual[key][name] == value, (key, name)


def finish(task: Any, status: str, *, created: datetime, wait: float | None, duration: float | None,
           nodes: tuple[tuple[str, str, float | None, int | None], ...] = ()) -> Execution:
    """An execution that runs its ``nodes`` (node id, status, cpu seconds,
    peak RSS) and then finishes with ``status``, announced as the engine
    does, inside one transaction."""
    with transaction.atomic():
        e = Execution.objects.create(task=task, status="running", definition={"taskId": task.task_id})
        queued = created + timedelta(seconds=1)
        started = None if wait is None else queued + timedelta(seconds=wait)
        # A run stopped before it started still has a finish time.
        finished = queued + timedelta(seconds=2) if started is None else started + timedelta(seconds=duration or 0)
        Execution.objects.filter(pk=e.pk).update(created_at=created, queued_at=queued, started_at=started)
        for node_id, node_status, cpu, rss in nodes:
            NodeRun.objects.create(execution=e, node_id=node_id, workflow="echo", status=node_status,
                                   cpu_seconds=cpu, peak_rss_bytes=rss)
        Execution.objects.filter(pk=e.pk).update(status=status, finished_at=finished)
        e.refresh_from_db()
        execution_finished.send(sender=Execution, execution=e)
    return e


@pytest.fixture
def finished_runs(make_task):
    """Runs of two tasks over three UTC days: every final status, runs that
    never started, failing nodes, CPU and memory figures, and unfinished runs
    (which no rollup holds)."""
    rnd = random.Random(7)
    a, b = make_task("roll-a"), make_task("roll-b")
    day = datetime(2026, 11, 20, tzinfo=UTC)
    for k in range(60):
        task = a if k % 3 else b
        status = rnd.choice(rollups.FINAL)
        started = status != "cancelled" or k % 2 == 0
        finish(task, status, created=day + timedelta(hours=rnd.uniform(0, 72)),
               wait=rnd.uniform(0, 4) if started else None,
               duration=rnd.choice([0.0, 0.0004, rnd.uniform(0, 900), 5000.0]) if started else None,
               nodes=(("fetch", rnd.choice(["completed", "failed"]), rnd.choice([None, 1.25]), rnd.randint(1, 10**8)),
                      ("save", rnd.choice(["completed", "timed_out", "skipped"]), 0.5, None)))
    for status in ("running", "queued"):
        e = Execution.objects.create(task=a, status=status, definition={})
        Execution.objects.filter(pk=e.pk).update(created_at=day + timedelta(hours=30))
    # The morning of 2026-11-24: the partial last day of a range ending at its noon.
    for hour, status in ((3, "completed"), (4, "failed"), (5, "completed"), (6, "timed_out")):
        finish(a, status, created=day + timedelta(days=4, hours=hour), wait=0.5, duration=hour * 100.0,
               nodes=(("late", "failed", 2.0, 5),))
    return a, b


@pytest.mark.django_db
def test_the_finish_keeps_the_rollups_the_migration_would_backfill(finished_runs):
    """The rows the finishing transactions kept equal what the data
    migration computes from the same executions afterwards."""
    kept = snapshot()
    assert len(kept) == 7  # two tasks on three days, one on a fourth
    assert sum(r[s] for r in kept.values() for s in rollups.FINAL) == 64
    assert sum(r["node_cpu_count"] for r in kept.values()) > 0 and any(r["node_failures"] for r in kept.values())
    assert any("0" in r["d_hist"] for r in kept.values())  # the sub-millisecond bucket

    ExecutionRollup.objects.all().delete()
    importlib.import_module("monitoring.migrations.0005_execution_rollup").backfill(global_apps, None)

    assert_same_rollups(snapshot(), kept)


@pytest.mark.django_db(transaction=True)
def test_migrating_to_0005_backfills_the_history_already_there():
    """Migrating an installation (at monitoring 0004, executions finished
    before rollups existed) to 0005 creates the rollups from its rows, with
    the migration's historical models, equal to what the finishes would have
    kept one by one."""
    from django.db.migrations.executor import MigrationExecutor

    from tests.monitoring.conftest import task_definition

    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate([("monitoring", "0004_host_samples_to_resources")])
    try:
        task = services.task_create(definition=task_definition("roll-migrated"))
        rnd = random.Random(5)
        start = datetime(2026, 11, 1, tzinfo=UTC)
        for k in range(30):
            status = rollups.FINAL[k % len(rollups.FINAL)]
            created = start + timedelta(hours=rnd.uniform(0, 60))
            e = Execution.objects.create(task=task, status=status, definition={})  # no finish signal: pre-0005
            started = created + timedelta(seconds=rnd.uniform(0, 3))
            Execution.objects.filter(pk=e.pk).update(
                created_at=created, queued_at=created, started_at=started,
                finished_at=started + timedelta(seconds=rnd.uniform(0, 600)))
            NodeRun.objects.create(execution=e, node_id="n", workflow="echo",
                                   status="failed" if k % 4 == 0 else "completed", cpu_seconds=0.25,
                                   peak_rss_bytes=1000 + k)
        Execution.objects.create(task=task, status="running", definition={})
        executor = MigrationExecutor(connection)
        executor.migrate([("monitoring", "0005_execution_rollup")])
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(latest)

    migrated = snapshot()
    assert sum(r[s] for r in migrated.values() for s in rollups.FINAL) == 30
    assert sum(len(r["node_failures"]) for r in migrated.values()) > 0
    ExecutionRollup.objects.all().delete()
    for e in Execution.objects.filter(status__in=rollups.FINAL):
        with transaction.atomic():
            rollups.rollup_add_execution(execution=e)
    assert_same_rollups(snapshot(), migrated)


@pytest.mark.django_db
def test_a_rollup_addition_rolls_back_with_the_finish_that_failed(make_task):
    task = make_task("roll-back")
    finish(task, "completed", created=timezone.now(), wait=1, duration=2)
    before = snapshot()
    e = Execution.objects.create(task=task, status="failed", definition={})
    with pytest.raises(RuntimeError), transaction.atomic():
        execution_finished.send(sender=Execution, execution=e)
        assert snapshot() != before
        raise RuntimeError("the finishing transaction failed")
    assert snapshot() == before


@pytest.mark.django_db
def test_retention_leaves_the_rollups_and_the_summary_still_counts_pruned_days(make_task, settings):
    """Pruning deletes the executions of old days but not their rollups: a
    30-day summary over those days (``now`` in the past) gives the same
    figures before and after."""
    settings.WEBAUTO_RETENTION_DAYS = 30
    task = make_task("roll-pruned")
    now = timezone.now()
    old_day = (now - timedelta(days=45)).replace(hour=12, minute=0, second=0, microsecond=0)
    for k, status in enumerate(("completed", "failed", "completed", "timed_out")):
        finish(task, status, created=old_day + timedelta(minutes=k), wait=1, duration=10 * (k + 1),
               nodes=(("fetch", "failed" if status == "failed" else "completed", 1.0, 100),))
    finish(task, "completed", created=now - timedelta(days=1), wait=1, duration=3)
    before = snapshot()
    then = old_day + timedelta(days=10)
    summary_before = metrics_summary(range_key="30d", now=then)

    assert history_prune()["executions"] == 4

    assert not Execution.objects.filter(created_at__lt=now - timedelta(days=30)).exists()
    assert snapshot() == before
    summary_after = metrics_summary(range_key="30d", now=then)
    if connection.vendor == "postgresql":  # elsewhere the summary reads raw rows only
        assert summary_after == summary_before
        assert summary_after["executions"]["byStatus"]["completed"] == 2
        assert summary_after["executions"]["duration"]["max"] == 40.0
        assert summary_after["nodeFailures"] == [{"nodeId": "fetch", "workflow": "echo", "count": 1}]
        assert summary_after["resources"]["cpuSeconds"] == 4.0


@pytest.mark.django_db
def test_deleting_a_task_deletes_its_rollups_as_it_does_its_executions(make_task):
    keep, doomed = make_task("roll-keep"), make_task("roll-doomed")
    for task in (keep, doomed):
        finish(task, "completed", created=timezone.now() - timedelta(days=3), wait=1, duration=5)
    services.task_delete(task=doomed)
    assert {row["task"] for row in snapshot().values()} == {keep.pk}


@pytest.mark.django_db
def test_the_summary_reads_whole_days_from_the_rollups_and_the_edges_from_rows(finished_runs):
    """A 7-day summary ending at noon reads the data set's first three days
    from the rollups and the morning of the last from the rows (its rollup
    row, which also holds them, is not read): it equals the exact figures,
    except percentiles (within the bound)."""
    from django.test.utils import CaptureQueriesContext

    from tests.monitoring.test_metrics_sql import assert_summary_matches, from_rollups

    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    with CaptureQueriesContext(connection) as queries:
        summary = metrics_summary(range_key="7d", now=now)
    raw = _exact_summary(now)
    assert summary["executions"]["total"] == 66
    assert {"nodeId": "late", "workflow": "echo", "count": 4} in summary["nodeFailures"]
    assert_summary_matches(summary, raw, approximate=from_rollups("7d"))
    assert any("monitoring_executionrollup" in q["sql"] for q in queries.captured_queries) == from_rollups("7d")


def _exact_summary(now: datetime) -> dict[str, Any]:
    from tests.monitoring.test_metrics_sql import reference_summary

    return reference_summary(range_key="7d", task_id=None, now=now)


@pytest.mark.django_db
def test_a_value_falls_in_its_bucket_and_postgresql_agrees():
    """Each value lies in its bucket's interval (within one float step at the
    edges), and PostgreSQL's SQL gives the same bucket numbers."""
    edges = [rollups.HISTOGRAM_SMALLEST * 2 ** (k / rollups.BUCKETS_PER_DOUBLING) for k in range(0, 300, 7)]
    values = [0.0, 0.0009999, 0.001, 0.5, 1.0, 59.999999, 3600.0, 86400.5, *edges, *(v * (1 + 1e-12) for v in edges)]
    for v in values:
        k = rollups.histogram_bucket(v)
        low = 0.0 if k == 0 else rollups.HISTOGRAM_SMALLEST * 2 ** ((k - 1) / rollups.BUCKETS_PER_DOUBLING)
        high = rollups.HISTOGRAM_SMALLEST * 2 ** (k / rollups.BUCKETS_PER_DOUBLING)
        assert low * (1 - 1e-12) <= v < high * (1 + 1e-12), (v, k)
    if connection.vendor == "postgresql":  # elsewhere buckets are only ever computed in Python
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT v, {rollups.bucket_sql('v')} FROM unnest(%s::float8[]) AS t(v)", [values])
            in_sql = dict(cursor.fetchall())
        assert {v: rollups.histogram_bucket(v) for v in values} == in_sql


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.floats(min_value=0, max_value=10**7, allow_nan=False), min_size=1, max_size=60),
    q=st.sampled_from([0, 1, 50, 95, 99, 100]),
)
def test_a_histogram_percentile_is_within_the_documented_bound(values, q):
    exact = aggregates.percentile(values, q)
    cells: dict[int, int] = {}
    for v in values:
        cells[rollups.histogram_bucket(v)] = cells.get(rollups.histogram_bucket(v), 0) + 1
    estimate = rollups.histogram_percentile(cells, q, lowest=min(values), highest=max(values))
    assert estimate is not None and exact is not None
    assert abs(estimate - exact) <= exact * rollups.HISTOGRAM_RELATIVE_ERROR + rollups.HISTOGRAM_ABSOLUTE_ERROR + 1e-9
    assert min(values) <= estimate <= max(values)


def test_whole_days_of_a_range():
    at = datetime(2026, 11, 27, 12, 0, 30, tzinfo=UTC)
    first, end = rollups.whole_days(at - timedelta(days=30), at)
    assert (first.isoformat(), end.isoformat()) == ("2026-10-29", "2026-11-27")
    midnight = datetime(2026, 11, 27, tzinfo=UTC)
    assert rollups.whole_days(midnight - timedelta(days=1), midnight) == (
        datetime(2026, 11, 26).date(), datetime(2026, 11, 27).date())
    assert rollups.whole_days(at - timedelta(hours=24), at) is None
    assert rollups.histogram_percentile({}, 50) is None


@pytest.mark.django_db(transaction=True)
def test_two_finishes_racing_for_a_new_rollup_row_are_both_counted():
    """Two transactions finish runs of one task and day at once, the row not
    existing yet: the first inserts it and holds it uncommitted until the
    second is seen waiting for its lock (PostgreSQL), then commits; the
    second's upsert then adds to that row instead of failing or losing it.
    (On SQLite, which serialises writers, the second simply follows.)"""
    import threading
    import time

    from django.db import connections

    from tests.monitoring.conftest import task_definition

    task = services.task_create(definition=task_definition("roll-race"))
    created = datetime(2026, 11, 3, 9, tzinfo=UTC)
    runs = []
    for duration in (3.0, 700.0):
        e = Execution.objects.create(task=task, status="completed", definition={})
        Execution.objects.filter(pk=e.pk).update(created_at=created, queued_at=created, started_at=created,
                                                 finished_at=created + timedelta(seconds=duration))
        e.refresh_from_db()
        runs.append(e)
    first_added, second_waiting = threading.Event(), threading.Event()
    pids: list[int] = []
    errors: list[BaseException] = []

    def finish(run: Execution, *, first: bool) -> None:
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()" if connection.vendor == "postgresql" else "SELECT 0")
                    pids.append(cursor.fetchone()[0])
                rollups.rollup_add_execution(execution=run)
                if first:
                    first_added.set()
                    assert second_waiting.wait(30), "the second finish never waited"
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)
            first_added.set()
        finally:
            connections.close_all()

    a = threading.Thread(target=finish, args=(runs[0],), kwargs={"first": True})
    a.start()
    assert first_added.wait(30)
    if connection.vendor != "postgresql":
        # SQLite serialises writers (the test database, in memory, refuses a
        # second one at once rather than waiting): the second comes after.
        second_waiting.set()
        a.join(60)
    b = threading.Thread(target=finish, args=(runs[1],), kwargs={"first": False})
    b.start()
    if connection.vendor == "postgresql":
        deadline = time.monotonic() + 30
        while not second_waiting.is_set() and time.monotonic() < deadline:
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s) AND wait_event_type = 'Lock'",
                               [pids])
                if cursor.fetchone()[0]:
                    second_waiting.set()
            time.sleep(0.05)
    a.join(60)
    b.join(60)
    assert not errors, errors
    assert second_waiting.is_set()
    [row] = ExecutionRollup.objects.filter(task=task)
    assert (row.completed, row.d_count, row.d_min, row.d_max) == (2, 2, 3.0, 700.0)
    assert sum(row.d_hist.values()) == 2 and len(row.d_hist) == 2
