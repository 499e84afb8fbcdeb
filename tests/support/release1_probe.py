"""Reads a database for the release-1 upgrade test (tests/test_upgrade_from_release1.py).

Run as a program against the database named by ``DATABASE_URL``; prints one
JSON document on stdout:

- ``snapshot``: every table's columns and rows
  (raw SQL, no model involved, so it reads the old schema as well as the new).
- ``facts``: what the current code makes of the upgraded database, through its
  models, Celery app, django-celery-beat's scheduler and the REST API (with
  the API token that release 1 issued).
- ``run READY_FILE``: runs a migrated task and fires a migrated schedule on a
  real worker of this code (see ``run``); needs a broker of its own.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

# Tokens and names the fixture builder (tests/fixtures/build_release1.py) made.
ADMIN_TOKEN = "release1" + "a" * 32
OPERATOR_TOKEN = "0" * 39 + "1"
SEED_TASK = "weibo-complete-monitoring-task"
MOVED_APPS = ("scheduling", "resources", "webflows")


def snapshot() -> dict[str, Any]:
    """``{table: {"columns": [...], "rows": [{column: value}, ...]}}`` of every table."""
    from django.db import connection

    tables: dict[str, Any] = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names()):
            columns = [c.name for c in connection.introspection.get_table_description(cursor, table)]
            tables[table] = {"columns": columns, "rows": rows(cursor, table, columns)}
    return tables


def rows(cursor: Any, table: str, columns: list[str]) -> list[dict[str, Any]]:
    """The rows of *table*, each as ``{column: value}`` with JSON-safe values."""
    quote = cursor.db.ops.quote_name
    cursor.execute(f"SELECT {', '.join(quote(c) for c in columns)} FROM {quote(table)}")
    out = []
    for row in cursor.fetchall():
        record = {}
        for column, value in zip(columns, row, strict=True):
            if isinstance(value, str) and value[:1] in "{[":
                # JSON text on SQLite, parsed jsonb on PostgreSQL: compare the values.
                try:
                    value = json.loads(value)
                except ValueError:
                    pass
            record[column] = value
        out.append(json.loads(json.dumps(record, default=str)))
    return out


def facts() -> dict[str, Any]:
    """What the current code reads from the upgraded database."""
    from django.apps import apps
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import DatabaseScheduler
    from rest_framework.test import APIClient

    from orchestration.models import Execution, Task
    from resources.models import SystemSample
    from scheduling.models import Fire, Schedule
    from webauto.celery import app

    app.loader.import_default_modules()
    out: dict[str, Any] = {}

    out["content_types"] = {
        f"{m._meta.app_label}.{m._meta.model_name}": ContentType.objects.get_for_model(m).pk
        for label in MOVED_APPS
        for m in apps.get_app_config(label).get_models()
    }
    out["permissions"] = sorted(
        [p.content_type.app_label, p.codename, p.pk]
        for p in Permission.objects.filter(content_type__app_label__in=MOVED_APPS)
    )
    out["operator_perms"] = sorted(get_user_model().objects.get(username="operator").get_all_permissions())

    seed = Task.objects.get(task_id=SEED_TASK)
    out["seed_task"] = {
        "schedule": seed.schedule,
        "workflows": seed.workflows,
        "parameters": seed.parameters,
        "notification_channels": seed.notification_channels,
        "resource_requirements": seed.resource_requirements,
        "error_handling": seed.error_handling,
    }

    registered = set(app.tasks)
    out["schedules"] = [
        {
            "id": s.pk, "task": s.task.task_id, "kind": s.kind, "origin": s.origin, "state": s.state,
            "next_fire_at": s.next_fire_at.isoformat() if s.next_fire_at else None,
            "periodic_task": None if s.periodic_task is None else {
                "enabled": s.periodic_task.enabled,
                "task": s.periodic_task.task,
                "registered": s.periodic_task.task in registered,
                "clocked_time": s.periodic_task.clocked.clocked_time.isoformat()
                if s.periodic_task.clocked else None,
                "kwargs": json.loads(s.periodic_task.kwargs or "{}"),
                "args": json.loads(s.periodic_task.args or "[]"),
            },
        }
        for s in Schedule.objects.select_related("task", "periodic_task__clocked").order_by("id")
    ]
    out["periodic_tasks"] = sorted(
        [t.name, t.task, t.task in registered, t.enabled] for t in PeriodicTask.objects.all()
    )
    # The entries beat itself makes of the enabled rows with this code (beat
    # loads a clocked row once its time is near; build them all regardless).
    out["beat_entries"] = sorted(
        [entry.name, entry.task, entry.task in registered]
        for entry in (DatabaseScheduler.Entry(t, app=app) for t in PeriodicTask.objects.filter(enabled=True))
    )
    out["fires"] = sorted(
        [f.pk, f.schedule_id, f.schedule_key, f.task_key, f.schedule_name, f.execution_id]
        for f in Fire.objects.all()
    )
    out["system_samples"] = sorted(
        [s.host, s.cpu_percent, s.memory_percent] for s in SystemSample.objects.all()
    )
    out["executions"] = sorted(
        [e.pk, e.task.task_id, e.status, e.node_runs.count()] for e in Execution.objects.select_related("task")
    )

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {ADMIN_TOKEN}")
    api: dict[str, Any] = {}
    listing = client.get("/api/v1/tasks/?page_size=100")
    api["tasks_status"] = listing.status_code
    body = listing.json()
    api["tasks"] = sorted(t["taskId"] for t in (body["results"] if isinstance(body, dict) else body))
    definition = client.get(f"/api/v1/tasks/{SEED_TASK}/definition/")
    api["definition_status"] = definition.status_code
    api["definition"] = definition.json()
    validated = client.post("/api/v1/tasks/validate/", api["definition"], format="json")
    api["validate_status"] = validated.status_code
    api["validate"] = validated.json()
    executions = client.get("/api/v1/executions/")
    api["executions_status"] = executions.status_code
    detail = client.get(f"/api/v1/executions/{Execution.objects.filter(status='completed').first().pk}/")
    api["execution_detail_status"] = detail.status_code
    api["execution_detail"] = detail.json()
    schedules = client.get("/api/v1/schedules/?page_size=100")
    api["schedules_status"] = schedules.status_code
    api["schedules"] = sorted(s["id"] for s in schedules.json()["results"])
    api["workflows"] = client.get("/api/v1/workflows/").status_code
    templates = client.get("/api/v1/templates/upgrade-template/versions/")
    api["template_versions_status"] = templates.status_code
    api["template_versions"] = templates.json()
    # Release 1 let every account use the API; now an account needs a role.
    # The operator's release-1 token still authenticates it (403, not 401).
    operator = APIClient()
    operator.credentials(HTTP_AUTHORIZATION=f"Token {OPERATOR_TOKEN}")
    refused = operator.get("/api/v1/tasks/")
    api["operator_status"] = refused.status_code
    api["operator"] = refused.json()
    out["api"] = api
    return out


def run(ready_file: str) -> dict[str, Any]:
    """Runs migrated work on a real worker of this code: the release-1 task
    ``upgrade-echo`` through the API, then its release-1 cron schedule fired by
    hand. Returns each execution's status and node statuses. The worker is
    started here, on the same database and broker, and stopped before returning.
    """
    import subprocess
    import time
    from pathlib import Path

    from rest_framework.test import APIClient

    from orchestration.models import EXECUTION_FINAL, Execution
    from scheduling.models import Schedule

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {ADMIN_TOKEN}")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "webauto", "worker", "-P", "prefork", "-c", "2",
         "-n", f"release1-{os.getpid()}@%h", "--without-mingle", "--without-gossip", "--loglevel", "WARNING"],
        env={**os.environ, "WEBAUTO_WORKER_READY_FILE": ready_file}, start_new_session=True,
        stdout=sys.stderr, stderr=sys.stderr,
    )

    def finished(execution_id: int) -> Execution:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            execution = Execution.objects.get(pk=execution_id)
            if execution.status in EXECUTION_FINAL:
                return execution
            time.sleep(0.3)
        raise TimeoutError(f"execution {execution_id} still {execution.status} after 90 s")

    def summary(execution: Execution) -> dict[str, Any]:
        return {
            "status": execution.status,
            "nodes": {n.node_id: n.status for n in execution.node_runs.all()},
            "last": next((n.output for n in execution.node_runs.all() if n.node_id == "last"), None),
        }

    out: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + 60
        while not Path(ready_file).exists():
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the worker did not start")
            time.sleep(0.2)
        started = client.post("/api/v1/tasks/upgrade-echo/execute/", {"input": {"after": "upgrade"}},
                              format="json")
        out["execute_status"] = started.status_code
        out["execute"] = summary(finished(started.json()["executionId"]))
        schedule = Schedule.objects.get(task__task_id="upgrade-echo", kind="cron")
        fired = client.post(f"/api/v1/schedules/{schedule.pk}/trigger/", {}, format="json")
        out["trigger_status"] = fired.status_code
        fire = fired.json()["fire"]
        out["fire_outcome"] = fire["outcome"]
        out["fire"] = summary(finished(fire["executionId"]))
    finally:
        worker.terminate()
        worker.wait(60)
    return out


def main() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webauto.settings")
    django.setup()
    mode = sys.argv[1]
    if mode == "snapshot":
        result: Any = snapshot()
    elif mode == "run":
        result = run(sys.argv[2])
    else:
        result = facts()
    json.dump(result, sys.stdout, default=str, sort_keys=True)


if __name__ == "__main__":
    main()
