"""Measured usage: system samples taken by the periodic job, and what each
execution actually used compared with what it asked for."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

import psutil
from django.conf import settings
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from orchestration.models import Execution, NodeRun
from resources.models import ResourceRequest, SystemSample


def executions_active_between(*, since: datetime, until: datetime) -> tuple[int, int]:
    """``(running, queued)``: executions that were running, and that were
    queued, at some moment in ``(since, until]`` (a run shorter than the gap
    between two samples still counts; the instant's count would miss it)."""
    running = (
        Execution.objects.filter(started_at__isnull=False, started_at__lte=until)
        .filter(Q(finished_at__isnull=True) | Q(finished_at__gt=since))
        .count()
    )
    # Queued from queued_at until it started (or, never started, until it ended).
    queued = (
        Execution.objects.filter(queued_at__isnull=False, queued_at__lte=until)
        .filter(
            Q(started_at__gt=since)
            | Q(started_at__isnull=True, finished_at__isnull=True)
            | Q(started_at__isnull=True, finished_at__gt=since)
        )
        .count()
    )
    return running, queued


def system_sample_record(*, cpu_interval: float = 0.5) -> SystemSample:
    """Read this host with psutil and store it in the usage history, with
    the executions running/queued since the previous sample of this host."""
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage(str(settings.VAR_DIR))
    load = os.getloadavg()
    host = socket.gethostname()
    now = timezone.now()
    previous = (
        SystemSample.objects.filter(host=host, taken_at__lt=now).order_by("-taken_at").values_list("taken_at", flat=True)
        .first()
    )
    # No earlier sample (or a long gap): look back one sampling period.
    period = timedelta(seconds=settings.WEBAUTO_RESOURCES_SAMPLE_SECONDS)
    since = previous if previous is not None and now - previous <= period * 3 else now - period
    running, queued = executions_active_between(since=since, until=now)
    return SystemSample.objects.create(
        host=host,
        taken_at=now,
        cpu_percent=psutil.cpu_percent(interval=cpu_interval),
        cores=psutil.cpu_count() or 1,
        memory_used_bytes=memory.total - memory.available,
        memory_total_bytes=memory.total,
        disk_used_bytes=disk.used,
        disk_total_bytes=disk.total,
        load_1m=load[0],
        load_5m=load[1],
        load_15m=load[2],
        running_executions=running,
        queued_executions=queued,
    )


def system_samples_prune() -> int:
    cutoff = timezone.now() - timedelta(days=settings.WEBAUTO_RESOURCES_SAMPLE_RETENTION_DAYS)
    deleted, _ = SystemSample.objects.filter(taken_at__lt=cutoff).delete()
    return deleted


@dataclass(frozen=True)
class ExecutionUsage:
    """Totals over an execution's node runs next to what it requested."""

    execution_id: int
    cpu_seconds: float
    peak_rss_bytes: int | None
    measured_nodes: int
    wall_seconds: float | None
    requested_cpu_millicores: int | None
    requested_memory_bytes: int | None

    @property
    def average_cores(self) -> float | None:
        """CPU seconds spread over the wall time: the cores it kept busy on average."""
        if not self.wall_seconds:
            return None
        return self.cpu_seconds / self.wall_seconds

    @property
    def memory_ratio(self) -> float | None:
        """Peak RSS as a fraction of the memory requested."""
        if not self.peak_rss_bytes or not self.requested_memory_bytes:
            return None
        return self.peak_rss_bytes / self.requested_memory_bytes

    def as_json(self) -> dict[str, object]:
        return {
            "executionId": self.execution_id,
            "cpuSeconds": round(self.cpu_seconds, 3),
            "peakRssBytes": self.peak_rss_bytes,
            "measuredNodes": self.measured_nodes,
            "wallSeconds": self.wall_seconds,
            "averageCores": round(self.average_cores, 3) if self.average_cores is not None else None,
            "requested": {
                "cpu": self.requested_cpu_millicores / 1000 if self.requested_cpu_millicores else None,
                "memoryBytes": self.requested_memory_bytes,
            },
            "memoryUsedOfRequested": round(self.memory_ratio, 3) if self.memory_ratio is not None else None,
        }


def execution_usage(*, execution: Execution) -> ExecutionUsage:
    totals = NodeRun.objects.filter(execution=execution).aggregate(
        cpu=Sum("cpu_seconds"), peak=Max("peak_rss_bytes"), measured=Count("cpu_seconds")
    )
    request = ResourceRequest.objects.filter(execution=execution).first()
    return ExecutionUsage(
        execution_id=execution.pk,
        cpu_seconds=float(totals["cpu"] or 0.0),
        peak_rss_bytes=totals["peak"],
        measured_nodes=totals["measured"],
        wall_seconds=execution.duration_seconds,
        requested_cpu_millicores=request.cpu_millicores if request else None,
        requested_memory_bytes=request.memory_bytes if request else None,
    )
