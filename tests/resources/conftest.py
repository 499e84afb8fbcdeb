"""Fixtures of the resource manager tests: workers as heartbeats describe
them, tasks with explicit requirements, and queued executions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from django.utils import timezone

from orchestration import admission
from orchestration.engine import definition_snapshot
from orchestration.models import Execution, ExecutionStatus, NodeRun, Task
from resources.models import Worker, WorkerStatus

GB = 1024**3
MB = 1024**2
BACKEND = "resources.backend.ResourceAdmission"


@pytest.fixture
def resource_backend(settings) -> Iterator[None]:
    """Makes the engine use the resource manager for admission."""
    settings.WEBAUTO_ADMISSION_BACKEND = BACKEND
    admission.get_backend.cache_clear()
    yield
    admission.get_backend.cache_clear()


@pytest.fixture
def make_worker() -> Callable[..., Worker]:
    def make(
        name: str = "w1@host-a", *, host: str = "host-a", cores: int = 2, memory: int = 8 * GB,
        heartbeat: datetime | None = None, status: str = WorkerStatus.ALIVE, **fields: Any,
    ) -> Worker:
        return Worker.objects.create(
            name=name, host=host, cores=cores, memory_total_bytes=memory, memory_available_bytes=memory,
            disk_free_bytes=100 * GB, slots=4, status=status,
            last_heartbeat_at=heartbeat or timezone.now(), **fields,
        )

    return make


@pytest.fixture
def make_task() -> Callable[..., Task]:
    def make(
        task_id: str, *, priority: str = "normal", cpu: float = 1, memory: str = "256MB",
        workflows: list[dict[str, Any]] | None = None, requirements: dict[str, Any] | None = None,
    ) -> Task:
        return Task.objects.create(
            task_id=task_id, name=task_id, priority=priority,
            workflows=workflows or [{"id": "only", "workflow": "echo"}],
            resource_requirements=requirements if requirements is not None else {"cpu": cpu, "memory": memory},
        )

    return make


@pytest.fixture
def queued() -> Callable[..., Execution]:
    """A queued execution (as the engine leaves it before asking admission)."""

    def make(task: Task, **fields: Any) -> Execution:
        execution = Execution.objects.create(
            task=task, status=ExecutionStatus.QUEUED, priority=task.priority,
            definition=definition_snapshot(task), queued_at=timezone.now(), **fields,
        )
        NodeRun.objects.bulk_create(
            NodeRun(execution=execution, node_id=n["id"], workflow=n["workflow"]) for n in task.workflows
        )
        return execution

    return make


@pytest.fixture(scope="module")
def resource_worker(_worker_base):
    """A real worker (one per test module) whose engine admits through the
    resource manager (whatever the default backend is)."""
    from tests.conftest import start_worker

    worker = start_worker(
        _worker_base,
        concurrency=4,
        env={"WEBAUTO_ADMISSION_BACKEND": BACKEND},
    )
    yield worker
    worker.stop()


@pytest.fixture
def live_cluster(resource_worker, resource_backend, transactional_db):
    """Waits until a worker's heartbeat is in the (freshly emptied) database."""
    from resources.services import live_workers
    from tests.conftest import wait_for

    wait_for(lambda: live_workers().exists(), timeout=30)
    return resource_worker


def settle(predicate: Callable[[], object], timeout: float = 90) -> object:
    """Wait for ``predicate`` (no reconciliation runs meanwhile: beat is not
    running in tests, so what is asserted is done by release and dispatch)."""
    from tests.conftest import wait_for

    return wait_for(predicate, timeout=timeout)
