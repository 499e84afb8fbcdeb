"""Reliability under faults, with real components: a Celery worker, a Redis
server this test starts (and restarts) on a free port, never the shared one,
and PostgreSQL. The database is the source of truth for dispatch: a lost
message, a broker that is down, a worker killed holding a countdown or killed
database connections never lose a run nor run a node twice at once."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
import redis.connection
from celery import current_app
from django.conf import settings
from django.db import connection

from orchestration import dispatch, engine, services
from orchestration.models import EXECUTION_FINAL, NODE_FINAL, Execution, NodeRun
from tests.conftest import wait_for
from tests.conftest import worker_env as base_worker_env
from tests.orchestration.conftest import node_map
from tests.support.brokers import RedisServer, use_broker

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    shared = os.environ.get("CELERY_BROKER_URL")
    use_broker(server.url)
    from webauto.celery import app

    assert app.conf.broker_url == server.url  # this process sends to the test's own broker
    yield server
    server.stop()
    use_broker(settings.CELERY_BROKER_URL)
    if shared is None:
        os.environ.pop("CELERY_BROKER_URL", None)


# The workers' database connections carry this name, so that the tests that
# cut connections cut only theirs (never the test process's own, nor a live
# server's that later tests share).
WORKER_APPLICATION = "webauto-reliability-worker"


def worker_env(server: RedisServer, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": f"{base_worker_env()['DATABASE_URL']}?application_name={WORKER_APPLICATION}",
        "CELERY_BROKER_URL": server.url,
        "WEBAUTO_DISPATCH_RESEND_SECONDS": "5",
        "WEBAUTO_WORKER_SWEEP_SECONDS": "1",
        "WEBAUTO_NODE_HEARTBEAT_SECONDS": "0.5",
        "WEBAUTO_NODE_STALE_SECONDS": "6",
        **extra,
    }


def all_finished(executions: list[Execution], timeout: float) -> list[Execution]:
    ids = [e.pk for e in executions]

    def done() -> bool:
        return not Execution.objects.filter(pk__in=ids).exclude(status__in=list(EXECUTION_FINAL)).exists()

    try:
        wait_for(done, timeout=timeout, interval=0.5)
    except AssertionError:
        stuck = NodeRun.objects.filter(execution_id__in=ids).exclude(status__in=list(NODE_FINAL)).values_list(
            "execution_id", "node_id", "status", "queued_at", "next_attempt_at", "heartbeat_at", "attempts"
        )
        executions_state = Execution.objects.filter(pk__in=ids).exclude(status__in=list(EXECUTION_FINAL)).values_list(
            "pk", "status", "stop_mode", "status_reason"
        )
        raise AssertionError(
            f"not finished within {timeout}s; active nodes: {list(stuck)}; "
            f"their executions: {list(executions_state)}"
        ) from None
    return list(Execution.objects.filter(pk__in=ids))


def marker(node_id: str, marks: Path, *, seconds: float = 0, after: str | None = None) -> dict:
    return {"id": node_id, "workflow": "test-marker", "config": {"file": str(marks), "seconds": seconds},
            **({"dependsOn": [after]} if after else {})}


def runs(marks: Path) -> Counter[tuple[str, str]]:
    return Counter(tuple(line.split(":")[:2]) for line in marks.read_text().splitlines())  # type: ignore[misc]


def test_a_broker_restart_without_persistence_mid_run_loses_nothing_and_doubles_nothing(
    broker, worker_factory, make_task, tmp_path
):
    marks = tmp_path / "marks.txt"
    worker_factory(env=worker_env(broker))
    task = make_task("restart", [marker("a", marks, seconds=1), marker("b", marks, seconds=1, after="a"),
                                 marker("c", marks, seconds=1, after="b")])
    executions = [services.execution_create(task=task) for _ in range(10)]
    wait_for(lambda: marks.exists() and len(marks.read_text().splitlines()) >= 3, timeout=30)

    broker.stop()  # every message it held (queued nodes, prefetched ones) is gone
    time.sleep(2)
    broker.start()

    finished = all_finished(executions, timeout=60)
    assert {e.status for e in finished} == {"completed"}
    counted = runs(marks)
    assert set(counted) == {(str(e.pk), n) for e in executions for n in "abc"}
    assert set(counted.values()) == {1}  # no node ran twice


def test_a_worker_whose_node_finishes_across_a_broker_restart_stays_up(
    broker, worker_factory, make_task, tmp_path
):
    """The node's message was delivered on a connection that died with the
    broker: acknowledging it afterwards must not stop the worker (kombu 5.7's
    Redis QoS looks up the closed channel's client and raises, which Celery
    treats as unrecoverable; see webauto/broker.py)."""
    marks = tmp_path / "marks.txt"
    worker = worker_factory(env=worker_env(broker))
    task = make_task("ack", [marker("long", marks, seconds=4), marker("after", marks, after="long")])
    executions = [services.execution_create(task=task) for _ in range(3)]
    wait_for(lambda: marks.exists() and len(marks.read_text().splitlines()) >= 3, timeout=30)

    broker.stop()  # the three deliveries' channel dies under them
    time.sleep(1)
    broker.start()  # back before the nodes end: their acknowledgements go to a closed channel

    finished = all_finished(executions, timeout=60)
    assert {e.status for e in finished} == {"completed"}
    assert set(runs(marks).values()) == {1}
    # The same worker still takes new work (a worker that stopped finishes what
    # it holds during its warm shutdown, then takes nothing more).
    (later,) = all_finished([services.execution_create(task=task)], timeout=30)
    assert later.status == "completed"
    assert worker.proc.poll() is None
    assert "Unrecoverable error" not in worker.log_file.read_text()


def test_execute_while_the_broker_is_down_answers_json_202_and_runs_when_it_is_back(
    broker, worker_factory, make_task, api_client, tmp_path
):
    marks = tmp_path / "marks.txt"
    worker_factory(env=worker_env(broker))
    task = make_task("down", [marker("only", marks)])
    broker.stop()

    response = api_client.post(f"/api/v1/tasks/{task.task_id}/execute/", {"input": {}}, format="json")

    assert response.status_code == 202, response.content[:500]
    assert response["Content-Type"] == "application/json"
    execution = Execution.objects.get(pk=response.json()["executionId"])
    assert response.json()["status"] in ("queued", "running")
    broker.start()
    (execution,) = all_finished([execution], timeout=60)
    assert execution.status == "completed"
    assert runs(marks) == {(str(execution.pk), "only"): 1}


def test_a_worker_killed_holding_a_retry_countdown_does_not_delay_the_retry_for_an_hour(
    broker, worker_factory, make_task
):
    env = worker_env(broker)
    first = worker_factory(env=env)
    task = make_task(
        "countdown",
        [{"id": "flaky", "workflow": "test-fail-until", "config": {"succeedOnAttempt": 2},
          "execution": {"retryAttempts": 1}}],
        retry_delay_ms=20_000,
    )
    execution = services.execution_create(task=task)
    wait_for(lambda: node_map(execution)["flaky"].retries == 1, timeout=30)
    time.sleep(1)  # the worker holds the 16-24 s countdown message, unacknowledged

    first.kill()
    worker_factory(env=env)

    (execution,) = all_finished([execution], timeout=60)
    assert execution.status == "completed"
    flaky = node_map(execution)["flaky"]
    assert flaky.attempts == 2
    assert [a["status"] for a in flaky.attempt_log] == ["failed", "completed"]


def _terminate_other_connections() -> int:
    """Cut every database connection of the test's workers; returns how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = %s",
            [WORKER_APPLICATION],
        )
        return int(cursor.fetchone()[0])


