"""Periodic checks: stuck runs (host samples are the resource manager's).

A run is stuck when it is still running past its timeout plus
``WEBAUTO_STUCK_GRACE_SECONDS`` (the engine should have timed it out), when a
node is running past its node timeout plus the grace, or when an execution
has been queued longer than ``WEBAUTO_STUCK_QUEUED_SECONDS`` while no worker
is alive (known only when workers report heartbeats to the resource manager).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from monitoring.alerting import alert_resolve, alert_trigger, notify_on_failure
from monitoring.models import Alert, AlertRule, AlertStatus
from monitoring.selectors import workers_alive


def _node_timeout_seconds(definition: dict[str, Any], node_id: str) -> float | None:
    for node in definition.get("workflows") or []:
        if isinstance(node, dict) and node.get("id") == node_id:
            timeout = (node.get("execution") or {}).get("timeout")
            if isinstance(timeout, int | float) and timeout > 0:
                return timeout / 1000
    return None


def stuck_runs_find(*, now: datetime | None = None) -> dict[int, list[str]]:
    """Stuck executions by task pk: a reason per stuck execution."""
    from orchestration.models import Execution, NodeRun

    now = now or timezone.now()
    grace = timedelta(seconds=settings.WEBAUTO_STUCK_GRACE_SECONDS)
    found: dict[int, dict[int, str]] = defaultdict(dict)
    for execution in Execution.objects.filter(status="running", deadline_at__lt=now - grace):
        late = (now - execution.deadline_at).total_seconds() if execution.deadline_at else 0.0
        found[execution.task_id][execution.pk] = (
            f"execution #{execution.pk} is still running {late:.0f}s past its timeout"
        )
    for node in NodeRun.objects.filter(status="running", started_at__isnull=False).select_related("execution"):
        timeout = _node_timeout_seconds(node.execution.definition or {}, node.node_id)
        started = node.started_at
        if timeout is not None and started is not None and started + timedelta(seconds=timeout) + grace < now:
            found[node.execution.task_id].setdefault(
                node.execution_id,
                f"node {node.node_id!r} of execution #{node.execution_id} is running past its {timeout:g}s timeout",
            )
    alive = workers_alive(now=now)
    if alive == 0:
        queued_before = now - timedelta(seconds=settings.WEBAUTO_STUCK_QUEUED_SECONDS)
        waiting = Execution.objects.filter(status="queued").filter(
            Q(queued_at__lt=queued_before) | Q(queued_at__isnull=True, created_at__lt=queued_before)
        )
        for execution in waiting:
            found[execution.task_id].setdefault(
                execution.pk, f"execution #{execution.pk} is queued and no worker is alive"
            )
    return {task: [reasons[k] for k in sorted(reasons)] for task, reasons in found.items()}


def stuck_runs_check(*, now: datetime | None = None) -> list[Alert]:
    """Raise (or refresh) a stuck alert per task with stuck runs; resolve the
    stuck alerts of tasks that have none left."""
    from orchestration.models import Task

    stuck = stuck_runs_find(now=now)
    alerts: list[Alert] = []
    for task in Task.objects.filter(pk__in=stuck):
        reasons = stuck[task.pk]
        existing = Alert.objects.filter(task=task, rule=AlertRule.STUCK).exclude(status=AlertStatus.RESOLVED).first()
        if existing is not None and existing.details.get("reasons") == reasons:
            alerts.append(existing)  # nothing new since the last check
            continue
        alert, _ = alert_trigger(
            rule=AlertRule.STUCK, task=task, notify=notify_on_failure(task),
            title=f"{task.name or task.task_id} has {len(reasons)} stuck run{'s' if len(reasons) != 1 else ''}",
            message="; ".join(reasons),
            details={"reasons": reasons},
        )
        alerts.append(alert)
    for alert in Alert.objects.filter(rule=AlertRule.STUCK).exclude(status=AlertStatus.RESOLVED).exclude(
        task_id__in=list(stuck)
    ):
        alert_resolve(alert_id=alert.pk, resolution="No run of the task is stuck any more")
    return alerts
