"""The continuing worker's look at the broker must be made for the node it
would continue with, not for the node that just finished: a run's nodes may
have priorities of their own (``execution.priority`` of a node)."""

from __future__ import annotations

import pytest

from orchestration import services
from orchestration.models import EXECUTION_FINAL, Execution
from tests.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _marker(node_id: str, marks, **extra: object) -> dict[str, object]:
    return {"id": node_id, "workflow": "test-marker", "config": {"file": str(marks)}, **extra}


@pytest.mark.parametrize("shape", ["chain", "fan"])
def test_a_low_priority_next_node_does_not_overtake_normal_work_waiting_in_the_broker(
    worker_factory, make_task, tmp_path, admit_all, shape
):
    """A high-priority run's root finishes on a worker process (concurrency
    1) while a normal run's node waits in the broker; the node it would
    continue with is a low-priority one (a chain's next node, or a fan-out's
    queued branch). The broker serves the normal node before the low one,
    so the worker must leave the low node to the broker: nothing waits
    before *high*, but the normal node waits before *low*."""
    marks = tmp_path / "marks.txt"
    root = _marker("root", marks) | {"config": {"file": str(marks), "seconds": 1.5}}
    if shape == "chain":
        nodes = [root, _marker("later", marks, dependsOn=["root"], execution={"priority": "low"})]
    else:
        nodes = [_marker("first", marks), root | {"dependsOn": ["first"]},
                 _marker("later", marks, dependsOn=["first"], execution={"priority": "low"})]
    high_task = make_task(f"high-{shape}", nodes, priority="high")
    normal_task = make_task(f"normal-{shape}", [_marker("urgent", marks)], priority="normal")
    worker_factory(env={"WEBAUTO_ADMISSION_BACKEND": "orchestration.admission.AdmitAll"}, concurrency=1)

    high = services.execution_create(task=high_task)

    def root_started() -> bool:
        return marks.exists() and any(line.split(":")[1] == "root" for line in marks.read_text().splitlines())

    wait_for(root_started, timeout=60, interval=0.02)
    normal = services.execution_create(task=normal_task)  # its node waits at priority 6 while root runs

    def both_done() -> bool:
        return Execution.objects.filter(pk__in=[high.pk, normal.pk], status__in=list(EXECUTION_FINAL)).count() == 2

    wait_for(both_done, timeout=90)
    order = [line.split(":")[1] for line in marks.read_text().splitlines()]
    assert order.index("urgent") < order.index("later"), order
