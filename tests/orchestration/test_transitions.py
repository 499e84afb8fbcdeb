"""The engine's transition rules, table-driven: no database, no Celery."""

from __future__ import annotations

import pytest

from orchestration.transitions import (
    Action,
    Decision,
    ExecutionState,
    NodeState,
    StopMode,
    backoff_seconds,
    final_status,
    recover_lost_node,
    settle_node,
)

N, S = NodeState, StopMode

# outcome, retryable, node stop, execution stopping, retries used, retry attempts -> decision
SETTLE_CASES = [
    (N.COMPLETED, True, S.NONE, False, 0, 2, Decision(Action.SETTLE, N.COMPLETED)),
    (N.FAILED, True, S.NONE, False, 0, 2, Decision(Action.RETRY, N.QUEUED, 1.0)),
    (N.FAILED, True, S.NONE, False, 1, 2, Decision(Action.RETRY, N.QUEUED, 2.0)),
    (N.FAILED, True, S.NONE, False, 2, 2, Decision(Action.SETTLE, N.FAILED)),  # retries used up
    (N.FAILED, False, S.NONE, False, 0, 2, Decision(Action.SETTLE, N.FAILED)),  # not retryable
    (N.FAILED, True, S.NONE, True, 0, 2, Decision(Action.SETTLE, N.FAILED)),  # execution stopping
    (N.FAILED, True, S.CANCEL, False, 0, 2, Decision(Action.SETTLE, N.CANCELLED)),
    (N.FAILED, True, S.FAIL, False, 0, 2, Decision(Action.SETTLE, N.CANCELLED)),
    (N.CANCELLED, False, S.CANCEL, True, 0, 0, Decision(Action.SETTLE, N.CANCELLED)),
    (N.FAILED, True, S.TIMEOUT, False, 0, 2, Decision(Action.SETTLE, N.TIMED_OUT)),
    (N.TIMED_OUT, False, S.NONE, False, 0, 2, Decision(Action.SETTLE, N.TIMED_OUT)),
    (N.COMPLETED, True, S.CANCEL, True, 0, 0, Decision(Action.SETTLE, N.COMPLETED)),  # a late stop
    (N.COMPLETED, True, S.TIMEOUT, False, 0, 0, Decision(Action.SETTLE, N.COMPLETED)),
    (N.FAILED, True, S.PREEMPT, False, 0, 2, Decision(Action.REQUEUE, N.PENDING)),
    (N.COMPLETED, True, S.PREEMPT, False, 0, 0, Decision(Action.REQUEUE, N.PENDING)),
]


@pytest.mark.parametrize(("outcome", "retryable", "stop", "stopping", "used", "attempts", "expected"), SETTLE_CASES)
def test_a_nodes_outcome_is_retried_requeued_or_settled(outcome, retryable, stop, stopping, used, attempts, expected):
    decision = settle_node(
        outcome=outcome, retryable=retryable, stop=stop, execution_stopping=stopping,
        retries=used, max_retries=attempts, retry_delay_ms=None,
    )
    assert decision == expected


@pytest.mark.parametrize(
    ("delay_ms", "used", "jitter", "expected"),
    [(None, 0, 1.0, 1.0), (500, 0, 1.0, 0.5), (500, 3, 1.0, 4.0), (500, 3, 0.8, 3.2),
     (60_000, 10, 1.0, 3600.0), (60_000, 10, 1.2, 4320.0)],
)
def test_backoff_doubles_per_retry_and_is_capped_at_an_hour_before_jitter(delay_ms, used, jitter, expected):
    assert backoff_seconds(retry_delay_ms=delay_ms, retries=used, jitter=jitter) == pytest.approx(expected)


E = ExecutionState


@pytest.mark.parametrize(
    ("stop_mode", "nodes", "expected"),
    [
        (S.NONE, [N.COMPLETED, N.SKIPPED], E.COMPLETED),
        (S.NONE, [], E.COMPLETED),
        (S.NONE, [N.COMPLETED, N.FAILED, N.SKIPPED], E.COMPLETED_WITH_ERRORS),
        (S.NONE, [N.COMPLETED, N.TIMED_OUT], E.COMPLETED_WITH_ERRORS),
        (S.NONE, [N.FAILED, N.SKIPPED], E.FAILED),
        (S.CANCEL, [N.COMPLETED, N.CANCELLED], E.CANCELLED),
        (S.TIMEOUT, [N.COMPLETED, N.TIMED_OUT], E.TIMED_OUT),
        (S.FAIL, [N.COMPLETED, N.FAILED, N.CANCELLED], E.FAILED),
    ],
)
def test_the_final_status_follows_the_stop_mode_then_the_nodes(stop_mode, nodes, expected):
    assert final_status(stop_mode=stop_mode, node_statuses=nodes) == expected


def test_the_enums_hold_the_values_the_database_stores():
    from orchestration.models import ExecutionStatus, NodeStatus

    assert {s.value for s in NodeState} == set(NodeStatus.values)
    assert {s.value for s in ExecutionState} == set(ExecutionStatus.values)


@pytest.mark.parametrize(
    ("stop", "expected"),
    [(S.NONE, Decision(Action.REDISPATCH, N.QUEUED)), (S.PREEMPT, Decision(Action.REQUEUE, N.PENDING)),
     (S.TIMEOUT, Decision(Action.SETTLE, N.TIMED_OUT)), (S.CANCEL, Decision(Action.SETTLE, N.CANCELLED)),
     (S.FAIL, Decision(Action.SETTLE, N.CANCELLED))],
)
def test_a_node_whose_worker_died_is_sent_again_unless_it_was_being_stopped(stop, expected):
    assert recover_lost_node(stop=stop) == expected
