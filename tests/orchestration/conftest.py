from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from orchestration import admission
from orchestration.models import Execution, NodeRun, Task


@pytest.fixture
def admit_all(settings) -> Iterator[None]:
    """The engine admits every execution at once (no resource manager)."""
    settings.WEBAUTO_ADMISSION_BACKEND = "orchestration.admission.AdmitAll"
    admission.get_backend.cache_clear()
    yield
    admission.get_backend.cache_clear()


class Statements:
    """A ``connection.execute_wrapper`` that keeps the SQL of every statement sent."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    def __call__(self, execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        self.sql.append(sql)
        return execute(sql, params, many, context)


@pytest.fixture
def empty_broker() -> Iterator[Any]:
    """The broker's Redis client, its messages dropped before and after the
    test (tests that run nodes in this process, with no worker, leave their
    messages there; a continuing runner asks the broker whether
    higher-priority messages wait, ``dispatch.waiting_before``)."""
    from orchestration import dispatch
    from webauto.celery import app

    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        client.flushdb()
        dispatch._clear_at.clear()
        dispatch._probe_failed_at = -1e9
        yield client
        client.flushdb()
        dispatch._clear_at.clear()


@pytest.fixture
def make_task():
    """Create a Task row directly (engine tests bypass definition validation)."""

    def make(task_id: str, workflows: list[dict[str, Any]], **fields: Any) -> Task:
        fields.setdefault("name", task_id)
        return Task.objects.create(task_id=task_id, workflows=workflows, **fields)

    return make


def node_map(execution: Execution) -> dict[str, NodeRun]:
    return {nr.node_id: nr for nr in NodeRun.objects.filter(execution=execution)}
