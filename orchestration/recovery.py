"""Timers and recovery for the engine: delayed starts, parked and overdue
retries, lost messages, execution deadlines, and nodes whose worker died.

Run periodically by every worker (a timer thread in the worker's main process,
see ``orchestration.tasks``) and by beat (``orchestration.maintenance``).
Uses only the engine's public functions; every step is a conditional update,
so concurrent sweeps are safe.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from orchestration import engine
from orchestration.models import Execution, ExecutionStatus, NodeRun, NodeStatus

log = logging.getLogger(__name__)

BATCH = 500
# Re-sent messages go first: the node has already waited past the bound, and
# behind a backlog a re-send at its own priority could be pushed back for ever.
RESEND_PRIORITY = 0


def broker_reachable() -> bool:
    """Whether the broker answers now (one quick connection attempt)."""
    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception as exc:  # kombu raises several types for an unreachable broker
        log.info("broker unreachable (%s): lost messages are re-sent when it is back", exc)
        return False


def maintenance() -> dict[str, int]:
    """Start delayed executions that are due, send due or overdue delayed
    retries and queued nodes whose message was lost, time out executions past
    their deadline and recover nodes whose worker died. Returns counts per step."""
    now = timezone.now()
    counts = {"started": 0, "retried": 0, "resent": 0, "timed_out": 0, "recovered": 0}

    for execution_id in Execution.objects.filter(
        status=ExecutionStatus.PENDING, not_before__lte=now
    ).values_list("pk", flat=True)[:BATCH]:
        counts["started"] += int(engine.execution_start_if_due(execution_id=execution_id))

    if broker_reachable():
        counts.update(dispatch_sweep(now=now))

    for execution_id in Execution.objects.filter(
        status=ExecutionStatus.RUNNING, deadline_at__lte=now, stop_mode=""
    ).values_list("pk", flat=True)[:BATCH]:
        counts["timed_out"] += int(engine.execution_time_out(execution_id=execution_id))

    stale = now - timedelta(seconds=settings.WEBAUTO_NODE_STALE_SECONDS)
    for run_id in NodeRun.objects.filter(status=NodeStatus.RUNNING).filter(
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True)
    ).values_list("pk", flat=True)[:BATCH]:
        counts["recovered"] += int(engine.node_recover(node_run_id=run_id, stale_before=stale))
    return counts


def dispatch_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """The database is the source of truth for dispatch: send again, under a
    fresh dispatch id, every queued node that should be running by now but
    that no worker claimed:

    - ``retried``: delayed retries that are due (parked ones) or overdue (sent
      as a countdown, but not claimed within ``WEBAUTO_DISPATCH_RESEND_SECONDS``
      of their time: the worker holding the countdown died);
    - ``resent``: queued nodes whose message was never sent (broker down:
      ``queued_at`` is empty) or not claimed within the bound (lost in a broker
      restart without persistence).

    Call only when the broker is reachable. Returns the two counts."""
    now = now or timezone.now()
    bound = now - timedelta(seconds=settings.WEBAUTO_DISPATCH_RESEND_SECONDS)
    counts = {"retried": 0, "resent": 0}
    live = NodeRun.objects.filter(
        status=NodeStatus.QUEUED, execution__status=ExecutionStatus.RUNNING, execution__stop_mode=""
    )
    for run_id, dispatch_id in live.filter(next_attempt_at__lte=now).values_list("pk", "dispatch_id")[:BATCH]:
        counts["retried"] += int(engine.node_redispatch(node_run_id=run_id, dispatch_id=dispatch_id))
    for run_id, dispatch_id, execution_id, node_id in live.filter(next_attempt_at__isnull=True).filter(
        Q(queued_at__lt=bound) | Q(queued_at__isnull=True)
    ).values_list("pk", "dispatch_id", "execution_id", "node_id")[:BATCH]:
        counts["resent"] += int(
            engine.node_redispatch(node_run_id=run_id, dispatch_id=dispatch_id, priority=RESEND_PRIORITY,
                                   execution_id=execution_id, node_id=node_id)
        )
    return counts