def test_killed_database_connections_during_a_long_node_do_not_run_it_twice(
    broker, worker_factory, make_task, tmp_path
):
    marks = tmp_path / "marks.txt"
    worker_factory(env=worker_env(broker))
    task = make_task("pgkill", [marker("long", marks, seconds=12), marker("after", marks, after="long")])
    execution = services.execution_create(task=task)
    wait_for(lambda: marks.exists() and ":long:" in marks.read_text(), timeout=30)
    time.sleep(2)

    assert _terminate_other_connections() > 0  # the node's heartbeat and the worker's own

    (execution,) = all_finished([execution], timeout=60)
    assert execution.status == "completed"
    assert runs(marks) == {(str(execution.pk), "long"): 1, (str(execution.pk), "after"): 1}
    assert node_map(execution)["long"].attempts == 1


def _allow_connections(allowed: bool) -> None:
    db = settings.DATABASES["default"]
    with psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"] or "postgres",
                         password=db.get("PASSWORD") or None, dbname="postgres", autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{db["NAME"]}" WITH ALLOW_CONNECTIONS {"true" if allowed else "false"}')


def test_a_node_that_cannot_renew_its_lease_stops_before_another_copy_starts(
    broker, worker_factory, make_task, tmp_path
):
    marks = tmp_path / "marks.txt"
    worker_factory(env=worker_env(broker))  # lease 6 s: fence at 3 s, process exit at 4.8 s
    task = make_task("fenced", [{"id": "long", "workflow": "test-lease-marker",
                                 "config": {"file": str(marks), "seconds": 15}}])
    execution = services.execution_create(task=task)
    wait_for(lambda: marks.exists() and "start:" in marks.read_text(), timeout=30)

    try:
        _allow_connections(False)  # the database is unreachable for the worker
        _terminate_other_connections()
        wait_for(lambda: "end:" in marks.read_text(), timeout=20)
        time.sleep(1)
    finally:
        _allow_connections(True)

    (execution,) = all_finished([execution], timeout=60)
    assert execution.status == "completed"
    lines = [line.split(":") for line in marks.read_text().splitlines()]
    assert [line[0] for line in lines] == ["start", "end", "start", "end"]
    first_end, second_start = float(lines[1][4]), float(lines[2][4])
    assert first_end < second_start  # the first copy had stopped before the second began
    long = node_map(execution)["long"]
    assert [a["status"] for a in long.attempt_log] == ["lost", "completed"]


