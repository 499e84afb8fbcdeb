"""Covering indexes for the metrics reads (issue 13, point 10).

The metrics summary and chart series read executions per task and per time
bucket over a range of ``created_at``. With these indexes PostgreSQL answers
each task's (and each bucket's) slice by an index-only range scan, already in
order and without touching the wide execution rows, so no sort of the whole
month by task or bucket is needed. Monitoring owns them because only its
reads use them. PostgreSQL only (``INCLUDE``), built ``CONCURRENTLY`` so
that adding them to a large history does not block writers.

Cost on writes: status and timestamp changes of an execution were already
not HOT updates (status is indexed by the engine's own indexes), so each
such update now also writes one entry in each of these two indexes.
"""

from django.db import migrations

INDEXES = {
    "monitoring_exec_created_cov": "(created_at) INCLUDE (task_id, status, queued_at, started_at, finished_at)",
    "monitoring_exec_task_created_cov": "(task_id, created_at) INCLUDE (status, queued_at, started_at, finished_at)",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, columns in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON orchestration_execution {columns}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("monitoring", "0002_execution_tally"),
        ("orchestration", "0002_stop_fields"),
    ]

    operations = [migrations.RunPython(create, drop)]
