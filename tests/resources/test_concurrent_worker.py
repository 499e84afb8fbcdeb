"""100 executions at once through one machine: all complete, every node
runs exactly once, and capacity accounting balances to zero."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.db.models import Sum

from orchestration import services as core
from orchestration.models import ExecutionStatus, Task
from resources.models import Allocation, ReleaseReason, ResourceRequest
from resources.selectors import capacity_summary
from tests.resources.conftest import settle

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EXECUTIONS = 100


def test_a_hundred_concurrent_executions_complete_with_exact_accounting(live_cluster, tmp_path):
    marks = tmp_path / "marks.log"
    task = Task.objects.create(
        task_id="many", name="many", resource_requirements={"cpu": 0.25, "memory": "64MB"},
        workflows=[
            {"id": "a", "workflow": "test-marker", "config": {"file": str(marks)}},
            {"id": "b", "workflow": "test-marker", "dependsOn": ["a"], "config": {"file": str(marks)}},
        ],
    )
    capacity = capacity_summary()["capacity"]["cpu"]
    assert capacity >= 0.5  # room for at least two at once on any machine

    peak = {"cpu": 0, "open": 0}
    stop = threading.Event()

    def watch() -> None:
        try:
            while not stop.is_set():
                row = Allocation.objects.filter(released_at__isnull=True).aggregate(cpu=Sum("cpu_millicores"))
                opened = Allocation.objects.filter(released_at__isnull=True).count()
                peak["cpu"] = max(peak["cpu"], row["cpu"] or 0)
                peak["open"] = max(peak["open"], opened)
                stop.wait(0.05)
        finally:
            connection.close()

    def create(n: int) -> list[int]:
        try:
            return [core.execution_create(task=task).pk for _ in range(n)]
        finally:
            connection.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(10) as pool:
            ids = [pk for chunk in pool.map(create, [EXECUTIONS // 10] * 10) for pk in chunk]
        settle(
            lambda: task.executions.filter(status=ExecutionStatus.COMPLETED).count() == EXECUTIONS
            and not Allocation.objects.filter(released_at__isnull=True).exists(),
            timeout=300,
        )
    finally:
        stop.set()
        watcher.join()

    assert len(set(ids)) == EXECUTIONS
    assert peak["cpu"] <= capacity * 1000
    assert 1 < peak["open"] <= capacity * 4  # really concurrent, never beyond capacity (0.25 CPU each)
    lines = Counter(tuple(line.split(":")[:2]) for line in marks.read_text().splitlines())
    assert len(lines) == 2 * EXECUTIONS and set(lines.values()) == {1}  # none lost, none doubled
    allocations = list(Allocation.objects.values_list("execution_id", "release_reason"))
    assert Counter(e for e, _ in allocations) == Counter({pk: 1 for pk in ids})
    assert {reason for _, reason in allocations} == {ReleaseReason.FINISHED}
    assert not ResourceRequest.objects.filter(waiting_since__isnull=False).exists()
    summary = capacity_summary()
    assert summary["allocated"]["cpu"] == 0 and summary["queued"] == 0
