"""Timers and recovery for the engine: delayed starts, parked retries,
execution deadlines, and nodes whose worker died. Run periodically by beat
(``orchestration.maintenance``) and by every worker when it starts."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from orchestration import events
from orchestration.engine import (
    _advance_cancelled,
    _advance_locked,
    _dispatch,
    _node_priority,
    _nodes,
    _send_on_commit,
    _stop_locked,
    execution_start_if_due,
)
from orchestration.models import Execution, ExecutionStatus, NodeRun, NodeStatus


def maintenance() -> dict[str, int]:
    """Start delayed executions that are due, send parked retries, time out
    executions past their deadline and recover nodes whose worker died.
    Safe to run concurrently: every step is a conditional update."""
    now = timezone.now()
    counts = {"started": 0, "retried": 0, "timed_out": 0, "recovered": 0}

    for execution_id in Execution.objects.filter(
        status=ExecutionStatus.PENDING, not_before__lte=now
    ).values_list("pk", flat=True)[:500]:
        counts["started"] += int(execution_start_if_due(execution_id=execution_id))

    for run in NodeRun.objects.filter(status=NodeStatus.QUEUED, next_attempt_at__lte=now).select_related(
        "execution"
    )[:500]:
        with transaction.atomic():
            # Conditional: claim the parked retry so it is sent once.
            if NodeRun.objects.filter(pk=run.pk, next_attempt_at=run.next_attempt_at).update(
                next_attempt_at=None
            ):
                node = _nodes(run.execution).get(run.node_id, {})
                _send_on_commit(run.pk, run.dispatch_id, _node_priority(run.execution, node))
                counts["retried"] += 1

    for execution_id in Execution.objects.filter(
        status=ExecutionStatus.RUNNING, deadline_at__lte=now, stop_mode=""
    ).values_list("pk", flat=True)[:500]:
        with transaction.atomic():
            execution = Execution.objects.select_for_update(no_key=True).select_related("task").get(pk=execution_id)
            if execution.status == ExecutionStatus.RUNNING and not execution.stop_mode:
                _stop_locked(execution, "timeout", "execution ran past its timeout")
                _advance_cancelled(execution)
                counts["timed_out"] += 1

    stale = now - timedelta(seconds=settings.WEBAUTO_NODE_STALE_SECONDS)
    for run_id in NodeRun.objects.filter(status=NodeStatus.RUNNING).filter(
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True)
    ).values_list("pk", flat=True)[:500]:
        counts["recovered"] += int(node_recover(node_run_id=run_id, stale_before=stale))
    return counts


def node_recover(*, node_run_id: int, stale_before: datetime) -> bool:
    """A running node whose heartbeat stopped: its worker died. Dispatch it
    again (a lost worker does not use up a retry), or settle it if it had
    been asked to stop."""
    with transaction.atomic():
        execution_id = NodeRun.objects.filter(pk=node_run_id).values_list("execution_id", flat=True).first()
        if execution_id is None:  # pruned meanwhile
            return False
        execution = Execution.objects.select_for_update(no_key=True).select_related("task").get(pk=execution_id)
        run = NodeRun.objects.select_for_update().get(pk=node_run_id)
        if run.status != NodeStatus.RUNNING or (run.heartbeat_at and run.heartbeat_at >= stale_before):
            return False
        lost = f"worker {run.worker or '?'} stopped responding"
        run.attempt_history = [
            *run.attempt_history,
            {"attempt": run.attempts, "startedAt": run.started_at.isoformat() if run.started_at else None,
             "finishedAt": timezone.now().isoformat(), "status": "lost", "error": lost, "worker": run.worker},
        ]
        stop = run.stop_requested
        run.stop_requested = ""
        if stop == "preempt":
            run.status, run.dispatch_id = NodeStatus.PENDING, None
            run.save()
        elif stop:
            run.status = NodeStatus.TIMED_OUT if stop == "timeout" else NodeStatus.CANCELLED
            run.finished_at = timezone.now()
            run.reason = lost
            run.save()
        else:
            run.save()
            events.emit(
                "workflow.recovered", execution=execution, node_id=run.node_id,
                data={"executionId": execution.pk, "nodeId": run.node_id, "reason": lost},
            )
            _dispatch(execution, run, _nodes(execution)[run.node_id])
            return True
        _advance_locked(execution)
        return True
