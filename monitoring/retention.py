"""Pruning old history so the database does not grow without bound.

Executions older than ``WEBAUTO_RETENTION_DAYS`` (whole UTC days) are first
added to ``DailyRollup`` rows and then deleted with their node runs, in the
same transaction, so per-day totals outlive the rows (the Prometheus counters
are kept apart, in ``monitoring.counters``, and pruning never touches them).
Events, deliveries, resolved alerts and host samples past their retention are
deleted; node inputs, outputs and logs are cleared after
``WEBAUTO_NODE_OUTPUT_RETENTION_DAYS`` while the node runs themselves stay.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from monitoring.counters import DURATION_BUCKETS
from monitoring.models import Alert, AlertStatus, DailyRollup, Delivery

BATCH = 500
FINAL = ("completed", "completed_with_errors", "failed", "cancelled", "timed_out")


def histogram_buckets(durations: list[float]) -> dict[str, int]:
    """Cumulative counts per upper bound, Prometheus style, with "+Inf"."""
    out = {str(b): sum(1 for d in durations if d <= b) for b in DURATION_BUCKETS}
    out["+Inf"] = len(durations)
    return out


def _day_start(at: datetime) -> datetime:
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def _rollup(executions: list[Any]) -> None:
    from orchestration.models import NodeRun

    groups: dict[tuple[Any, str], list[Any]] = defaultdict(list)
    for e in executions:
        groups[(e.created_at.date(), e.task.task_id)].append(e)
    failures: dict[int, int] = defaultdict(int)
    cpu: dict[int, float] = defaultdict(float)
    for execution_id, status, cpu_seconds in NodeRun.objects.filter(
        execution_id__in=[e.pk for e in executions]
    ).values_list("execution_id", "status", "cpu_seconds"):
        if status in ("failed", "timed_out"):
            failures[execution_id] += 1
        cpu[execution_id] += cpu_seconds or 0.0
    for (day, task_key), rows in groups.items():
        # Row lock: two pruning jobs adding to one day must not lose an addition.
        rollup, _ = DailyRollup.objects.select_for_update().get_or_create(day=day, task_key=task_key)
        counts = dict(rollup.counts)
        for e in rows:
            counts[e.status] = counts.get(e.status, 0) + 1
        durations = [e.duration_seconds for e in rows if e.duration_seconds is not None]
        buckets = histogram_buckets(durations)
        rollup.counts = counts
        rollup.duration_count += len(durations)
        rollup.duration_sum += sum(durations)
        rollup.duration_buckets = {k: rollup.duration_buckets.get(k, 0) + v for k, v in buckets.items()}
        rollup.queue_wait_sum += sum(
            (e.started_at - e.queued_at).total_seconds() for e in rows if e.started_at and e.queued_at
        )
        rollup.node_failures += sum(failures[e.pk] for e in rows)
        rollup.cpu_seconds += sum(cpu[e.pk] for e in rows)
        rollup.save()


def history_prune(*, now: datetime | None = None) -> dict[str, int]:
    """Prune everything past its retention; returns how many rows of each kind."""
    from orchestration.models import Event, Execution, NodeRun

    now = now or timezone.now()
    pruned = {"executions": 0, "events": 0, "nodeOutputs": 0, "deliveries": 0, "alerts": 0}
    cutoff = _day_start(now - timedelta(days=settings.WEBAUTO_RETENTION_DAYS))
    while True:
        with transaction.atomic():
            batch = list(
                Execution.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(created_at__lt=cutoff, status__in=FINAL)
                .select_related("task")
                .order_by("id")[:BATCH]
            )
            if not batch:
                break
            _rollup(batch)
            Execution.objects.filter(pk__in=[e.pk for e in batch]).delete()
            pruned["executions"] += len(batch)

    event_cutoff = now - timedelta(days=settings.WEBAUTO_EVENT_RETENTION_DAYS)
    while ids := list(Event.objects.filter(created_at__lt=event_cutoff).values_list("pk", flat=True)[:BATCH * 4]):
        pruned["events"] += Event.objects.filter(pk__in=ids).delete()[0]
    pruned["deliveries"] = Delivery.objects.filter(created_at__lt=event_cutoff).delete()[0]
    pruned["alerts"] = Alert.objects.filter(
        status=AlertStatus.RESOLVED,
        resolved_at__lt=now - timedelta(days=settings.WEBAUTO_ALERT_RETENTION_DAYS),
    ).delete()[0]

    output_cutoff = now - timedelta(days=settings.WEBAUTO_NODE_OUTPUT_RETENTION_DAYS)
    pruned["nodeOutputs"] = NodeRun.objects.filter(
        execution__status__in=FINAL, execution__finished_at__lt=output_cutoff
    ).exclude(input__isnull=True, output__isnull=True, logs=[]).update(input=None, output=None, logs=[])
    return pruned
