"""The Prometheus counters only ever grow: deleting a task with finished runs
and retention pruning leave them as they were (issue 13, point 7)."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.apps import apps as global_apps
from django.db import transaction
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from monitoring.counters import execution_totals
from monitoring.models import DailyRollup, ExecutionTally
from monitoring.prometheus import metrics_text
from monitoring.retention import history_prune
from orchestration import services
from orchestration.models import Execution
from orchestration.signals import execution_finished
from tests.monitoring.factories import execution

pytestmark = pytest.mark.django_db


def counter_samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of every counter and histogram family in /metrics' text,
    keyed by sample name and labels."""
    out = {}
    for family in text_string_to_metric_families(metrics_text().decode()):
        if family.type in ("counter", "histogram"):
            for sample in family.samples:
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def assert_never_lower(before: dict, after: dict) -> None:
    assert before, "no counter samples"
    assert set(before) <= set(after)
    lower = {key: (value, after[key]) for key, value in before.items() if after[key] < value}
    assert not lower, f"counters went down: {lower}"


COMPLETED = ("webauto_executions_total", (("status", "completed"),))


def test_deleting_a_task_with_finished_runs_leaves_every_counter_as_it_was(make_task):
    keep, doomed = make_task("keep"), make_task("doomed")
    execution(keep, "completed", duration=3)
    execution(doomed, "completed", duration=20)
    execution(doomed, "completed", duration=700)
    execution(doomed, "failed", duration=2)
    execution(doomed, "cancelled", duration=None)
    before = counter_samples()
    assert before[COMPLETED] == 3
    assert before[("webauto_execution_duration_seconds_count", ())] == 4

    services.task_delete(task=doomed)

    assert not Execution.objects.filter(task__task_id="doomed").exists()
    after = counter_samples()
    assert_never_lower(before, after)
    assert after == before


def test_counters_never_go_down_across_deletion_and_retention(make_task, settings):
    settings.WEBAUTO_RETENTION_DAYS = 30
    task, other = make_task("pruned"), make_task("deleted")
    old = timezone.now() - timedelta(days=45)
    for status, duration in (("completed", 4), ("failed", 40), ("timed_out", 4000), ("completed_with_errors", 90)):
        execution(task, status, created=old, duration=duration)
    execution(task, "completed", duration=1)
    execution(other, "completed", duration=10)
    first = counter_samples()

    services.task_delete(task=other)
    second = counter_samples()
    assert history_prune()["executions"] == 4
    third = counter_samples()

    assert_never_lower(first, second)
    assert_never_lower(second, third)
    assert third == first
    assert third[("webauto_execution_duration_seconds_bucket", (("le", "5.0"),))] == 2
    assert third[("webauto_execution_duration_seconds_sum", ())] == 4 + 40 + 4000 + 90 + 1 + 10
    # A run finishing later still adds to them.
    execution(task, "completed", duration=1)
    assert counter_samples()[COMPLETED] == first[COMPLETED] + 1


def test_a_count_rolls_back_with_the_finish_that_failed(make_task):
    task = make_task("rollback")
    e = execution(task, "completed", duration=1)
    before = execution_totals().by_status["completed"]
    with pytest.raises(RuntimeError), transaction.atomic():
        execution_finished.send(sender=Execution, execution=e)
        assert execution_totals().by_status["completed"] == before + 1
        raise RuntimeError("the finishing transaction failed")
    assert execution_totals().by_status["completed"] == before


def test_concurrent_shards_add_up(make_task):
    task = make_task("shards")
    runs = [execution(task, "completed", duration=d) for d in (0.5, 2, 2, 7, 7200, 9000)]
    totals = execution_totals()
    assert ExecutionTally.objects.values("shard").distinct().count() > 1
    assert totals.by_status["completed"] == len(runs)
    assert totals.buckets["1"] == 1 and totals.buckets["5"] == 3 and totals.buckets["15"] == 4
    assert totals.buckets["7200"] == 5 and totals.buckets["+Inf"] == 6 == totals.duration_count
    assert totals.duration_sum == pytest.approx(0.5 + 2 + 2 + 7 + 7200 + 9000)


