"""Pruning old history so the database does not grow without bound.

Finished executions older than ``WEBAUTO_RETENTION_DAYS`` (whole UTC days)
are deleted with their node runs. Their per-day totals outlive them in the
``ExecutionRollup`` rows that each execution's finish already wrote
(``monitoring.rollups``, read by the 7d/30d summary), and the Prometheus
counters are kept apart (``monitoring.counters``); pruning touches neither.
It no longer writes the legacy ``DailyRollup`` rows, which nothing read once
``ExecutionRollup`` existed (the rows of release 1 stay, read only by the
migration that seeded the counters from them).
Events, deliveries, resolved alerts and host samples past their retention are
deleted; node inputs, outputs and logs are cleared after
``WEBAUTO_NODE_OUTPUT_RETENTION_DAYS`` while the node runs themselves stay.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from monitoring.models import Alert, AlertStatus, Delivery

BATCH = 500
FINAL = ("completed", "completed_with_errors", "failed", "cancelled", "timed_out")


def _day_start(at: datetime) -> datetime:
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


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
