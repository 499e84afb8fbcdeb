"""Reads for the API and the page: capacity summary, workers, the queue in
admission order, allocations and preemptions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Case, F, FloatField, QuerySet, Value, When
from django.db.models.functions import Cast
from django.utils import timezone

from orchestration.models import PRIORITY_RANK, ExecutionStatus
from resources.capacity import Amount, Ledger
from resources.models import (
    Allocation,
    Preemption,
    ResourcePool,
    ResourceRequest,
    SystemSample,
    Worker,
)
from resources.ordering import effective_rank
from resources.services import build_ledger, live_workers, ordered_waiting

RANK_NAMES = {rank: name for name, rank in PRIORITY_RANK.items()}


def _ledger(now: datetime) -> Ledger:
    pool = ResourcePool.objects.filter(name="default").first() or ResourcePool(name="default")
    return build_ledger(pool, now)


def capacity_summary(*, now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    ledger = _ledger(now)
    total, used = ledger.total_capacity, ledger.total_used
    return {
        "liveWorkers": len(ledger.capacity),
        "capacity": total.as_json(),
        "allocated": used.as_json(),
        "free": (total - used).as_json(),
        "openAllocations": Allocation.objects.filter(released_at__isnull=True).count(),
        "queued": queue_length(),
        "preemptionEnabled": settings.WEBAUTO_RESOURCES_PREEMPTION,
        "cpuOvercommit": settings.WEBAUTO_RESOURCES_CPU_OVERCOMMIT,
        "memoryOvercommit": settings.WEBAUTO_RESOURCES_MEMORY_OVERCOMMIT,
    }


@dataclass(frozen=True)
class WorkerView:
    worker: Worker
    live: bool
    capacity: Amount | None
    allocated: Amount | None

    @property
    def cpu_used_percent(self) -> float:
        if not self.capacity or not self.capacity.cpu_millicores or not self.allocated:
            return 0.0
        return min(100.0, 100.0 * self.allocated.cpu_millicores / self.capacity.cpu_millicores)

    @property
    def memory_used_percent(self) -> float:
        if not self.capacity or not self.capacity.memory_bytes or not self.allocated:
            return 0.0
        return min(100.0, 100.0 * self.allocated.memory_bytes / self.capacity.memory_bytes)


def worker_views(*, now: datetime | None = None) -> list[WorkerView]:
    now = now or timezone.now()
    ledger = _ledger(now)
    live = set(live_workers(now).values_list("pk", flat=True))
    return [
        WorkerView(
            worker=w,
            live=w.pk in live,
            capacity=ledger.capacity.get(w.pk),
            allocated=ledger.used.get(w.pk),
        )
        for w in Worker.objects.all()
    ]


@dataclass(frozen=True)
class QueueEntry:
    position: int
    request: ResourceRequest
    waited_seconds: float
    effective_priority: int

    @property
    def effective_priority_name(self) -> str:
        return RANK_NAMES[self.effective_priority]


def queue_length() -> int:
    return ResourceRequest.objects.filter(waiting_since__isnull=False, execution__status=ExecutionStatus.QUEUED).count()


def queue_entries(*, now: datetime | None = None, limit: int = 200) -> list[QueueEntry]:
    """Waiting executions in the order they will be admitted."""
    now = now or timezone.now()
    ordered = ordered_waiting(now)[:limit]
    requests = ResourceRequest.objects.select_related("execution__task").in_bulk([r.pk for r in ordered])
    out = []
    for position, row in enumerate(ordered, start=1):
        request = requests[row.pk]
        waited = (now - request.first_requested_at).total_seconds()
        out.append(
            QueueEntry(
                position=position,
                request=request,
                waited_seconds=waited,
                effective_priority=effective_rank(
                    request.priority, waited, settings.WEBAUTO_RESOURCES_AGEING_SECONDS
                ),
            )
        )
    return out


def allocations(*, open_only: bool = True) -> QuerySet[Allocation]:
    qs = Allocation.objects.select_related("execution__task", "worker")
    return qs.filter(released_at__isnull=True) if open_only else qs


def preemptions() -> QuerySet[Preemption]:
    return Preemption.objects.select_related("victim__task", "beneficiary__task")


def system_samples_between(*, since: datetime, until: datetime) -> QuerySet[Any]:
    """Host samples taken in ``[since, until)`` (every host), annotated with
    ``memory_pct``: memory used as a percentage of the host's memory (0 when
    the total is unknown), computed by the database."""
    memory = Case(
        When(memory_total_bytes__gt=0, then=Value(100.0) * Cast(F("memory_used_bytes"), FloatField())
             / Cast(F("memory_total_bytes"), FloatField())),
        default=Value(0.0), output_field=FloatField(),
    )
    return SystemSample.objects.filter(taken_at__gte=since, taken_at__lt=until).annotate(memory_pct=memory)


def workers_alive_count(*, now: datetime | None = None) -> int:
    """Workers whose last heartbeat is within ``WEBAUTO_WORKER_LOST_SECONDS``."""
    return live_workers(now).count()
