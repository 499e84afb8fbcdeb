"""A process's cache of executions' unchanging parts (``engine.frozen``)
holds only what is still in play: an execution's entry goes when it ends in
this process, and any entry unused for ``FROZEN_IDLE_SECONDS`` goes at the
next insertion (a pool process must not keep every execution it ever touched:
README, Benchmarks, "Memory"). The tests play the worker's claim and finish
themselves; a changed definition row shows whether an entry was re-read."""

from __future__ import annotations

import time

import pytest

from orchestration import engine, services
from orchestration.models import Execution, ExecutionStatus, NodeStatus
from tests.orchestration.conftest import node_map

pytestmark = pytest.mark.django_db(transaction=True)


def _mark_definition(execution: Execution, mark: str) -> None:
    """Change the stored definition behind the cache's back (never done by the product)."""
    definition = dict(execution.definition, description=mark)
    Execution.objects.filter(pk=execution.pk).update(definition=definition)


def _finish(execution: Execution, node_id: str) -> None:
    run = node_map(execution)[node_id]
    claim = engine.node_claim(node_run_id=run.pk, dispatch_id=str(run.dispatch_id), worker="w")
    assert claim is not None
    engine.node_finish(node_run_id=run.pk, dispatch_id=str(run.dispatch_id),
                       outcome=engine.Outcome(status=NodeStatus.COMPLETED, output={}))


def test_a_running_executions_entry_is_reused_and_an_ended_ones_is_dropped(admit_all, make_task):
    task = make_task("cache", [{"id": "a", "workflow": "echo"}, {"id": "b", "workflow": "echo", "dependsOn": ["a"]}])
    execution = services.execution_create(task=task)
    _finish(execution, "a")
    first = engine.frozen(execution.pk)

    _mark_definition(execution, "changed")
    assert engine.frozen(execution.pk) is first  # still running: served from the cache, no query

    _finish(execution, "b")
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.COMPLETED
    # Ended: not cached any more, not even by the subscribers that read it when
    # its final events are announced after the commit.
    _mark_definition(execution, "changed again")
    assert engine.frozen(execution.pk).definition.get("description") == "changed again"


def test_an_entry_unused_past_the_idle_bound_is_dropped_at_the_next_insertion(admit_all, make_task, monkeypatch):
    task = make_task("idle", [{"id": "a", "workflow": "echo"}])
    idle = services.execution_create(task=task)
    first = engine.frozen(idle.pk)
    assert engine.frozen(idle.pk) is first
    _mark_definition(idle, "changed")

    later = time.monotonic() + engine.FROZEN_IDLE_SECONDS + 1
    monkeypatch.setattr(engine.time, "monotonic", lambda: later)
    engine.frozen(services.execution_create(task=task).pk)  # an insertion, past the first entry's idle bound

    again = engine.frozen(idle.pk)
    assert again is not first
    assert again.definition.get("description") == "changed"


def test_an_ended_executions_entry_still_serves_its_final_events_subscribers_then_goes(admit_all, make_task):
    from django.db import connection

    task = make_task("ending", [{"id": "a", "workflow": "echo"}])
    execution = services.execution_create(task=task)
    cached = engine.frozen(execution.pk)
    _finish(execution, "a")
    # Ended: a reader that does not keep what it reads (the alert rules, on the
    # final event) gets the entry without a query ...
    statements: list[str] = []
    with connection.execute_wrapper(lambda execute, sql, *args: statements.append(sql) or execute(sql, *args)):
        assert engine.frozen(execution.pk, keep=False) is cached
    assert statements == []
    # ... and the next entry cached in this process evicts it.
    engine.frozen(services.execution_create(task=task).pk)
    with connection.execute_wrapper(lambda execute, sql, *args: statements.append(sql) or execute(sql, *args)):
        assert engine.frozen(execution.pk, keep=False) is not cached
    assert len(statements) == 1