# --- Node messages: hints for the claim, fan-outs published in one round trip ---------


@pytest.fixture
def admit_all(settings) -> Iterator[str]:
    """Every execution starts at once, in this process and in the workers
    (given the returned backend in their environment): the tests start
    executions before any worker is up."""
    from orchestration import admission

    settings.WEBAUTO_ADMISSION_BACKEND = "orchestration.admission.AdmitAll"
    admission.get_backend.cache_clear()
    yield settings.WEBAUTO_ADMISSION_BACKEND
    admission.get_backend.cache_clear()


def _queues(server: RedisServer) -> dict[str, list[dict]]:
    """The broker's Celery queues (priority lists included), oldest message first."""
    client = redis.Redis.from_url(server.url)
    found = {}
    for key in client.scan_iter("celery*"):
        if client.type(key) == b"list":
            found[key.decode()] = [json.loads(raw) for raw in reversed(client.lrange(key, 0, -1))]
    return found


def _fan_out(marks: Path, branches: int, **branch_config: dict) -> list[dict]:
    return [marker("root", marks)] + [
        {**marker(f"b{i:02d}", marks, after="root"), **branch_config.get(f"b{i:02d}", {})} for i in range(branches)
    ]


def _finish_root_here(execution: Execution) -> None:
    """Play the root's worker in this process (its marker is not run): its
    finish dispatches the branches, all in this transaction."""
    root = node_map(execution)["root"]
    claim = engine.node_claim(node_run_id=root.pk, dispatch_id=str(root.dispatch_id), worker="test",
                              execution_id=execution.pk, node_id="root")
    assert claim is not None
    engine.node_finish(node_run_id=root.pk, dispatch_id=str(root.dispatch_id),
                       outcome=engine.Outcome(status="completed", output={"from": "root"}))


