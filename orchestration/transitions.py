"""The engine's transition rules, pure: no ORM, no Celery, no clock.

What a node's outcome does (retry it, put it back to pending, or settle it in
a final status), the retry backoff, and an execution's final status, over
explicit state enums whose values are the ones stored in the database
(``orchestration.models.NodeStatus`` / ``ExecutionStatus``). The engine
(``orchestration.engine``) only loads state, asks these functions, and
stores what they decided.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class NodeState(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


class ExecutionState(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


class StopMode(StrEnum):
    """Why a node or execution is being stopped early ("" when it is not)."""

    NONE = ""
    CANCEL = "cancel"
    FAIL = "fail"  # another node failed under stop-on-error
    TIMEOUT = "timeout"
    PREEMPT = "preempt"  # nodes only: back to pending, to run again later


class Action(StrEnum):
    RETRY = "retry"  # queue the node's next attempt after ``delay_seconds``
    REQUEUE = "requeue"  # preempted: back to pending, no attempt used up
    SETTLE = "settle"  # final: ``status``
    REDISPATCH = "redispatch"  # its worker died: dispatch it again, no retry used up


@dataclass(frozen=True)
class Decision:
    action: Action
    status: NodeState
    delay_seconds: float = 0.0


MAX_BACKOFF_SECONDS = 3600.0
DEFAULT_RETRY_DELAY_MS = 1000


def backoff_seconds(*, retry_delay_ms: int | None, retries: int, jitter: float = 1.0) -> float:
    """Exponential backoff: ``retryDelay`` (ms, default 1 s) doubled per retry
    already used, capped at an hour, times ``jitter`` (the engine draws it
    uniformly in 0.8..1.2)."""
    base = (retry_delay_ms or DEFAULT_RETRY_DELAY_MS) / 1000
    return min(base * (2**retries), MAX_BACKOFF_SECONDS) * jitter


def settle_node(
    *,
    outcome: NodeState,
    retryable: bool,
    stop: StopMode,
    execution_stopping: bool,
    retries: int,
    max_retries: int,
    retry_delay_ms: int | None,
    jitter: float = 1.0,
) -> Decision:
    """What a running node's outcome (completed, failed, timed_out, cancelled)
    does, given the stop requested of it and of its execution and its retries.

    - a preempted node goes back to pending, whatever it reported;
    - a retryable failure with retries left, while nothing asked it or its
      execution to stop, is retried after the backoff;
    - otherwise it settles: a node stopped by a cancel (or another node's
      failure) that did not complete is cancelled, one stopped by a timeout
      is timed out; a completed node stays completed even if a stop came late.
    """
    if stop == StopMode.PREEMPT:
        return Decision(Action.REQUEUE, NodeState.PENDING)
    if (
        outcome == NodeState.FAILED
        and retryable
        and stop == StopMode.NONE
        and not execution_stopping
        and retries < max_retries
    ):
        delay = backoff_seconds(retry_delay_ms=retry_delay_ms, retries=retries, jitter=jitter)
        return Decision(Action.RETRY, NodeState.QUEUED, delay)
    if outcome != NodeState.COMPLETED and stop in (StopMode.CANCEL, StopMode.FAIL):
        return Decision(Action.SETTLE, NodeState.CANCELLED)
    if outcome != NodeState.COMPLETED and stop == StopMode.TIMEOUT:
        return Decision(Action.SETTLE, NodeState.TIMED_OUT)
    return Decision(Action.SETTLE, NodeState(outcome))


def final_status(*, stop_mode: StopMode, node_statuses: Iterable[NodeState]) -> ExecutionState:
    """An execution's final status once no node is active: its stop mode
    decides when it was stopped; otherwise completed when no node failed or
    timed out, failed when none completed, else completed with errors."""
    if stop_mode == StopMode.CANCEL:
        return ExecutionState.CANCELLED
    if stop_mode == StopMode.TIMEOUT:
        return ExecutionState.TIMED_OUT
    if stop_mode == StopMode.FAIL:
        return ExecutionState.FAILED
    statuses = list(node_statuses)
    if not any(s in (NodeState.FAILED, NodeState.TIMED_OUT) for s in statuses):
        return ExecutionState.COMPLETED
    if NodeState.COMPLETED not in statuses:
        return ExecutionState.FAILED
    return ExecutionState.COMPLETED_WITH_ERRORS


def recover_lost_node(*, stop: StopMode) -> Decision:
    """A running node whose worker died (its lease expired): dispatched again
    (a lost worker does not use up a retry), unless it had been asked to stop,
    in which case the stop is carried out: preempted back to pending,
    timed out, or cancelled."""
    if stop == StopMode.PREEMPT:
        return Decision(Action.REQUEUE, NodeState.PENDING)
    if stop == StopMode.TIMEOUT:
        return Decision(Action.SETTLE, NodeState.TIMED_OUT)
    if stop in (StopMode.CANCEL, StopMode.FAIL):
        return Decision(Action.SETTLE, NodeState.CANCELLED)
    return Decision(Action.REDISPATCH, NodeState.QUEUED)
