"""A finishing worker continues only with its own execution's next node.

The finish's on-commit work runs while the finish is still on the stack: the
capacity it frees starts the next queued execution right there (the dispatch
pass after a release). That execution's first node must be sent to the
broker, not claimed for the finishing worker, which has already returned and
would never run it (found by bench_schedules: one-node runs left ``running``
until their lease expired, holding the capacity every queued run waited for)."""

from __future__ import annotations

import pytest

from orchestration import engine, services
from orchestration.models import ExecutionStatus, NodeRun, NodeStatus

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_execution_a_finish_frees_capacity_for_sends_its_node(resource_backend, make_worker, make_task):
    make_worker(cpu_limit_millicores=2000)
    task = make_task("whole-box", cpu=2)  # one at a time on this worker
    first = services.execution_create(task=task)
    second = services.execution_create(task=task)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (ExecutionStatus.RUNNING, ExecutionStatus.QUEUED)

    run = NodeRun.objects.get(execution=first)
    claim = engine.node_claim(node_run_id=run.pk, dispatch_id=str(run.dispatch_id), worker="w1")
    assert claim is not None
    following = engine.node_finish(
        node_run_id=run.pk, dispatch_id=str(run.dispatch_id),
        outcome=engine.Outcome(status=NodeStatus.COMPLETED, output={}), continue_here=True, worker="w1",
    )

    assert following is None  # nothing of the first execution was left to run
    second.refresh_from_db()
    assert second.status == ExecutionStatus.RUNNING  # begun by the pass the release ran on commit
    started = NodeRun.objects.get(execution=second)
    assert started.status == NodeStatus.QUEUED and started.queued_at is not None  # sent, not kept
    assert started.worker == "" and started.attempts == 0
