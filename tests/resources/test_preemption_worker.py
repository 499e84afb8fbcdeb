"""Preemption end to end on a real worker: a critical execution takes the
capacity of a running low-priority one, which resumes afterwards without
re-running the nodes it had finished."""

from __future__ import annotations

from collections import Counter

import pytest

from orchestration import services as core
from orchestration.models import Event, ExecutionStatus, NodeStatus, Task
from resources.models import Allocation, Preemption, ReleaseReason, ResourcePool
from tests.resources.conftest import settle

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def marker(node_id: str, path, *, seconds: float = 0, after: list[str] | None = None) -> dict:
    return {
        "id": node_id, "workflow": "test-marker", "dependsOn": after or [],
        "config": {"file": str(path), "seconds": seconds},
    }


def runs(path) -> Counter:
    """How many times each (execution, node) really started."""
    if not path.exists():
        return Counter()
    return Counter(tuple(line.split(":")[:2]) for line in path.read_text().splitlines())


def test_a_critical_execution_preempts_a_long_low_one_which_resumes_where_it_was(live_cluster, tmp_path):
    ResourcePool.objects.update_or_create(name="default", defaults={"cpu_limit_millicores": 1000})  # room for one
    marks = tmp_path / "marks.log"
    low_task = Task.objects.create(
        task_id="long-low", name="long low", priority="low", resource_requirements={"cpu": 1},
        workflows=[
            marker("first", marks),
            marker("long", marks, seconds=6, after=["first"]),
            marker("last", marks, after=["long"]),
        ],
    )
    critical_task = Task.objects.create(
        task_id="urgent", name="urgent", priority="critical", resource_requirements={"cpu": 1},
        workflows=[marker("only", marks, seconds=1)],
    )

    low = core.execution_create(task=low_task)
    settle(lambda: low.node_runs.filter(node_id="long", status=NodeStatus.RUNNING).exists())
    critical = core.execution_create(task=critical_task)

    low.refresh_from_db()
    assert low.status == ExecutionStatus.QUEUED
    assert low.status_reason == f"preempted by execution #{critical.pk} (critical)"
    critical.refresh_from_db()
    assert critical.status == ExecutionStatus.RUNNING

    def done(execution):
        execution.refresh_from_db()
        return execution.status in (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED)

    settle(lambda: done(critical), timeout=60)
    assert critical.status == ExecutionStatus.COMPLETED
    # The long node was stopped, not failed: it will run again, on its own terms.
    settle(lambda: low.node_runs.filter(node_id="long", status=NodeStatus.RUNNING).exists()
           and low.node_runs.get(node_id="long").attempts == 2, timeout=60)
    low.refresh_from_db()
    assert low.status == ExecutionStatus.RUNNING
    settle(lambda: done(low), timeout=60)

    assert low.status == ExecutionStatus.COMPLETED
    counted = runs(marks)
    assert counted[(str(low.pk), "first")] == 1  # finished before preemption: not re-run
    assert counted[(str(low.pk), "long")] == 2  # interrupted, then run again
    assert counted[(str(low.pk), "last")] == 1
    assert counted[(str(critical.pk), "only")] == 1
    assert low.node_runs.get(node_id="first").attempts == 1
    preemption = Preemption.objects.get()
    assert (preemption.victim_id, preemption.beneficiary_id) == (low.pk, critical.pk)
    assert preemption.resumed_at is not None and preemption.resumed_at >= critical.finished_at
    assert Event.objects.filter(type="resource.preempted", execution=low).count() == 1
    assert Event.objects.filter(type="execution.resumed", execution=low).count() == 1
    # Accounting: nothing left open; low held capacity twice, critical once.
    # (The release runs just after the commit that made the execution final.)
    settle(lambda: not Allocation.objects.filter(released_at__isnull=True).exists(), timeout=10)
    reasons = sorted(Allocation.objects.filter(execution=low).values_list("release_reason", flat=True))
    assert reasons == sorted([ReleaseReason.PREEMPTED, ReleaseReason.FINISHED])
    assert list(Allocation.objects.filter(execution=critical).values_list("release_reason", flat=True)) == [
        ReleaseReason.FINISHED
    ]
