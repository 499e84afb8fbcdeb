"""Per task and day rollups of finished executions, behind the 7- and 30-day
metrics summary (issue 13, point 10).

Rule (the same as the Prometheus counters of ``monitoring.counters``): an
execution is added to the ``ExecutionRollup`` row of its task and of the UTC
day it was created in, inside the transaction that gives it its final
status, and nothing ever subtracts from a row. On PostgreSQL that is one
``INSERT ... ON CONFLICT DO UPDATE`` statement per finished execution, which
reads the execution row and its node runs itself; the data migration
``monitoring`` 0005 runs the same statement over every finished execution to
backfill the rows. Retention pruning leaves the rows alone, so a day's
figures outlive its executions; deleting a task deletes its rows (as it
deletes its executions).

Percentiles cannot be summed, so durations and queue waits are also counted
in a fixed histogram: bucket 0 holds values under ``HISTOGRAM_SMALLEST``
(1 ms), bucket k >= 1 holds [1 ms * 2^((k-1)/8), 1 ms * 2^(k/8)), eight
buckets per doubling. A percentile read from the histogram takes, for the
two closest ranks, the middle of their bucket (the exact minimum or maximum
for the first or last rank) and interpolates between them as
``percentile_cont`` does, so it differs from the exact value by at most
``HISTOGRAM_RELATIVE_ERROR`` (4.53 %) of it plus ``HISTOGRAM_ABSOLUTE_ERROR``
(0.5 ms).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from django.db import connection, transaction

BUCKETS_PER_DOUBLING = 8
HISTOGRAM_SMALLEST = 0.001
HISTOGRAM_RELATIVE_ERROR = (2 ** (1 / BUCKETS_PER_DOUBLING) - 1) / 2
HISTOGRAM_ABSOLUTE_ERROR = HISTOGRAM_SMALLEST / 2

FINAL = ("completed", "completed_with_errors", "failed", "cancelled", "timed_out")
DECIDED = ("completed", "completed_with_errors", "failed", "timed_out")
NODE_FAILURE = ("failed", "timed_out")
COUNT_FIELDS = FINAL  # one count column per final status


def histogram_bucket(seconds: float) -> int:
    """The histogram bucket of a duration (seconds, >= 0): 0 below 1 ms,
    else 1 + floor(8 * log2(seconds / 1 ms)). ``bucket_sql`` computes the
    same number in PostgreSQL, with the same floating-point operations."""
    if seconds < HISTOGRAM_SMALLEST:
        return 0
    return 1 + math.floor(BUCKETS_PER_DOUBLING * math.log(seconds / HISTOGRAM_SMALLEST) / math.log(2.0))


def bucket_sql(expression: str) -> str:
    """SQL (PostgreSQL, double precision ``expression``) for ``histogram_bucket``."""
    return (f"(CASE WHEN {expression} < {HISTOGRAM_SMALLEST!r} THEN 0 ELSE 1 + floor({BUCKETS_PER_DOUBLING} * "
            f"ln({expression} / {HISTOGRAM_SMALLEST!r}) / ln(2.0::float8))::int END)")


def bucket_middle(bucket: int) -> float:
    """The middle of a bucket's interval (seconds)."""
    if bucket <= 0:
        return HISTOGRAM_SMALLEST / 2
    low = HISTOGRAM_SMALLEST * 2 ** ((bucket - 1) / BUCKETS_PER_DOUBLING)
    high = HISTOGRAM_SMALLEST * 2 ** (bucket / BUCKETS_PER_DOUBLING)
    return (low + high) / 2


def histogram_percentile(
    cells: Mapping[int, int], q: float, *, lowest: float | None = None, highest: float | None = None,
) -> float | None:
    """The q-th percentile (0..100) of the values counted in ``cells``
    (bucket -> count), interpolated between the two closest ranks as
    ``percentile_cont`` does; None without values. ``lowest`` and ``highest``,
    the exact minimum and maximum, stand for the first and last rank and
    bound the result. Error bound: see the module docstring."""
    n = sum(cells.values())
    if not n:
        return None
    rank = (n - 1) * q / 100
    below, above = math.floor(rank), math.ceil(rank)

    def value_at(position: int) -> float:
        if position == 0 and lowest is not None:
            return lowest
        if position == n - 1 and highest is not None:
            return highest
        seen = 0
        for bucket in sorted(cells):
            seen += cells[bucket]
            if position < seen:
                return bucket_middle(bucket)
        raise AssertionError("rank beyond the counted values")

    low_value = value_at(below)
    value = low_value + (value_at(above) - low_value) * (rank - below)
    if lowest is not None:
        value = max(value, lowest)
    if highest is not None:
        value = min(value, highest)
    return value


