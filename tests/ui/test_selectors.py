from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from orchestration.models import Execution, NodeRun
from orchestration.ui import selectors

pytestmark = pytest.mark.django_db


def test_a_running_node_reaches_up_to_now_and_a_pending_one_has_no_bar(running_execution):
    now = timezone.now()
    nodes = list(NodeRun.objects.filter(execution=running_execution).order_by("id"))
    timeline = selectors.execution_timeline(running_execution, nodes, now=now)
    fetch, wait, report = timeline.rows
    assert timeline.end == now
    assert fetch.left == 0 and fetch.left + fetch.width == pytest.approx(100)
    assert (wait.width, report.width) == (0, 0)


def test_the_queued_wait_is_a_separate_bar_before_the_run(chain_task):
    start = timezone.now() - timedelta(seconds=10)
    execution = Execution.objects.create(
        task=chain_task, status="completed", started_at=start, finished_at=start + timedelta(seconds=10)
    )
    node = NodeRun.objects.create(
        execution=execution, node_id="fetch", workflow="echo", status="completed",
        queued_at=start, started_at=start + timedelta(seconds=5), finished_at=start + timedelta(seconds=10),
    )
    row = selectors.execution_timeline(execution, [node]).rows[0]
    assert (row.wait_left, row.wait_width) == (0, 50)
    assert (row.left, row.width) == (50, 50)


def test_an_execution_that_never_started_has_an_empty_timeline(chain_task):
    execution = Execution.objects.create(task=chain_task, status="queued")
    node = NodeRun.objects.create(execution=execution, node_id="fetch", workflow="echo")
    timeline = selectors.execution_timeline(execution, [node])
    assert timeline.start is None and timeline.span_seconds == 0


def test_execution_rows_count_finished_nodes_per_execution(finished_execution, running_execution):
    rows = selectors.execution_rows([finished_execution, running_execution])
    assert [(r.execution, r.nodes_done, r.nodes_total) for r in rows] == [
        (finished_execution, 3, 3), (running_execution, 0, 3)
    ]


def test_task_rows_carry_the_last_run_and_its_label(chain_task, finished_execution):
    (row,) = selectors.task_rows(selectors.task_list())
    assert (row.task, row.last_execution_id, row.last_status) == (chain_task, finished_execution.pk, "completed")
    assert row.last_status_label == "Completed" and row.next_run is None


def test_masking_replaces_secret_values_and_keeps_references():
    value = {"auth": "Bearer ${token}", "leak": "x-abc123-y", "list": ["abc123"]}
    assert selectors.masked(value, ["abc123"]) == {
        "auth": "Bearer ${token}", "leak": "x-********-y", "list": ["********"]
    }


def test_earlier_attempts_of_a_retried_node_get_their_own_bars(chain_task):
    start = timezone.now() - timedelta(seconds=10)
    execution = Execution.objects.create(
        task=chain_task, status="failed", started_at=start, finished_at=start + timedelta(seconds=10)
    )
    first = {"attempt": 1, "status": "failed", "startedAt": start.isoformat(),
             "finishedAt": (start + timedelta(seconds=2)).isoformat()}
    last = {"attempt": 2, "status": "failed", "startedAt": (start + timedelta(seconds=8)).isoformat(),
            "finishedAt": (start + timedelta(seconds=10)).isoformat()}
    node = NodeRun.objects.create(
        execution=execution, node_id="fetch", workflow="echo", status="failed", attempts=2,
        started_at=start + timedelta(seconds=8), finished_at=start + timedelta(seconds=10),
        attempt_log=[first, last],
    )
    row = selectors.execution_timeline(execution, [node]).rows[0]
    assert [(s.left, s.width, s.status) for s in row.earlier] == [(0, 20, "failed")]
    assert (row.left, row.width) == (80, 20)
