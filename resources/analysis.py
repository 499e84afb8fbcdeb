"""Usage analysis over a time range: average and peak system load, peak
hours, queue waits, waste per task (requested against measured) and
suggestions an operator can act on, in plain language."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from statistics import mean
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Max, Sum

from orchestration.models import EXECUTION_FINAL, Execution, NodeRun
from resources.models import Allocation, Preemption, ResourceRequest, SystemSample
from resources.requirements import MB, format_bytes, format_cpu

# A task whose peak stays under this share of its requested memory is wasting it.
WASTE_RATIO = 0.5
# CPU kept busy under this share of the request is worth mentioning.
CPU_WASTE_RATIO = 0.25
HIGH_CPU_PERCENT = 90.0
LONG_WAIT_SECONDS = 60.0


@dataclass
class TaskWaste:
    task_id: str
    runs: int
    requested_cpu_millicores: int
    requested_memory_bytes: int
    peak_rss_bytes: int | None
    average_peak_rss_bytes: int | None
    average_cores: float | None

    @property
    def requested_cores(self) -> float:
        return self.requested_cpu_millicores / 1000

    @property
    def wasted_memory_bytes(self) -> int | None:
        if self.peak_rss_bytes is None:
            return None
        return max(0, self.requested_memory_bytes - self.peak_rss_bytes)

    def as_json(self) -> dict[str, Any]:
        return {
            "taskId": self.task_id,
            "runs": self.runs,
            "requested": {"cpu": self.requested_cpu_millicores / 1000, "memoryBytes": self.requested_memory_bytes},
            "used": {
                "peakRssBytes": self.peak_rss_bytes,
                "averagePeakRssBytes": self.average_peak_rss_bytes,
                "averageCores": round(self.average_cores, 3) if self.average_cores is not None else None,
            },
            "wastedMemoryBytes": self.wasted_memory_bytes,
        }


@dataclass
class Analysis:
    start: datetime
    end: datetime
    samples: int = 0
    cpu_average: float | None = None
    cpu_peak: float | None = None
    memory_average_bytes: int | None = None
    memory_peak_bytes: int | None = None
    memory_total_bytes: int | None = None
    peak_hours: list[dict[str, Any]] = field(default_factory=list)
    hourly: list[dict[str, Any]] = field(default_factory=list)
    queue_wait: dict[str, float | int | None] = field(default_factory=dict)
    preemptions: int = 0
    waste: list[TaskWaste] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "samples": self.samples,
            "cpu": {"averagePercent": _round(self.cpu_average), "peakPercent": _round(self.cpu_peak)},
            "memory": {
                "averageUsedBytes": self.memory_average_bytes,
                "peakUsedBytes": self.memory_peak_bytes,
                "totalBytes": self.memory_total_bytes,
            },
            "peakHours": self.peak_hours,
            "hourly": self.hourly,
            "queueWait": self.queue_wait,
            "preemptions": self.preemptions,
            "waste": [w.as_json() for w in self.waste],
            "suggestions": self.suggestions,
        }


def _round(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _suggested_memory(peak: int) -> int:
    """Half again the peak, rounded up to 64MB: room to breathe, not to waste."""
    step = 64 * MB
    return max(step, math.ceil(peak * 1.5 / step) * step)


def resource_analysis(*, start: datetime, end: datetime) -> Analysis:
    result = Analysis(start=start, end=end)
    _system(result)
    _queue(result)
    _waste(result)
    _suggest(result)
    return result


def _system(result: Analysis) -> None:
    samples = list(
        SystemSample.objects.filter(taken_at__gte=result.start, taken_at__lt=result.end).values(
            "taken_at", "cpu_percent", "memory_used_bytes", "memory_total_bytes"
        )
    )
    result.samples = len(samples)
    zone = ZoneInfo(settings.TIME_ZONE)
    starts_by_hour: dict[int, int] = defaultdict(int)
    for started in Execution.objects.filter(
        started_at__gte=result.start, started_at__lt=result.end
    ).values_list("started_at", flat=True):
        if started is not None:
            starts_by_hour[started.astimezone(zone).hour] += 1
    cpu_by_hour: dict[int, list[float]] = defaultdict(list)
    if samples:
        result.cpu_average = mean(s["cpu_percent"] for s in samples)
        result.cpu_peak = max(s["cpu_percent"] for s in samples)
        result.memory_average_bytes = int(mean(s["memory_used_bytes"] for s in samples))
        result.memory_peak_bytes = max(s["memory_used_bytes"] for s in samples)
        result.memory_total_bytes = max(s["memory_total_bytes"] for s in samples)
        for s in samples:
            cpu_by_hour[s["taken_at"].astimezone(zone).hour].append(s["cpu_percent"])
    result.hourly = [
        {
            "hour": hour,
            "cpuAveragePercent": _round(mean(cpu_by_hour[hour])) if cpu_by_hour[hour] else None,
            "executionsStarted": starts_by_hour.get(hour, 0),
        }
        for hour in range(24)
    ]
    busy = [h for h in result.hourly if h["cpuAveragePercent"] is not None or h["executionsStarted"]]
    busy.sort(key=lambda h: (h["cpuAveragePercent"] or 0.0, h["executionsStarted"]), reverse=True)
    result.peak_hours = busy[:3]


def _queue(result: Analysis) -> None:
    waits = [
        max(0.0, (allocated - requested).total_seconds())
        for requested, allocated in Allocation.objects.filter(
            allocated_at__gte=result.start, allocated_at__lt=result.end
        ).values_list("requested_at", "allocated_at")
    ]
    result.queue_wait = {
        "admissions": len(waits),
        "p50Seconds": _round(percentile(waits, 50)),
        "p90Seconds": _round(percentile(waits, 90)),
        "maxSeconds": _round(max(waits)) if waits else None,
    }
    result.preemptions = Preemption.objects.filter(created_at__gte=result.start, created_at__lt=result.end).count()


def _waste(result: Analysis) -> None:
    executions = {
        e["pk"]: e
        for e in Execution.objects.filter(
            finished_at__gte=result.start, finished_at__lt=result.end, status__in=list(EXECUTION_FINAL)
        ).values("pk", "task__task_id", "started_at", "finished_at")
    }
    if not executions:
        return
    requests = {
        r["execution_id"]: r
        for r in ResourceRequest.objects.filter(execution_id__in=list(executions)).values(
            "execution_id", "cpu_millicores", "memory_bytes"
        )
    }
    usage = {
        u["execution_id"]: u
        for u in NodeRun.objects.filter(execution_id__in=list(executions))
        .values("execution_id")
        .annotate(cpu=Sum("cpu_seconds"), peak=Max("peak_rss_bytes"))
    }
    by_task: dict[str, list[int]] = defaultdict(list)
    for pk, row in executions.items():
        if pk in requests:
            by_task[row["task__task_id"]].append(pk)
    for task_id, ids in sorted(by_task.items()):
        peaks = [usage[i]["peak"] for i in ids if i in usage and usage[i]["peak"]]
        cpu = sum(usage[i]["cpu"] or 0.0 for i in ids if i in usage)
        wall = 0.0
        for i in ids:
            started, finished = executions[i]["started_at"], executions[i]["finished_at"]
            if started is not None and finished is not None:
                wall += (finished - started).total_seconds()
        measured_cpu = any(i in usage and usage[i]["cpu"] is not None for i in ids)
        result.waste.append(
            TaskWaste(
                task_id=task_id,
                runs=len(ids),
                requested_cpu_millicores=max(requests[i]["cpu_millicores"] for i in ids),
                requested_memory_bytes=max(requests[i]["memory_bytes"] for i in ids),
                peak_rss_bytes=max(peaks) if peaks else None,
                average_peak_rss_bytes=int(mean(peaks)) if peaks else None,
                average_cores=(cpu / wall) if wall > 0 and measured_cpu else None,
            )
        )
    result.waste.sort(key=lambda w: w.wasted_memory_bytes or 0, reverse=True)


def _suggest(result: Analysis) -> None:
    out = result.suggestions
    for w in result.waste:
        if w.peak_rss_bytes is not None and w.peak_rss_bytes < WASTE_RATIO * w.requested_memory_bytes:
            out.append(
                f"Task {w.task_id} requests {format_bytes(w.requested_memory_bytes)} and never uses more than "
                f"{format_bytes(w.peak_rss_bytes)} (over {w.runs} run{'s' if w.runs != 1 else ''}); "
                f'"memory": "{format_bytes(_suggested_memory(w.peak_rss_bytes))}" would let more run at once.'
            )
        elif w.peak_rss_bytes is not None and w.peak_rss_bytes > w.requested_memory_bytes:
            out.append(
                f"Task {w.task_id} requests {format_bytes(w.requested_memory_bytes)} but used up to "
                f"{format_bytes(w.peak_rss_bytes)}; raise it to "
                f'"{format_bytes(_suggested_memory(w.peak_rss_bytes))}" so admission reserves enough.'
            )
        if w.average_cores is not None and w.average_cores < CPU_WASTE_RATIO * w.requested_cpu_millicores / 1000:
            suggested = max(0.25, math.ceil(w.average_cores * 2 * 4) / 4)
            if suggested * 1000 < w.requested_cpu_millicores:
                out.append(
                    f"Task {w.task_id} requests {format_cpu(w.requested_cpu_millicores)} but keeps "
                    f"{w.average_cores:.2f} CPU busy on average; \"cpu\": {suggested:g} would do."
                )
    if result.cpu_peak is not None and result.cpu_peak >= HIGH_CPU_PERCENT and result.peak_hours:
        out.append(
            f"CPU peaked at {result.cpu_peak:.0f}% (busiest around {result.peak_hours[0]['hour']:02d}:00); "
            "spread schedules away from that hour or add a worker."
        )
    p90 = result.queue_wait.get("p90Seconds")
    if isinstance(p90, int | float) and p90 >= LONG_WAIT_SECONDS:
        idle = result.cpu_average is not None and result.cpu_average < 30
        out.append(
            f"Executions waited {p90:.0f}s or more for capacity one time in ten"
            + (
                " while CPU averaged only "
                f"{result.cpu_average:.0f}%: requirements are higher than the work needs, or raise "
                "WEBAUTO_RESOURCES_CPU_OVERCOMMIT."
                if idle and result.cpu_average is not None
                else "; add a worker or lower the requirements of the tasks above."
            )
        )
    if result.preemptions:
        out.append(
            f"{result.preemptions} execution{'s were' if result.preemptions != 1 else ' was'} preempted for "
            "higher-priority work; if that is frequent, add capacity or move low-priority schedules to quieter hours."
        )
