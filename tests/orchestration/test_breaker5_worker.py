"""The condition-stop continuation defect (see test_breaker5_engine.py) seen
on a real worker: a node of an execution that was stopped in the very
transaction that made it ready still runs, with its side effects."""

from __future__ import annotations

import pytest

from orchestration import services
from orchestration.models import EXECUTION_FINAL, Event, NodeStatus
from tests.conftest import wait_for
from tests.orchestration.conftest import node_map

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_node_ready_in_a_transition_that_stops_the_execution_never_runs(worker_factory, make_task, tmp_path):
    """``a`` completes; ``c`` (writes a mark) and ``b`` (its condition cannot
    be evaluated) become ready; stop-on-error fails the execution in that
    transition. ``c`` must never run: it had not started when the execution
    stopped. The finishing worker continues with ``c`` (claimed in the
    finish's transaction before ``b``'s condition stopped the execution),
    runs it, and ``c`` even ends completed in a failed execution."""
    marks = tmp_path / "marks.txt"
    worker_factory()
    task = make_task("cond-stop-worker", [
        {"id": "a", "workflow": "test-marker", "config": {"file": str(marks)}},
        {"id": "c", "workflow": "test-marker", "dependsOn": ["a"], "config": {"file": str(marks)}},
        {"id": "b", "workflow": "test-marker", "dependsOn": ["a"], "config": {"file": str(marks)},
         "condition": {"type": "expression", "expression": "${a.missing == 1}"}},
    ], error_handling={"strategy": "stop-on-error"})
    execution = services.execution_create(task=task)

    def done() -> bool:
        execution.refresh_from_db()
        return execution.status in EXECUTION_FINAL

    wait_for(done, timeout=60)
    assert execution.status == "failed"
    nodes = node_map(execution)
    assert nodes["b"].status == NodeStatus.FAILED
    lines = marks.read_text().splitlines()
    assert sum(":a:" in line for line in lines) == 1
    assert not any(":c:" in line for line in lines), lines
    assert nodes["c"].status == NodeStatus.CANCELLED, nodes["c"].status
    assert not Event.objects.filter(execution=execution, node_id="c", type="workflow.started").exists()