class SocketWrites:
    """Counts the commands this process's Redis clients write (a pipeline is one write)."""

    def __init__(self) -> None:
        self.count = 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = redis.connection.AbstractConnection.send_packed_command

        def counted(connection: object, command: object, check_health: bool = True) -> None:
            self.count += 1
            original(connection, command, check_health)  # type: ignore[arg-type]

        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)


def test_a_fan_out_of_50_is_published_in_one_round_trip_and_each_branch_runs_once(
    broker, worker_factory, make_task, tmp_path, admit_all, monkeypatch
):
    marks = tmp_path / "marks.txt"
    task = make_task("fan50", _fan_out(marks, 50))
    execution = services.execution_create(task=task)  # no worker yet: the root's message waits
    writes = SocketWrites()
    writes.install(monkeypatch)
    before = dataclasses.replace(dispatch.stats)

    _finish_root_here(execution)

    assert (dispatch.stats.pipelines - before.pipelines, dispatch.stats.batched - before.batched) == (1, 50)
    assert writes.count == 1  # the 50 LPUSHes, one write, one reply
    queued = _queues(broker)["celery:6"]  # normal priority
    branches = [m for m in queued if m["headers"]["argsrepr"] != repr([node_map(execution)["root"].pk,
                                                                      str(node_map(execution)["root"].dispatch_id)])]
    assert len(branches) == 50
    runs_by_pk = {nr.pk: nr for nr in NodeRun.objects.filter(execution=execution).exclude(node_id="root")}
    for message in branches:
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        run = runs_by_pk.pop(args[0])
        assert args == [run.pk, str(run.dispatch_id)]
        # The claim's hints: it reads the branch's upstream outputs in its own statement.
        assert kwargs == {"execution_id": execution.pk, "node_id": run.node_id}
        assert message["headers"]["task"] == "orchestration.run_node"
        assert message["properties"]["priority"] == 6 and message["properties"]["delivery_mode"] == 2

    worker_factory(env=worker_env(broker, WEBAUTO_ADMISSION_BACKEND=admit_all))
    (finished,) = all_finished([execution], timeout=90)
    assert finished.status == "completed"
    assert runs(marks) == {(str(execution.pk), f"b{i:02d}"): 1 for i in range(50)}
    assert {nr.attempts for nr in NodeRun.objects.filter(execution=execution)} == {1}
    # Every delivery was acknowledged (late, after its node): nothing waits, nothing is held.
    client = redis.Redis.from_url(broker.url)
    wait_for(lambda: not client.hlen("unacked") and not any(_queues(broker).values()), timeout=20)


def test_batched_messages_keep_their_priority_and_are_acknowledged_late(
    broker, worker_factory, make_task, tmp_path, admit_all
):
    marks = tmp_path / "marks.txt"
    priorities = {"b00": "low", "b01": "normal", "b02": "critical", "b03": "high"}
    task = make_task("fanprio", _fan_out(marks, 4, **{
        node_id: {"execution": {"priority": name}, "config": {"file": str(marks), "seconds": 2 if name == "critical"
                                                            else 0}}
        for node_id, name in priorities.items()
    }))
    execution = services.execution_create(task=task)
    before = dataclasses.replace(dispatch.stats)
    _finish_root_here(execution)
    assert dispatch.stats.pipelines - before.pipelines == 1
    queues = _queues(broker)
    assert [len(queues.get(name, [])) for name in ("celery", "celery:3", "celery:9")] == [1, 1, 1]

    worker_factory(env=worker_env(broker, WEBAUTO_ADMISSION_BACKEND=admit_all), concurrency=1)
    wait_for(lambda: marks.exists() and ":b02:" in marks.read_text(), timeout=30)
    # The critical branch runs first, and its message stays unacknowledged while it runs.
    client = redis.Redis.from_url(broker.url)
    assert client.hlen("unacked") >= 1
    (finished,) = all_finished([execution], timeout=60)
    assert finished.status == "completed"
    order = [line.split(":")[1] for line in marks.read_text().splitlines() if line.split(":")[0] == str(execution.pk)]
    assert order == ["b02", "b03", "b01", "b00"]  # critical, high, normal, low (the root ran in this process)
    wait_for(lambda: not client.hlen("unacked"), timeout=20)


