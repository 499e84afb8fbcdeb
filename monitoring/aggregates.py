"""SQL building blocks for the metrics: seconds between two timestamps, time
buckets, and percentiles, on PostgreSQL and on SQLite (the embedded default).

Percentiles interpolate linearly between closest ranks, as PostgreSQL's
``percentile_cont`` does. PostgreSQL computes them in the database; other
databases get the values of the column, computed and sorted by the database,
and interpolate in Python (one float per row, only on small embedded setups).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    Aggregate,
    Expression,
    F,
    FloatField,
    Func,
    IntegerField,
    QuerySet,
    Value,
)


class Seconds(Func):
    """Seconds (float) from ``start`` to ``end``: ``Seconds(end, start)``;
    NULL when either is NULL."""

    arity = 2
    output_field = FloatField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # date_part gives a double directly (EXTRACT gives a slower numeric).
        return self.as_sql(compiler, connection, arg_joiner=" - ", template="date_part('epoch', %(expressions)s)",
                           **extra)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # Django's own SQLite function: the difference in whole microseconds.
        return self.as_sql(compiler, connection, template="(django_timestamp_diff(%(expressions)s) / 1000000.0)",
                           **extra)


class EpochBucket(Func):
    """The number of the ``size``-second bucket a timestamp falls in, buckets
    aligned to multiples of ``size`` since the Unix epoch:
    floor(epoch seconds / size)."""

    output_field = IntegerField()

    def __init__(self, expression: Any, size: int, **extra: Any) -> None:
        self.size = int(size)
        super().__init__(expression, **extra)

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler, connection,
            template=f"CAST(FLOOR(date_part('epoch', %(expressions)s) / {self.size}) AS bigint)", **extra,
        )

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # strftime('%s') gives whole seconds (floored), so integer division is exact.
        sql, params = compiler.compile(self.get_source_expressions()[0])
        return f"(CAST(strftime(%s, {sql}) AS INTEGER) / {self.size})", ["%s", *params]


class PercentileCont(Aggregate):
    """PostgreSQL's ``percentile_cont(fraction) WITHIN GROUP (ORDER BY expr)``
    (NULLs ignored; NULL without values). ``fraction`` is 0..1, or a list of
    them: then one sort gives a list of percentiles."""

    function = "percentile_cont"

    def __init__(self, expression: Any, fraction: float | Sequence[float], **extra: Any) -> None:
        fractions = [fraction] if isinstance(fraction, int | float) else list(fraction)
        if not fractions or not all(0 <= f <= 1 for f in fractions):
            raise ValueError("fractions must be between 0 and 1")
        self.fraction = (
            repr(float(fractions[0])) if isinstance(fraction, int | float)
            else "ARRAY[" + ", ".join(repr(float(f)) for f in fractions) + "]"
        )
        if "output_field" not in extra:
            extra["output_field"] = FloatField() if isinstance(fraction, int | float) else _float_array()
        super().__init__(expression, **extra)

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:  # type: ignore[override]
        extra["template"] = f"%(function)s({self.fraction}) WITHIN GROUP (ORDER BY %(expressions)s)"
        return super().as_sql(compiler, connection, **extra)


def _float_array() -> Any:
    from django.contrib.postgres.fields import ArrayField

    return ArrayField(FloatField())


@contextmanager
def sort_memory(megabytes: int = 64, *, snapshot: bool = False) -> Iterator[None]:
    """Run the block in a transaction whose sorts (the percentiles) may use
    ``megabytes`` of memory on PostgreSQL (``SET LOCAL work_mem``), so a
    month of durations sorts in memory instead of spilling to disk at the
    default 4 MB. With ``snapshot``, a transaction this opens is REPEATABLE
    READ, so several queries of one answer see the same committed data (a
    run finishing between them is counted by all or by none). Elsewhere it
    does nothing."""
    if connection.vendor != "postgresql":
        yield
        return
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        with connection.cursor() as cursor:
            if snapshot and outermost:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute(f"SET LOCAL work_mem = '{int(megabytes)}MB'")
        yield


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def percentiles_in_sql() -> bool:
    """True when the database computes percentiles itself (PostgreSQL)."""
    return connection.vendor == "postgresql"


def grouped_percentiles(
    qs: QuerySet[Any], *, value: Expression | F, group: Expression | F | None = None, quantiles: Iterable[float],
) -> dict[Any, dict[float, float | None]]:
    """Percentiles (``quantiles`` in 0..100) of ``value`` over ``qs``, per
    value of ``group`` (one group, keyed None, without it). Rows whose value
    is NULL are left out; groups with no value at all are absent."""
    quantiles = list(quantiles)
    grouped = qs.order_by().annotate(_pv=value, _pg=group if group is not None else Value(0))
    if percentiles_in_sql():
        rows = grouped.filter(_pv__isnull=False).values("_pg").annotate(
            _p=PercentileCont(F("_pv"), [q / 100 for q in quantiles])
        )
        return {(row["_pg"] if group is not None else None): dict(zip(quantiles, row["_p"], strict=True))
                for row in rows}
    values: dict[Any, list[float]] = defaultdict(list)
    for key, v in grouped.filter(_pv__isnull=False).values_list("_pg", "_pv").order_by("_pg", "_pv"):
        values[key if group is not None else None].append(v)
    return {key: {q: percentile(vs, q) for q in quantiles} for key, vs in values.items()}