def day_start(day: date) -> datetime:
    """Midnight UTC at the start of ``day``."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def whole_days(since: datetime, until: datetime) -> tuple[date, date] | None:
    """The UTC days lying wholly inside [since, until), as [first, end)
    (``end`` excluded), or None when there is none."""
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    first = since.date() if since == day_start(since.date()) else since.date() + timedelta(days=1)
    end = until.date()
    return (first, end) if first < end else None


# --- Maintenance --------------------------------------------------------------------------------

def _tables() -> dict[str, str]:
    from monitoring.models import ExecutionRollup
    from orchestration.models import Execution, NodeRun

    return {name: connection.ops.quote_name(model._meta.db_table)
            for name, model in (("execution", Execution), ("noderun", NodeRun), ("rollup", ExecutionRollup))}


# A decided run's duration and any started run's queue wait, seconds floored at 0
# (as the metrics selectors define them).
_DURATION = (
    "CASE WHEN e.status IN ('completed', 'completed_with_errors', 'failed', 'timed_out')"
    " AND e.started_at IS NOT NULL AND e.finished_at IS NOT NULL"
    " THEN GREATEST(date_part('epoch', e.finished_at - e.started_at), 0.0) END"
)
_WAIT = (
    "CASE WHEN e.queued_at IS NOT NULL AND e.started_at IS NOT NULL"
    " THEN GREATEST(date_part('epoch', e.started_at - e.queued_at), 0.0) END"
)


def _merge_sql(column: str) -> str:
    """ON CONFLICT expression adding two JSON maps of counts key by key."""
    return (
        f"CASE WHEN EXCLUDED.{column} = '{{}}'::jsonb THEN r.{column}"
        f" WHEN r.{column} = '{{}}'::jsonb THEN EXCLUDED.{column}"
        f" ELSE (SELECT jsonb_object_agg(k, s) FROM (SELECT k, SUM(v::bigint) AS s FROM ("
        f"SELECT * FROM jsonb_each_text(r.{column}) UNION ALL SELECT * FROM jsonb_each_text(EXCLUDED.{column})"
        f") x(k, v) GROUP BY k) y) END"
    )


def upsert_sql(where: str) -> str:
    """The PostgreSQL statement adding the finished executions that match
    ``where`` (SQL over the alias ``e``) to their rollup rows: one statement,
    whether for one execution (the hot path) or for all (the backfill)."""
    t = _tables()
    final = ", ".join(f"'{s}'" for s in FINAL)
    failure = ", ".join(f"'{s}'" for s in NODE_FAILURE)
    counts = ", ".join(f"COUNT(*) FILTER (WHERE e.status = '{s}')" for s in COUNT_FIELDS)
    columns = [*COUNT_FIELDS, "d_count", "d_sum", "d_min", "d_max", "w_count", "w_sum", "w_min", "w_max",
               "node_cpu_sum", "node_cpu_count", "node_rss_max"]
    additive = {*COUNT_FIELDS, "d_count", "d_sum", "w_count", "w_sum", "node_cpu_sum", "node_cpu_count"}
    updates = [f"{c} = r.{c} + EXCLUDED.{c}" for c in columns if c in additive]
    updates += [f"{c} = LEAST(r.{c}, EXCLUDED.{c})" for c in ("d_min", "w_min")]
    updates += [f"{c} = GREATEST(r.{c}, EXCLUDED.{c})" for c in ("d_max", "w_max", "node_rss_max")]
    updates += [f"{c} = {_merge_sql(c)}" for c in ("d_hist", "w_hist", "node_failures")]

    def histogram(value: str) -> str:
        return (f"SELECT task_id, day, jsonb_object_agg(k, c) AS h FROM (SELECT task_id, day, "
                f"{bucket_sql(value)}::text AS k, COUNT(*) AS c FROM e WHERE {value} IS NOT NULL "
                f"GROUP BY 1, 2, 3) x GROUP BY 1, 2")

    return f"""
        WITH e AS (
            SELECT e.id, e.task_id, (e.created_at AT TIME ZONE 'UTC')::date AS day, e.status,
                   {_DURATION} AS d, {_WAIT} AS w
            FROM {t['execution']} e WHERE e.status IN ({final}) AND ({where})
        ),
        n AS (
            SELECT nr.execution_id, SUM(nr.cpu_seconds) AS cpu_sum, COUNT(nr.cpu_seconds) AS cpu_count,
                   MAX(nr.peak_rss_bytes) AS rss_max
            FROM {t['noderun']} nr JOIN e ON e.id = nr.execution_id GROUP BY nr.execution_id
        ),
        f AS (
            SELECT task_id, day, jsonb_object_agg(k, c) AS h FROM (
                SELECT e.task_id, e.day, jsonb_build_array(nr.node_id, nr.workflow)::text AS k, COUNT(*) AS c
                FROM {t['noderun']} nr JOIN e ON e.id = nr.execution_id WHERE nr.status IN ({failure})
                GROUP BY 1, 2, 3) x GROUP BY 1, 2
        ),
        dh AS ({histogram('d')}),
        wh AS ({histogram('w')}),
        a AS (
            SELECT e.task_id, e.day, {counts},
                   COUNT(e.d), COALESCE(SUM(e.d), 0.0), MIN(e.d), MAX(e.d),
                   COUNT(e.w), COALESCE(SUM(e.w), 0.0), MIN(e.w), MAX(e.w),
                   COALESCE(SUM(n.cpu_sum), 0.0), COALESCE(SUM(n.cpu_count), 0)::bigint, MAX(n.rss_max)
            FROM e LEFT JOIN n ON n.execution_id = e.id GROUP BY e.task_id, e.day
        )
        INSERT INTO {t['rollup']} AS r (task_id, day, {", ".join(columns)}, d_hist, w_hist, node_failures)
        SELECT a.*, COALESCE(dh.h, '{{}}'::jsonb), COALESCE(wh.h, '{{}}'::jsonb), COALESCE(f.h, '{{}}'::jsonb)
        FROM a LEFT JOIN dh USING (task_id, day) LEFT JOIN wh USING (task_id, day) LEFT JOIN f USING (task_id, day)
        ON CONFLICT (task_id, day) DO UPDATE SET {", ".join(updates)}
    """


@lru_cache(maxsize=1)
def upsert_one_sql() -> str:
    """The PostgreSQL statement adding one finished execution (parameters:
    its id, twice) to its rollup row: the hot path. It computes what
    ``upsert_sql`` computes, with less to plan: one row, and each histogram
    gains one bucket (``jsonb_set``) instead of a merge of two maps."""
    t = _tables()
    final = ", ".join(f"'{s}'" for s in FINAL)
    failure = ", ".join(f"'{s}'" for s in NODE_FAILURE)
    additive = [*COUNT_FIELDS, "d_count", "d_sum", "w_count", "w_sum", "node_cpu_sum", "node_cpu_count"]
    updates = [f"{c} = r.{c} + EXCLUDED.{c}" for c in additive]
    updates += [f"{c} = LEAST(r.{c}, EXCLUDED.{c})" for c in ("d_min", "w_min")]
    updates += [f"{c} = GREATEST(r.{c}, EXCLUDED.{c})" for c in ("d_max", "w_max", "node_rss_max")]
    for prefix in ("d", "w"):
        key = f"{bucket_sql(f'EXCLUDED.{prefix}_min')}::text"
        updates.append(
            f"{prefix}_hist = CASE WHEN EXCLUDED.{prefix}_count = 0 THEN r.{prefix}_hist ELSE jsonb_set(r.{prefix}_hist,"
            f" ARRAY[{key}], to_jsonb(COALESCE((r.{prefix}_hist ->> {key})::bigint, 0) + 1)) END")
    updates.append(f"node_failures = {_merge_sql('node_failures')}")
    counts = ", ".join(f"(x.status = '{s}')::int" for s in COUNT_FIELDS)

    def one(value: str) -> str:
        return (f"(x.{value} IS NOT NULL)::int, COALESCE(x.{value}, 0.0), x.{value}, x.{value}, CASE WHEN x.{value} IS NULL"
                f" THEN '{{}}'::jsonb ELSE jsonb_build_object({bucket_sql(f'x.{value}')}::text, 1) END")

    return f"""
        INSERT INTO {t['rollup']} AS r (task_id, day, {", ".join(COUNT_FIELDS)}, d_count, d_sum, d_min, d_max, d_hist,
            w_count, w_sum, w_min, w_max, w_hist, node_cpu_sum, node_cpu_count, node_rss_max, node_failures)
        SELECT x.task_id, x.day, {counts}, {one("d")}, {one("w")}, n.cpu_sum, n.cpu_count, n.rss_max, n.failures
        FROM (SELECT e.task_id, (e.created_at AT TIME ZONE 'UTC')::date AS day, e.status, {_DURATION} AS d, {_WAIT} AS w
              FROM {t['execution']} e WHERE e.id = %s AND e.status IN ({final})) x,
             (SELECT COALESCE(SUM(nr.cpu_seconds), 0.0) AS cpu_sum, COUNT(nr.cpu_seconds) AS cpu_count,
                     MAX(nr.peak_rss_bytes) AS rss_max,
                     COALESCE(jsonb_object_agg(jsonb_build_array(nr.node_id, nr.workflow)::text, 1)
                              FILTER (WHERE nr.status IN ({failure})), '{{}}'::jsonb) AS failures
              FROM {t['noderun']} nr WHERE nr.execution_id = %s) n
        ON CONFLICT (task_id, day) DO UPDATE SET {", ".join(updates)}
    """


def _add(into: dict[str, int], key: Any, count: int = 1) -> None:
    into[str(key)] = int(into.get(str(key), 0)) + count


def _add_in_python(executions: list[Any], *, models: Any = None) -> None:
    """What ``upsert_sql`` does, for databases other than PostgreSQL (the
    embedded SQLite, where writers are serialised anyway). ``models`` is an
    app registry (a migration's ``apps``); the current models by default."""
    from django.apps import apps as current

    ExecutionRollup = (models or current).get_model("monitoring", "ExecutionRollup")  # noqa: N806
    NodeRun = (models or current).get_model("orchestration", "NodeRun")  # noqa: N806
    nodes: dict[int, list[Any]] = {}
    for run in NodeRun.objects.filter(execution_id__in=[e.pk for e in executions]).order_by():
        nodes.setdefault(run.execution_id, []).append(run)
    for e in executions:
        if e.status not in FINAL:
            continue
        row, _ = ExecutionRollup.objects.select_for_update().get_or_create(
            task_id=e.task_id, day=e.created_at.astimezone(UTC).date())
        setattr(row, e.status, getattr(row, e.status) + 1)
        for prefix, start, end, counted in (("d", e.started_at, e.finished_at, e.status in DECIDED),
                                            ("w", e.queued_at, e.started_at, True)):
            if not counted or start is None or end is None:
                continue
            value = max(0.0, (end - start).total_seconds())
            setattr(row, f"{prefix}_count", getattr(row, f"{prefix}_count") + 1)
            setattr(row, f"{prefix}_sum", getattr(row, f"{prefix}_sum") + value)
            low, high = getattr(row, f"{prefix}_min"), getattr(row, f"{prefix}_max")
            setattr(row, f"{prefix}_min", value if low is None else min(low, value))
            setattr(row, f"{prefix}_max", value if high is None else max(high, value))
            _add(getattr(row, f"{prefix}_hist"), histogram_bucket(value))
        for run in nodes.get(e.pk, []):
            if run.cpu_seconds is not None:
                row.node_cpu_sum += run.cpu_seconds
                row.node_cpu_count += 1
            if run.peak_rss_bytes is not None:
                row.node_rss_max = max(row.node_rss_max or 0, run.peak_rss_bytes)
            if run.status in NODE_FAILURE:
                _add(row.node_failures, json.dumps([run.node_id, run.workflow], ensure_ascii=False))
        row.save()


def rollup_add_execution(*, execution: Any) -> None:
    """Add one execution that just reached its final status to its rollup
    row. Call it inside the transaction that records the finish (the
    ``execution_finished`` signal), after the execution row was saved."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(upsert_one_sql(), [execution.pk, execution.pk])
        return
    with transaction.atomic():
        _add_in_python([execution])


def rollups_backfill(models: Any = None) -> None:
    """Add every finished execution in the database to the rollups (the data
    migration, which passes its ``apps`` as ``models``; the rollup table is
    expected to be empty, or what is already there is added to)."""
    from django.apps import apps as current

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(upsert_sql("TRUE"))
        return
    Execution = (models or current).get_model("orchestration", "Execution")  # noqa: N806
    ids = Execution.objects.filter(status__in=FINAL).order_by("pk").values_list("pk", flat=True)
    last = 0
    while batch := list(Execution.objects.filter(pk__in=list(ids.filter(pk__gt=last)[:1000])).order_by("pk")):
        with transaction.atomic():
            _add_in_python(batch, models=models)
        last = batch[-1].pk


def node_failure_key(key: str) -> tuple[str, str]:
    """(node id, workflow) of a ``node_failures`` key."""
    node_id, workflow = json.loads(key)
    return str(node_id), str(workflow)


def merged_cells(rows: Any) -> Counter[int]:
    """Sum of histogram cells given as (bucket, count) pairs."""
    total: Counter[int] = Counter()
    for bucket, count in rows:
        total[int(bucket)] += int(count)
    return total
