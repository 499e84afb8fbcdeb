"""A database made by the first release upgrades to this code with nothing
lost (issue 15, point 6: scheduling, resources and webflows became top-level
apps; their labels, tables and migration history are unchanged).

The fixtures are databases made and used by release 1 (commit c59817f), on
PostgreSQL (``tests/fixtures/release1.postgres.sql.gz``, a ``pg_dump
--no-owner --no-privileges``) and on SQLite, the embedded default
(``tests/fixtures/release1.sqlite3.gz``). ``tests/fixtures/build_release1.py``
made both, running the release's own code: it loads the shipped templates and
demo, then drives the release's REST API and a real Celery worker of the
release, so every table that matters holds rows the release itself wrote —
users with tokens, permissions and a group; a secret; the seed task definition
and tasks with schedule, notificationChannels, resourceRequirements and
errorHandling blocks; executions with node runs and events; schedules from
definitions and standalone ones (cron, interval, event, webhook, one paused)
with fire history; django-celery-beat periodic tasks arming them; resource
pool, requests, allocations, worker and samples; step workflows and sandbox
state; template versions; alert, channels and deliveries; a daily rollup; and
monitoring host samples. The builder's docstring gives the commands to
rebuild them.

Each test restores its fixture into a scratch database (PostgreSQL: a new
uniquely named database, dropped at the end; SQLite: a copy of the file),
reads every table, runs ``manage.py migrate`` of this checkout in a
subprocess, reads every table again and asks the current code (models, Celery,
beat's scheduler, the REST API) about the result; last, a worker of this code
(on a throw-away redis-server) runs a migrated task through the API and a
migrated schedule's fire. See ``tests/support/release1_probe.py``.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dj_database_url
import pytest

from tests.support.brokers import RedisServer

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
SEED = json.loads(
    (ROOT / "tests" / "definitions" / "seed" / "task-definition.json").read_text(encoding="utf-8")
)

# Tables the upgrade may add rows to (new permissions, content types, role
# groups, applied migrations, host samples moved over); every other table of
# release 1 must read exactly as before, row for row and column for column.
GROWS = {
    "django_migrations", "django_content_type", "auth_permission", "auth_group",
    "auth_group_permissions", "resources_systemsample",
}
# The one table the upgrade drops, after copying its rows into resources_systemsample.
DROPPED = {"monitoring_hostsample"}
# Models that did not exist in release 1: the only content types the upgrade may add.
NEW_CONTENT_TYPES = {
    ("access", "accesspolicy"), ("monitoring", "executiontally"), ("monitoring", "executionrollup"),
    ("scheduling", "webhookmessage"), ("orchestration", "subscribergeneration"),
}
FINAL = {"completed", "completed_with_errors", "failed", "cancelled", "timed_out"}


def _env(url: str, extra: dict[str, str] | None) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "webauto.settings", **(extra or {})}


def _run(url: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=_env(url, env), capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _probe(url: str, *args: str, env: dict[str, str] | None = None) -> Any:
    return json.loads(_run(url, "-m", "tests.support.release1_probe", *args, env=env))


@contextmanager
def _postgres_copy(tmp_path: Path) -> Iterator[str]:
    """A new PostgreSQL database on the test server holding the release-1 dump."""
    import psycopg

    server = dj_database_url.parse(os.environ.get("DATABASE_URL", ""))
    assert server["ENGINE"].endswith("postgresql"), (
        "DATABASE_URL must name a PostgreSQL server (scripts/test sets it)")
    name = f"{server['NAME']}_release1_{uuid.uuid4().hex[:8]}"
    auth = {"host": server["HOST"] or "127.0.0.1", "port": server["PORT"] or 5432,
            "user": server["USER"] or "postgres", "password": server["PASSWORD"] or None}
    with psycopg.connect(dbname="postgres", autocommit=True, **auth) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = (f"postgres://{auth['user']}{':' + auth['password'] if auth['password'] else ''}"
               f"@{auth['host']}:{auth['port']}/{name}")
        with gzip.open(FIXTURES / "release1.postgres.sql.gz", "rb") as dump:
            restored = subprocess.run(
                ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url], input=dump.read(),
                capture_output=True, timeout=120,
            )
        assert restored.returncode == 0, restored.stderr.decode()
        yield url
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **auth) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def _sqlite_copy(tmp_path: Path) -> Iterator[str]:
    """A copy of the release-1 SQLite file."""
    path = tmp_path / "release1.sqlite3"
    with gzip.open(FIXTURES / "release1.sqlite3.gz", "rb") as packed, path.open("wb") as out:
        shutil.copyfileobj(packed, out)
    yield f"sqlite:///{path}"


def _keyed(rows: list[dict[str, Any]], columns: list[str]) -> Counter[str]:
    return Counter(json.dumps({c: r[c] for c in columns}, sort_keys=True) for r in rows)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_a_release1_database_upgrades_with_every_row_kept(backend, tmp_path):
    copy = _postgres_copy if backend == "postgresql" else _sqlite_copy
    with copy(tmp_path) as url:
        before = _probe(url, "snapshot")
        # The fixture is what it claims: release 1's layout, with data in what matters.
        applied = {(r["app"], r["name"]) for r in before["django_migrations"]["rows"]}
        assert ("scheduling", "0001_initial") in applied and ("monitoring", "0002_execution_tally") not in applied
        for table in ("orchestration_task", "orchestration_execution", "orchestration_noderun",
                      "orchestration_event", "scheduling_schedule", "scheduling_fire",
                      "django_celery_beat_periodictask", "resources_allocation", "resources_systemsample",
                      "webflows_workflow", "templates_app_template", "monitoring_alert", "monitoring_channel",
                      "monitoring_delivery", "monitoring_dailyrollup", "monitoring_hostsample",
                      "authtoken_token", "auth_user_groups"):
            assert before[table]["rows"], f"the fixture has no rows in {table}"

        _run(url, "manage.py", "migrate", "--no-input")
        after = _probe(url, "snapshot")
        facts = _probe(url, "facts")
        # A worker of this code runs a migrated task and a migrated schedule's
        # fire, on a broker of its own (no message reaches the suite's workers).
        broker = RedisServer(tmp_path)
        broker.start()
        try:
            ran = _probe(url, "run", str(tmp_path / "worker-ready"),
                         env={"CELERY_BROKER_URL": broker.url, "REDIS_URL": broker.url})
        finally:
            broker.stop()

    # Every table of release 1 is still there but the one folded into another.
    assert set(before) - set(after) == DROPPED
    # Every row of every table reads the same in release 1's columns.
    for table, old in before.items():
        if table in DROPPED:
            continue
        assert set(old["columns"]) <= set(after[table]["columns"]), table
        was = _keyed(old["rows"], old["columns"])
        now = _keyed(after[table]["rows"], old["columns"])
        if table in GROWS:
            assert not was - now, f"{table} lost rows: {sorted(was - now)[:3]}"
        else:
            assert was == now, f"{table} changed: lost {sorted(was - now)[:3]}, gained {sorted(now - was)[:3]}"

    # Content types and permissions: the moved apps keep their rows (same ids),
    # the code resolves its models to them, and only new models got new ones.
    old_types = {(r["app_label"], r["model"]): r["id"] for r in before["django_content_type"]["rows"]}
    new_types = {(r["app_label"], r["model"]): r["id"] for r in after["django_content_type"]["rows"]}
    assert set(new_types) - set(old_types) == NEW_CONTENT_TYPES
    for model, pk in facts["content_types"].items():
        label, name = model.split(".")
        assert pk == old_types.get((label, name), new_types[(label, name)]), model
    moved_old = {(ct, r["codename"]): r["id"] for r in before["auth_permission"]["rows"]
                 for ct in [r["content_type_id"]] if ct in {old_types[k] for k in old_types
                                                            if k[0] in ("scheduling", "resources", "webflows")}}
    assert len(moved_old) == 4 * 11  # add/change/delete/view of the 11 models of release 1
    assert {pk for _, _, pk in facts["permissions"]} >= set(moved_old.values())
    # The operator's permissions, direct and through the "schedulers" group, still apply.
    assert {"scheduling.add_schedule", "scheduling.view_fire", "resources.view_allocation",
            "webflows.view_workflow"} <= set(facts["operator_perms"])

    # Task definitions: the seed's blocks exactly as submitted, exported and valid.
    seed = facts["seed_task"]
    assert seed["schedule"] == SEED["schedule"]
    assert seed["workflows"] == SEED["workflows"]
    assert seed["parameters"] == SEED["parameters"]
    assert seed["notification_channels"] == SEED["notificationChannels"]
    assert seed["resource_requirements"] == SEED["resourceRequirements"]
    assert seed["error_handling"] == SEED["errorHandling"]
    api = facts["api"]
    assert api["tasks_status"] == 200
    assert api["tasks"] == sorted(r["task_id"] for r in before["orchestration_task"]["rows"])
    assert api["definition_status"] == 200
    assert {k: v for k, v in api["definition"].items() if k in SEED} == SEED
    assert (api["validate_status"], api["validate"]["valid"], api["validate"]["errors"]) == (200, True, [])

    # Schedules: still armed in beat with a task name this code registers.
    old_schedules = {r["id"]: r for r in before["scheduling_schedule"]["rows"]}
    assert {s["id"] for s in facts["schedules"]} == set(old_schedules)
    armed = [s for s in facts["schedules"] if s["periodic_task"] and s["periodic_task"]["enabled"]]
    assert {s["id"] for s in armed} == {
        pk for pk, r in old_schedules.items() if r["enabled"] and r["kind"] in ("cron", "interval")
    }
    assert len(armed) == 4
    for s in armed:
        assert s["state"] == "active"
        assert s["periodic_task"]["task"] == "scheduling.fire" and s["periodic_task"]["registered"]
        assert s["periodic_task"]["clocked_time"] == s["next_fire_at"]
        assert s["periodic_task"]["kwargs"]["schedule_id"] == s["id"]
    assert {s["origin"] for s in armed} == {"definition", "api"}
    paused = [s for s in facts["schedules"] if s["state"] == "paused"]
    assert [(s["kind"], s["next_fire_at"], s["periodic_task"]["enabled"]) for s in paused] == [
        ("interval", None, False)
    ]
    assert all(registered for _, _, registered, _ in facts["periodic_tasks"])
    assert facts["beat_entries"] == [[name, task, True] for name, task, _, enabled in facts["periodic_tasks"]
                                     if enabled]
    assert len(facts["beat_entries"]) == len(armed)
    assert api["schedules_status"] == 200 and api["schedules"] == sorted(old_schedules)

    # Fire history keeps its schedule and task names (copied onto each fire).
    assert len(facts["fires"]) == len(before["scheduling_fire"]["rows"]) == 2
    for _pk, schedule_id, schedule_key, task_key, schedule_name, _execution in facts["fires"]:
        assert schedule_key == schedule_id
        assert task_key == "upgrade-echo"
        assert schedule_name == old_schedules[schedule_id]["name"]

    # Host samples of release 1's monitoring now live with the resource manager.
    moved = {(r["host"], r["cpu_percent"], r["memory_percent"], r["created_at"])
             for r in before["monitoring_hostsample"]["rows"]}
    # (memory kept as used/total bytes over a nominal total: see monitoring 0004)
    samples = {(r["host"], r["cpu_percent"], 100.0 * r["memory_used_bytes"] / r["memory_total_bytes"],
                r["taken_at"]) for r in after["resources_systemsample"]["rows"] if r["cores"] == 0}
    assert moved and moved == samples
    assert len(after["resources_systemsample"]["rows"]) == (
        len(before["resources_systemsample"]["rows"]) + len(before["monitoring_hostsample"]["rows"]))

    # The execution counters start from the history: every finished run, kept or rolled up.
    finished = sum(1 for r in before["orchestration_execution"]["rows"] if r["status"] in FINAL)
    rolled_up = sum(sum(r["counts"].values()) for r in before["monitoring_dailyrollup"]["rows"])
    assert rolled_up >= 1
    assert sum(r["count"] for r in after["monitoring_executiontally"]["rows"]) == finished + rolled_up
    # The daily rollups behind the 7d/30d summary start from the finished runs still kept (monitoring 0005).
    assert finished >= 1
    assert sum(r[s] for r in after["monitoring_executionrollup"]["rows"] for s in FINAL) == finished

    # The API reads executions with their node runs, step workflows and template versions.
    assert api["executions_status"] == api["execution_detail_status"] == 200
    old_nodes = [r for r in before["orchestration_noderun"]["rows"]
                 if r["execution_id"] == api["execution_detail"]["executionId"]]
    assert sorted(n["nodeId"] for n in api["execution_detail"]["nodes"]) == sorted(
        r["node_id"] for r in old_nodes) and old_nodes
    assert api["workflows"] == 200
    assert api["template_versions_status"] == 200
    assert [v["version"] for v in api["template_versions"]["versions"]] == ["1.1.0", "1.0.0"]
    # A release-1 account without superuser status keeps its token, and gets the
    # no-role answer until an admin grants a role (README, Roles; release 1 had none).
    assert api["operator_status"] == 403
    assert "no role yet" in api["operator"]["errors"][0]["message"]

    # The product runs on it: a worker of this code runs the release-1 task with
    # its release-1 parameters, and the release-1 cron schedule fires it.
    assert ran["execute_status"] == 202
    assert ran["execute"]["status"] == "completed"
    assert ran["execute"]["nodes"] == {"first": "completed", "wait": "completed", "last": "completed"}
    assert ran["execute"]["last"]["done"] is True
    assert ran["execute"]["last"]["input"]["greeting"] == "héllo"
    assert (ran["trigger_status"], ran["fire_outcome"]) == (202, "started")
    assert ran["fire"]["status"] == "completed"
