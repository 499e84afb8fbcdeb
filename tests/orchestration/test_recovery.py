"""Crashes and timers: a killed worker, parked retries, delayed task retries."""

from __future__ import annotations

import time

import pytest

from orchestration import recovery, services
from orchestration.models import EXECUTION_FINAL, NodeStatus
from tests.conftest import wait_for
from tests.orchestration.conftest import node_map

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_worker_killed_mid_node_loses_nothing(worker_factory, make_task, tmp_path):
    marks = tmp_path / "marks.txt"
    fast_beat = {"WEBAUTO_NODE_HEARTBEAT_SECONDS": "0.3", "WEBAUTO_NODE_STALE_SECONDS": "2"}
    first_worker = worker_factory(env=fast_beat)
    task = make_task(
        "crashy",
        [
            {"id": "work", "workflow": "test-marker", "config": {"file": str(marks), "seconds": 4}},
            {"id": "after", "workflow": "test-marker", "dependsOn": ["work"], "config": {"file": str(marks)}},
        ],
    )
    execution = services.execution_create(task=task)
    wait_for(lambda: marks.exists() and ":work:" in marks.read_text(), timeout=30)

    first_worker.kill()
    time.sleep(2.5)  # let the dead worker's heartbeat go stale
    worker_factory(env=fast_beat)

    def done():
        execution.refresh_from_db()
        return execution.status in EXECUTION_FINAL

    wait_for(done, timeout=60)
    assert execution.status == "completed"
    nodes = node_map(execution)
    assert nodes["work"].attempts == 2
    assert [a["status"] for a in nodes["work"].attempt_log] == ["lost", "completed"]
    lines = marks.read_text().splitlines()
    assert sum(":work:" in line for line in lines) == 2
    assert sum(":after:" in line for line in lines) == 1


def test_long_retry_delays_wait_in_the_database_not_the_broker(worker_factory, make_task, settings):
    settings.WEBAUTO_MAX_COUNTDOWN_SECONDS = 0
    worker_factory(env={"WEBAUTO_MAX_COUNTDOWN_SECONDS": "0"})
    task = make_task(
        "parked",
        [{"id": "flaky", "workflow": "test-fail-until", "config": {"succeedOnAttempt": 2},
          "execution": {"retryAttempts": 1}}],
        retry_delay_ms=300,
    )
    execution = services.execution_create(task=task)

    def parked():
        run = node_map(execution)["flaky"]
        return run if run.status == NodeStatus.QUEUED and run.next_attempt_at else None

    run = wait_for(parked, timeout=30)
    assert run.attempts == 1 and run.retries == 1

    def finished_after_maintenance():
        recovery.maintenance()
        execution.refresh_from_db()
        return execution.status in EXECUTION_FINAL

    wait_for(finished_after_maintenance, timeout=30, interval=0.5)
    assert execution.status == "completed"
    assert node_map(execution)["flaky"].attempts == 2


def test_a_worker_killed_while_it_continues_a_chain_in_the_same_process_loses_nothing(
    worker_factory, make_task, tmp_path
):
    marks = tmp_path / "marks.txt"
    env = {"WEBAUTO_NODE_HEARTBEAT_SECONDS": "0.3", "WEBAUTO_NODE_STALE_SECONDS": "2",
           "WEBAUTO_WORKER_SWEEP_SECONDS": "1", "WEBAUTO_DISPATCH_RESEND_SECONDS": "3"}
    first_worker = worker_factory(env=env, concurrency=2)
    task = make_task(
        "continued",
        [
            {"id": "a", "workflow": "test-marker", "config": {"file": str(marks)}},
            {"id": "b", "workflow": "test-marker", "dependsOn": ["a"], "config": {"file": str(marks), "seconds": 4}},
            {"id": "c", "workflow": "test-marker", "dependsOn": ["b"], "config": {"file": str(marks)}},
        ],
    )
    execution = services.execution_create(task=task)
    wait_for(lambda: marks.exists() and ":b:" in marks.read_text(), timeout=30)
    pids = {line.split(":")[1]: line.split(":")[2] for line in marks.read_text().splitlines()}
    assert pids["a"] == pids["b"]  # b continued in a's process, without a broker round trip

    runs = _kill_and_finish(first_worker, worker_factory, env, execution, marks)
    assert runs == {"a": 1, "b": 2, "c": 1}  # b: the killed attempt, then the recovered one
    assert [a["status"] for a in node_map(execution)["b"].attempt_log] == ["lost", "completed"]


def test_a_worker_killed_while_it_runs_a_queued_branch_it_continued_with_loses_nothing(
    worker_factory, make_task, tmp_path
):
    """The fan-out variant: the process that ran the root continues with the
    first branch, then (engine._queued_claim) with a branch whose message is
    still in the broker, and is killed while it runs that branch. Its lease
    expires and recovery sends it again; the branches nobody claimed run
    from their messages; every node runs once, the killed one twice."""
    marks = tmp_path / "marks.txt"
    env = {"WEBAUTO_NODE_HEARTBEAT_SECONDS": "0.3", "WEBAUTO_NODE_STALE_SECONDS": "2",
           "WEBAUTO_WORKER_SWEEP_SECONDS": "1", "WEBAUTO_DISPATCH_RESEND_SECONDS": "3"}
    first_worker = worker_factory(env=env, concurrency=1)
    branches = {"b0": 0.2, "b1": 0, "b2": 0, "b3": 4}  # b3 is queued last: continued after b0
    task = make_task("continued-fan", [
        {"id": "root", "workflow": "test-marker", "config": {"file": str(marks)}},
        *({"id": node_id, "workflow": "test-marker", "dependsOn": ["root"],
           "config": {"file": str(marks), "seconds": seconds}} for node_id, seconds in branches.items()),
        {"id": "join", "workflow": "test-marker", "dependsOn": list(branches), "config": {"file": str(marks)}},
    ])
    execution = services.execution_create(task=task)
    wait_for(lambda: marks.exists() and ":b3:" in marks.read_text(), timeout=30, interval=0.05)
    pids = {line.split(":")[1]: line.split(":")[2] for line in marks.read_text().splitlines()}
    assert pids["root"] == pids["b0"] == pids["b3"]  # continued in the root's process, b3 from the queue
    assert "b1" not in pids and "b2" not in pids

    runs = _kill_and_finish(first_worker, worker_factory, env, execution, marks)
    assert runs == {"root": 1, "b0": 1, "b1": 1, "b2": 1, "b3": 2, "join": 1}
    assert [a["status"] for a in node_map(execution)["b3"].attempt_log] == ["lost", "completed"]


def _kill_and_finish(first_worker, worker_factory, env: dict[str, str], execution, marks) -> dict[str, int]:
    """Kill ``first_worker``, let its lease expire, start a fresh worker and
    wait for ``execution`` to end completed; returns how often each node ran
    (the ``test-marker`` lines per node id)."""
    first_worker.kill()
    time.sleep(2.5)  # let the dead worker's lease expire
    worker_factory(env=env)

    def done():
        execution.refresh_from_db()
        return execution.status in EXECUTION_FINAL

    wait_for(done, timeout=60)
    assert execution.status == "completed"
    runs: dict[str, int] = {}
    for line in marks.read_text().splitlines():
        node_id = line.split(":")[1]
        runs[node_id] = runs.get(node_id, 0) + 1
    return runs
