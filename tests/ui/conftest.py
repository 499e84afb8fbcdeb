"""Fixtures for the operator UI tests: a logged-in client, a saved three-node
task, and executions written straight to the database (no worker needed)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from orchestration import services
from orchestration.models import Execution, ExecutionStatus, NodeRun, NodeStatus, Task


def chain_definition(task_id: str = "ui-chain", **extra: Any) -> dict[str, Any]:
    return {
        "taskId": task_id,
        "name": "UI chain",
        "description": "fetch, wait, report",
        "category": "demo",
        "tags": ["ui", "demo"],
        "parameters": {"greeting": "hello"},
        "workflows": [
            {"id": "fetch", "name": "Fetch", "workflow": "echo", "config": {"output": {"text": "${greeting}"}}},
            {"id": "wait", "workflow": "delay", "dependsOn": ["fetch"], "config": {"seconds": 0}},
            {"id": "report", "workflow": "echo", "dependsOn": ["wait"], "inputFrom": "fetch.output", "config": {}},
        ],
        **extra,
    }


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """The default hasher spends most of a second per password; these tests
    are about pages, not about hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def user_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def chain_task(db) -> Task:
    return services.task_create(definition=chain_definition())


@pytest.fixture
def finished_execution(chain_task) -> Execution:
    """A completed execution with node runs, written without running anything."""
    now = timezone.now()
    execution = Execution.objects.create(
        task=chain_task,
        status=ExecutionStatus.COMPLETED,
        trigger="manual",
        triggered_by="admin",
        definition={"workflows": chain_task.workflows},
        started_at=now - timedelta(seconds=3),
        finished_at=now,
    )
    for offset, node in enumerate(chain_task.workflows):
        NodeRun.objects.create(
            execution=execution,
            node_id=node["id"],
            workflow=node["workflow"],
            status=NodeStatus.COMPLETED,
            attempts=1,
            queued_at=now - timedelta(seconds=3 - offset),
            started_at=now - timedelta(seconds=3 - offset),
            finished_at=now - timedelta(seconds=2 - offset),
            output={"node": node["id"]},
        )
    return execution


@pytest.fixture
def running_execution(chain_task) -> Execution:
    now = timezone.now()
    execution = Execution.objects.create(
        task=chain_task, status=ExecutionStatus.RUNNING, trigger="api",
        definition={"workflows": chain_task.workflows}, started_at=now - timedelta(seconds=1),
    )
    NodeRun.objects.create(execution=execution, node_id="fetch", workflow="echo", status=NodeStatus.RUNNING,
                           started_at=now - timedelta(seconds=1), attempts=1)
    NodeRun.objects.create(execution=execution, node_id="wait", workflow="delay")
    NodeRun.objects.create(execution=execution, node_id="report", workflow="echo")
    return execution
