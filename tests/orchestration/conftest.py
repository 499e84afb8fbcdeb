from __future__ import annotations

from typing import Any

import pytest

from orchestration.models import Execution, NodeRun, Task


@pytest.fixture
def make_task():
    """Create a Task row directly (engine tests bypass definition validation)."""

    def make(task_id: str, workflows: list[dict[str, Any]], **fields: Any) -> Task:
        fields.setdefault("name", task_id)
        return Task.objects.create(task_id=task_id, workflows=workflows, **fields)

    return make


def node_map(execution: Execution) -> dict[str, NodeRun]:
    return {nr.node_id: nr for nr in NodeRun.objects.filter(execution=execution)}