def test_a_message_with_the_old_two_arguments_still_runs(broker, worker_factory, make_task, tmp_path, admit_all):
    marks = tmp_path / "marks.txt"
    execution = services.execution_create(task=make_task("old", [marker("only", marks)]))
    run = node_map(execution)["only"]
    fresh = uuid.uuid4()  # the message below is the only valid one (the first is now stale)
    NodeRun.objects.filter(pk=run.pk).update(dispatch_id=fresh)
    current_app.send_task(engine.RUN_NODE, args=[run.pk, str(fresh)], priority=0)
    (old,) = _queues(broker)["celery"]
    assert json.loads(base64.b64decode(old["body"]))[:2] == [[run.pk, str(fresh)], {}]

    worker_factory(env=worker_env(broker, WEBAUTO_ADMISSION_BACKEND=admit_all))
    (finished,) = all_finished([execution], timeout=60)
    assert finished.status == "completed"
    assert runs(marks) == {(str(execution.pk), "only"): 1}
    assert str(node_map(execution)["only"].dispatch_id) == str(fresh)


def test_a_fan_out_published_while_the_broker_is_down_is_sent_by_the_sweep_when_it_is_back(
    broker, worker_factory, make_task, tmp_path, admit_all
):
    marks = tmp_path / "marks.txt"
    task = make_task("fandown", _fan_out(marks, 50))
    execution = services.execution_create(task=task)
    before = dataclasses.replace(dispatch.stats)
    broker.stop()

    _finish_root_here(execution)  # committed all the same: the broker failing does not fail the finish

    assert dispatch.stats.unsent - before.unsent == 50
    branches = NodeRun.objects.filter(execution=execution).exclude(node_id="root")
    assert branches.count() == 50
    assert set(branches.values_list("status", "queued_at")) == {("queued", None)}  # marked for the sweep
    broker.start()
    worker_factory(env=worker_env(broker, WEBAUTO_ADMISSION_BACKEND=admit_all))  # its sweeper re-sends them
    (finished,) = all_finished([execution], timeout=90)
    assert finished.status == "completed"
    assert runs(marks) == {(str(execution.pk), f"b{i:02d}"): 1 for i in range(50)}


def test_a_transactions_node_messages_go_out_together_on_commit_and_never_after_a_rollback(broker):
    from django.db import transaction

    def send(n: int) -> None:
        engine.send_on_commit(10**9 + n, uuid.uuid4(), 6)

    def sent() -> list[int]:
        return sorted(json.loads(base64.b64decode(m["body"]))[0][0] - 10**9
                      for m in _queues(broker).get("celery:6", []))

    class Boom(Exception):
        pass

    before = dataclasses.replace(dispatch.stats)
    with transaction.atomic():
        send(1)
        with pytest.raises(Boom), transaction.atomic():  # a savepoint rolled back: its message goes too
            send(2)
            raise Boom
        with transaction.atomic():  # a savepoint kept: its message goes, on its own
            send(3)
        send(4)
        assert sent() == []  # nothing before the commit
    assert sent() == [1, 3, 4]
    assert (dispatch.stats.pipelines - before.pipelines, dispatch.stats.batched - before.batched) == (1, 2)

    with pytest.raises(Boom), transaction.atomic():
        send(5)
        raise Boom
    with transaction.atomic():  # the next transaction starts a batch of its own
        send(6)
        send(7)
    assert sent() == [1, 3, 4, 6, 7]
    assert dispatch.stats.pipelines - before.pipelines == 2
