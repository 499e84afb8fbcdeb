"""Persisted, monotonic counts of finished executions (the Prometheus counters).

Rule: a counter is incremented when the thing it counts happens, in the same
transaction, and is never recomputed from rows that may later be deleted.
Deleting a task (and with it its executions) and retention pruning therefore
never make ``webauto_executions_total`` or the duration histogram go down.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Sum

from monitoring.models import ExecutionTally

# Upper bounds (seconds) of the execution duration histogram.
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200)
SHARDS = 8


def duration_bucket(seconds: float | None) -> str:
    """The histogram bucket a duration is counted in: the smallest bound it
    fits under ("1", "5", ..., "+Inf"), or "" for no duration."""
    if seconds is None:
        return ""
    for bound in DURATION_BUCKETS:
        if seconds <= bound:
            return str(bound)
    return "+Inf"


def execution_tally_add(*, status: str, duration_seconds: float | None, shard: int = 0, count: int = 1) -> None:
    """Add ``count`` finished executions of ``status`` (with that duration
    each, seconds, or None when they never started) to the running totals.

    Call it inside the transaction that records the finish, so the count
    commits or rolls back with it.
    """
    duration = None if duration_seconds is None else max(0.0, duration_seconds)
    key = {"status": status, "le": duration_bucket(duration), "shard": shard % SHARDS}
    add = (duration or 0.0) * count

    def increment() -> int:
        # A single UPDATE adds atomically under the row lock: two runs
        # finishing together can never lose one of the two increments.
        return ExecutionTally.objects.filter(**key).update(count=F("count") + count, duration_sum=F("duration_sum") + add)

    if increment():
        return
    try:
        with transaction.atomic():
            ExecutionTally.objects.create(**key, count=count, duration_sum=add)
    except IntegrityError:
        # Another transaction created the row first; add to it instead.
        increment()


def _finished_duration(execution: Any) -> float | None:
    if execution.started_at is not None and execution.finished_at is not None:
        return float((execution.finished_at - execution.started_at).total_seconds())
    return None


def execution_count_finished(*, execution: Any) -> None:
    """Count one execution that just reached its final status."""
    execution_tally_add(status=execution.status, duration_seconds=_finished_duration(execution),
                        shard=execution.pk or 0)


@lru_cache(maxsize=1)
def tally_upsert_one_sql() -> str:
    """``execution_tally_add`` of one execution as one PostgreSQL statement
    (parameters: status, bucket, shard, duration): insert the row, or add
    to it under its row lock when it exists (``ON CONFLICT`` on the unique
    status/bucket/shard), so that two runs finishing together never lose an
    increment. Meant to be a CTE of the finish's rollup statement
    (``monitoring.receivers.on_execution_finished``)."""
    q = connection.ops.quote_name
    table = q(ExecutionTally._meta.db_table)
    return (f"INSERT INTO {table} AS t (status, le, shard, {q('count')}, duration_sum) VALUES (%s, %s, %s, 1, %s)"
            f" ON CONFLICT (status, le, shard) DO UPDATE SET {q('count')} = t.{q('count')} + 1,"
            " duration_sum = t.duration_sum + EXCLUDED.duration_sum")


def tally_upsert_one_params(*, execution: Any) -> list[Any]:
    """The parameters of ``tally_upsert_one_sql`` for one finished execution
    (what ``execution_count_finished`` would add)."""
    duration = _finished_duration(execution)
    duration = None if duration is None else max(0.0, duration)
    return [execution.status, duration_bucket(duration), (execution.pk or 0) % SHARDS, duration or 0.0]


@dataclass
class ExecutionTotals:
    """Totals since the counters began: executions by final status, and the
    duration histogram (cumulative counts by upper bound, "+Inf" last)."""

    by_status: Counter[str] = field(default_factory=Counter)
    buckets: dict[str, int] = field(default_factory=dict)
    duration_count: int = 0
    duration_sum: float = 0.0


def execution_totals() -> ExecutionTotals:
    """Read the running totals (a few dozen rows, whatever the history size)."""
    totals = ExecutionTotals()
    per_bucket: Counter[str] = Counter()
    rows = ExecutionTally.objects.order_by().values("status", "le").annotate(n=Sum("count"), s=Sum("duration_sum"))
    for row in rows:
        totals.by_status[row["status"]] += row["n"] or 0
        totals.duration_sum += row["s"] or 0.0
        if row["le"]:
            per_bucket[row["le"]] += row["n"] or 0
    running = 0
    for bound in [*map(str, DURATION_BUCKETS), "+Inf"]:
        running += per_bucket[bound]
        totals.buckets[bound] = running
    totals.duration_count = running
    return totals
