"""Host samples have one owner, the resource manager (issue 15, point 5): the
migration that drops monitoring's HostSample copies its rows over first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from monitoring.selectors import metrics_series
from resources.models import SystemSample

BEFORE = ("monitoring", "0003_metrics_covering_indexes")
AFTER = ("monitoring", "0004_host_samples_to_resources")
NOW = datetime(2026, 11, 27, 12, 0, 30, tzinfo=UTC)


def _migrate(target: tuple[str, str]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate([target])
    return executor


@pytest.mark.django_db(transaction=True)
def test_host_samples_of_an_existing_database_become_system_samples():
    executor = _migrate(BEFORE)
    try:
        old = executor.loader.project_state([BEFORE]).apps.get_model("monitoring", "HostSample")
        at = NOW - timedelta(minutes=3, seconds=30)
        for host, cpu, memory in (("old-host", 20.0, 37.5), ("old-host", 40.0, 62.5)):
            row = old.objects.create(host=host, cpu_percent=cpu, memory_percent=memory)
            old.objects.filter(pk=row.pk).update(created_at=at)

        _migrate(AFTER)

        copied = list(SystemSample.objects.filter(host="old-host").order_by("cpu_percent"))
        assert [(s.taken_at, s.cpu_percent, s.memory_percent, s.cores) for s in copied] == [
            (at, 20.0, 37.5, 0), (at, 40.0, 62.5, 0),
        ]
        # The dashboard reads them through the resource manager's selectors.
        series = metrics_series(range_key="1h", now=NOW)
        i = series["buckets"].index("2026-11-27T11:57:00+00:00")
        assert series["system"] == {
            "cpu": [30.0 if k == i else None for k in range(len(series["buckets"]))],
            "memory": [50.0 if k == i else None for k in range(len(series["buckets"]))],
        }
        assert "monitoring_hostsample" not in connection.introspection.table_names()
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