def test_a_finish_counts_and_rolls_up_as_the_orm_path_would_in_one_statement_on_postgresql(make_task):
    from django.db import connection

    from monitoring.counters import execution_count_finished
    from monitoring.models import ExecutionRollup
    from monitoring.rollups import rollup_add_execution

    task = make_task("one-statement")
    sent: list[str] = []

    def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        sent.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        # Nine runs in one bucket: two of them share a shard, so one adds to a row another created;
        # and one that ended before it started (counted as 0 s).
        runs = [execution(task, "completed", duration=d) for d in (2.5, 3.0, 4, 4, 4, 4, 4, 4, 4, -1.0)]
    if connection.vendor == "postgresql":  # elsewhere the finish takes the ORM path's two calls
        finishes = [sql for sql in sent if ExecutionTally._meta.db_table in sql]
        assert len(finishes) == 10 and all(ExecutionRollup._meta.db_table in sql for sql in finishes)
    assert ExecutionTally.objects.filter(count__gt=1).exists()

    def state() -> tuple[object, list[dict[str, object]]]:
        return execution_totals(), list(ExecutionRollup.objects.filter(task=task).values(
            *(f.name for f in ExecutionRollup._meta.concrete_fields if not f.primary_key)))

    in_one = state()

    # What the two ORM-path calls make of the same runs.
    ExecutionTally.objects.all().delete()
    ExecutionRollup.objects.all().delete()
    for e in runs:
        with transaction.atomic():
            execution_count_finished(execution=e)
            rollup_add_execution(execution=e)
    assert state() == in_one
    totals = execution_totals()
    assert totals.by_status["completed"] == 10 and totals.duration_sum == pytest.approx(2.5 + 3 + 7 * 4)


def test_the_migration_starts_the_counters_from_rows_and_rollups(make_task):
    """Existing installations keep their totals: the migration that adds the
    counters seeds them from the finished executions and the daily rollups."""
    migration = importlib.import_module("monitoring.migrations.0002_execution_tally")
    task = make_task("seeded")
    now = timezone.now()
    for status, duration in (("completed", 3), ("completed", 100), ("cancelled", None), ("failed", 20)):
        e = Execution.objects.create(task=task, status=status, definition={})
        started = now - timedelta(seconds=200) if duration is not None else None
        Execution.objects.filter(pk=e.pk).update(
            started_at=started, finished_at=started + timedelta(seconds=duration) if started else now
        )
    Execution.objects.create(task=task, status="running", definition={})
    DailyRollup.objects.create(
        day=now.date() - timedelta(days=60), task_key="gone", counts={"completed": 2, "cancelled": 1, "failed": 1},
        duration_count=3, duration_sum=70.0,
        duration_buckets={"1": 0, "5": 1, "15": 1, "30": 1, "60": 2, "120": 3, "300": 3, "600": 3, "1800": 3,
                          "3600": 3, "7200": 3, "+Inf": 3},
    )
    ExecutionTally.objects.all().delete()

    migration.seed_from_history(global_apps, None)

    totals = execution_totals()
    assert dict(totals.by_status) == {"completed": 4, "cancelled": 2, "failed": 2}
    assert totals.duration_count == 3 + 3
    assert totals.buckets["5"] == 2 and totals.buckets["30"] == 3 and totals.buckets["60"] == 4
    assert totals.buckets["120"] == 6 and totals.buckets["+Inf"] == 6
    assert totals.duration_sum == pytest.approx(3 + 100 + 20 + 70)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_engine_counts_a_run_when_it_finishes_on_a_real_worker(worker_factory):
    from tests.monitoring.conftest import task_definition
    from tests.monitoring.test_worker_integration import run_to_end

    worker_factory()
    task = services.task_create(definition=task_definition("counted-live"))
    before = counter_samples()
    assert run_to_end(task).status == "completed"
    after = counter_samples()
    assert after[COMPLETED] == before.get(COMPLETED, 0) + 1
    assert after[("webauto_execution_duration_seconds_count", ())] == before[
        ("webauto_execution_duration_seconds_count", ())] + 1
    # The same finish added the run to its day's rollup (issue 13, point 10).
    from monitoring.models import ExecutionRollup

    rollup = ExecutionRollup.objects.get(task=task)
    assert (rollup.completed, rollup.d_count, rollup.w_count) == (1, 1, 1)
    assert sum(rollup.d_hist.values()) == 1 and sum(rollup.w_hist.values()) == 1
    services.task_delete(task=task)
    assert counter_samples() == after
