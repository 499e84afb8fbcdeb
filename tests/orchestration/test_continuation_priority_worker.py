"""The continuation with an already queued branch (``engine._claim_queued``)
seen on a real worker: a worker process that continues with a queued branch
takes it in the broker's place, so it must take the one the broker would
have handed it (the highest priority waiting)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration import engine, services
from orchestration.models import EXECUTION_FINAL, Execution
from tests.conftest import wait_for
from tests.orchestration.conftest import node_map

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _marker(node_id: str, marks: Path, **extra: object) -> dict[str, object]:
    return {"id": node_id, "workflow": "test-marker", "config": {"file": str(marks)}, **extra}


def test_branches_continued_by_one_worker_process_run_in_their_priority_order(
    worker_factory, make_task, tmp_path, admit_all
):
    """The root finishes here (not continued): its four branches wait in the
    broker at their own priorities. One worker process takes the critical
    one from the broker and then continues with the others: high, normal,
    low, as the broker would have handed them out, not last queued first."""
    marks = tmp_path / "marks.txt"
    priorities = {"b00": "critical", "b01": "low", "b02": "high", "b03": "normal"}
    task = make_task("fanprio6", [_marker("root", marks)] + [
        _marker(node_id, marks, dependsOn=["root"], execution={"priority": name})
        for node_id, name in priorities.items()
    ])
    execution = services.execution_create(task=task)
    root = node_map(execution)["root"]
    assert engine.node_claim(node_run_id=root.pk, dispatch_id=str(root.dispatch_id), worker="test") is not None
    engine.node_finish(node_run_id=root.pk, dispatch_id=str(root.dispatch_id),
                       outcome=engine.Outcome(status="completed", output={}))

    worker_factory(env={"WEBAUTO_ADMISSION_BACKEND": "orchestration.admission.AdmitAll"}, concurrency=1)

    def done() -> bool:
        return Execution.objects.get(pk=execution.pk).status in EXECUTION_FINAL

    wait_for(done, timeout=60)
    assert Execution.objects.get(pk=execution.pk).status == "completed"
    order = [line.split(":")[1] for line in marks.read_text().splitlines() if line.split(":")[0] == str(execution.pk)]
    assert order == ["b00", "b02", "b03", "b01"]  # critical, high, normal, low (the root ran in this process)


@pytest.mark.parametrize("shape", ["fan", "chain"])
def test_a_continuing_worker_yields_to_a_higher_priority_run_waiting_in_the_broker(
    worker_factory, make_task, tmp_path, admit_all, shape
):
    """One worker process runs a low-priority run's nodes one after the
    other without the broker (a fan-out's queued branches, or a chain's
    next node). A critical run started meanwhile waits in the broker at
    priority 0: after the node in hand, the worker leaves the continuation
    to the broker and takes the critical node first, instead of running the
    low run's remaining nodes (up to 50) before it."""
    marks = tmp_path / "marks.txt"
    nodes = [f"n{i}" for i in range(6)]
    if shape == "fan":
        low_nodes = [_marker("root", marks)] + [
            _marker(node_id, marks, dependsOn=["root"]) | {"config": {"file": str(marks), "seconds": 0.4}}
            for node_id in nodes]
    else:
        low_nodes = [_marker("root", marks)] + [
            _marker(node_id, marks, dependsOn=[nodes[i - 1] if i else "root"])
            | {"config": {"file": str(marks), "seconds": 0.4}}
            for i, node_id in enumerate(nodes)]
    low_task = make_task(f"low-{shape}", low_nodes, priority="low")
    critical_task = make_task(f"critical-{shape}", [_marker("urgent", marks)], priority="critical")
    worker_factory(env={"WEBAUTO_ADMISSION_BACKEND": "orchestration.admission.AdmitAll"}, concurrency=1)

    low = services.execution_create(task=low_task)

    def started() -> int:
        return len(marks.read_text().splitlines()) if marks.exists() else 0

    wait_for(lambda: started() >= 3, timeout=60, interval=0.02)  # the root and two nodes have started
    critical = services.execution_create(task=critical_task)
    seen = started()

    def both_done() -> bool:
        return Execution.objects.filter(pk__in=[low.pk, critical.pk], status__in=list(EXECUTION_FINAL)).count() == 2

    wait_for(both_done, timeout=90)
    assert set(Execution.objects.filter(pk__in=[low.pk, critical.pk]).values_list("status", flat=True)) == {"completed"}
    order = [line.split(":")[1] for line in marks.read_text().splitlines()]
    # When the critical run was created, ``seen`` nodes had started, the last
    # of them in hand: the critical node is next (or one later, had the
    # worker just looked at the broker before its message arrived), not
    # after the low run's remaining nodes.
    assert order.index("urgent") <= seen + 1 < len(order) - 1, (seen, order)
    assert len(order) == 8 and sorted(order) == sorted(["root", *nodes, "urgent"]), order
