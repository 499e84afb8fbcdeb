"""REST API of the resource manager under /api/v1/resources/: capacity,
workers, allocations, the admission queue, usage history, analysis,
preemptions, one execution's resources, and the cluster limits."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from orchestration.instants import MESSAGE as INSTANT_MESSAGE
from orchestration.instants import parse_instant
from orchestration.models import Execution
from resources import selectors, services
from resources.analysis import resource_analysis
from resources.models import Allocation, Preemption, ResourceRequest, SystemSample
from resources.requirements import parse_block
from resources.usage import execution_usage

MAX_HISTORY_POINTS = 1000
RANGE_PARAMETERS = [
    OpenApiParameter("start", OpenApiTypes.DATETIME, description="ISO 8601; default: `hours` before `end`"),
    OpenApiParameter("end", OpenApiTypes.DATETIME, description="ISO 8601; default: now"),
    OpenApiParameter("hours", int, description="length of the range when `start` is not given (default 24)"),
]


def time_range(params: Any, *, default_hours: int = 24) -> tuple[datetime, datetime]:
    """``start``/``end`` (ISO 8601) or ``hours`` back from ``end``; a bad value
    is a 400 naming the parameter."""

    def parse(name: str) -> datetime | None:
        raw = params.get(name)
        if not raw:
            return None
        # In UTC before any query sees it: PostgreSQL refuses offsets past +/-15:59.
        value = parse_instant(raw)
        if value is None:
            raise ValidationError({name: f"{raw!r} {INSTANT_MESSAGE}"})
        return value

    end = parse("end") or timezone.now()
    start = parse("start")
    if start is None:
        raw_hours = params.get("hours") or default_hours
        try:
            hours = int(raw_hours)
        except (TypeError, ValueError):
            raise ValidationError({"hours": f"{raw_hours!r} is not a whole number of hours"}) from None
        if not 1 <= hours <= 24 * 366:
            raise ValidationError({"hours": "must be between 1 and 8784"})
        start = end - timedelta(hours=hours)
    if start >= end:
        raise ValidationError({"start": "must be before end"})
    return start, end


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def worker_json(view: selectors.WorkerView) -> dict[str, Any]:
    w = view.worker
    return {
        "name": w.name,
        "host": w.host,
        "pid": w.pid,
        "status": w.status,
        "live": view.live,
        "slots": w.slots,
        "cores": w.cores,
        "cpuPercent": w.cpu_percent,
        "load1m": w.load_1m,
        "memoryTotalBytes": w.memory_total_bytes,
        "memoryAvailableBytes": w.memory_available_bytes,
        "diskFreeBytes": w.disk_free_bytes,
        "rssBytes": w.rss_bytes,
        "capacity": view.capacity.as_json() if view.capacity else None,
        "allocated": view.allocated.as_json() if view.allocated else None,
        "startedAt": _iso(w.started_at),
        "lastHeartbeatAt": _iso(w.last_heartbeat_at),
        "lostAt": _iso(w.lost_at),
    }


def allocation_json(a: Allocation) -> dict[str, Any]:
    return {
        "id": a.pk,
        "executionId": a.execution_id,
        "taskId": a.execution.task.task_id,
        "worker": a.worker.name if a.worker else None,
        "priority": a.priority,
        "cpu": a.cpu_millicores / 1000,
        "memoryBytes": a.memory_bytes,
        "diskBytes": a.disk_bytes,
        "networkBytesPerSecond": a.network_bytes_per_second,
        "requestedAt": _iso(a.requested_at),
        "allocatedAt": _iso(a.allocated_at),
        "waitSeconds": round(a.wait_seconds, 3),
        "releasedAt": _iso(a.released_at),
        "releaseReason": a.release_reason or None,
    }


def request_json(r: ResourceRequest) -> dict[str, Any]:
    return {
        "executionId": r.execution_id,
        "priority": r.priority,
        "cpu": r.cpu_millicores / 1000,
        "memoryBytes": r.memory_bytes,
        "diskBytes": r.disk_bytes,
        "networkBytesPerSecond": r.network_bytes_per_second,
        "source": r.source,
        "complexity": r.complexity,
        "firstRequestedAt": _iso(r.first_requested_at),
        "waitingSince": _iso(r.waiting_since),
        "reason": r.reason,
        "admissions": r.admissions,
        "preemptions": r.preemptions,
    }


def queue_entry_json(entry: selectors.QueueEntry) -> dict[str, Any]:
    return {
        "position": entry.position,
        "taskId": entry.request.execution.task.task_id,
        "waitedSeconds": round(entry.waited_seconds, 1),
        "effectivePriority": entry.effective_priority,
        **request_json(entry.request),
    }


def preemption_json(p: Preemption) -> dict[str, Any]:
    return {
        "id": p.pk,
        "victimExecutionId": p.victim_id,
        "victimTaskId": p.victim.task.task_id,
        "victimPriority": p.victim_priority,
        "beneficiaryExecutionId": p.beneficiary_id,
        "beneficiaryTaskId": p.beneficiary.task.task_id if p.beneficiary else None,
        "beneficiaryPriority": p.beneficiary_priority,
        "freedCpu": p.freed_cpu_millicores / 1000,
        "freedMemoryBytes": p.freed_memory_bytes,
        "reason": p.reason,
        "createdAt": _iso(p.created_at),
        "resumedAt": _iso(p.resumed_at),
    }


def sample_json(s: SystemSample) -> dict[str, Any]:
    return {
        "takenAt": _iso(s.taken_at),
        "host": s.host,
        "cpuPercent": s.cpu_percent,
        "cores": s.cores,
        "memoryUsedBytes": s.memory_used_bytes,
        "memoryTotalBytes": s.memory_total_bytes,
        "memoryPercent": round(s.memory_percent, 1),
        "diskUsedBytes": s.disk_used_bytes,
        "diskTotalBytes": s.disk_total_bytes,
        "load1m": s.load_1m,
        "load5m": s.load_5m,
        "load15m": s.load_15m,
        "runningExecutions": s.running_executions,
        "queuedExecutions": s.queued_executions,
    }


def history_samples(*, start: datetime, end: datetime, host: str = "") -> list[SystemSample]:
    """Samples in the range, thinned evenly to at most MAX_HISTORY_POINTS."""
    qs = SystemSample.objects.filter(taken_at__gte=start, taken_at__lt=end).order_by("taken_at")
    if host:
        qs = qs.filter(host=host)
    total = qs.count()
    step = max(1, -(-total // MAX_HISTORY_POINTS))
    return list(qs)[::step]


class ResourcesRootAPI(APIView):
    """Capacity, allocation and queue totals, with links to the details."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        links = {
            name: reverse(f"api-resources-{name}", request=request)
            for name in ("workers", "allocations", "queue", "history", "analysis", "preemptions", "pool")
        }
        return Response({**selectors.capacity_summary(), "links": links})


class WorkersAPI(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        return Response({"results": [worker_json(v) for v in selectors.worker_views()]})


class AllocationsAPI(GenericAPIView):
    """Open allocations (``?state=all`` for the history too; ``?execution=`` to filter)."""

    queryset = Allocation.objects.none()
    filter_backends: list[Any] = []

    @extend_schema(
        parameters=[
            OpenApiParameter("state", str, enum=["open", "all"], description="default: open"),
            OpenApiParameter("execution", int),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        state = request.query_params.get("state", "open")
        if state not in ("open", "all"):
            raise ValidationError({"state": "must be open or all"})
        qs = selectors.allocations(open_only=state == "open")
        execution = request.query_params.get("execution")
        if execution:
            if not (execution.isascii() and execution.isdigit()):
                raise ValidationError({"execution": "must be an execution id"})
            qs = qs.filter(execution_id=int(execution))
        page = self.paginate_queryset(qs) or []
        return self.get_paginated_response([allocation_json(a) for a in page])


class QueueAPI(APIView):
    """Waiting executions in the order they will be admitted."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        entries = selectors.queue_entries()
        return Response({"count": len(entries), "results": [queue_entry_json(e) for e in entries]})


class HistoryAPI(APIView):
    """System samples over a range (at most 1000 points, evenly thinned)."""

    @extend_schema(parameters=[*RANGE_PARAMETERS, OpenApiParameter("host", str)], responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        start, end = time_range(request.query_params)
        samples = history_samples(start=start, end=end, host=request.query_params.get("host", ""))
        return Response({"start": _iso(start), "end": _iso(end), "results": [sample_json(s) for s in samples]})


class AnalysisAPI(APIView):
    """Average and peak usage, peak hours, queue waits, waste per task and suggestions."""

    @extend_schema(parameters=RANGE_PARAMETERS, responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        start, end = time_range(request.query_params)
        return Response(resource_analysis(start=start, end=end).as_json())


class PreemptionsAPI(GenericAPIView):
    queryset = Preemption.objects.none()
    filter_backends: list[Any] = []

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.preemptions()) or []
        return self.get_paginated_response([preemption_json(p) for p in page])


class ExecutionResourcesAPI(APIView):
    """What one execution asked for, what it was granted, and what it used."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, execution_id: int) -> Response:
        execution = Execution.objects.select_related("task").filter(pk=execution_id).first()
        if execution is None:
            raise Http404(f"no execution #{execution_id}")
        resource_request = ResourceRequest.objects.filter(execution=execution).first()
        return Response(
            {
                "executionId": execution.pk,
                "status": execution.status,
                "statusReason": execution.status_reason,
                "requirements": services.execution_requirements(execution).as_json(),
                "request": request_json(resource_request) if resource_request else None,
                "allocations": [allocation_json(a) for a in selectors.allocations(open_only=False).filter(execution=execution)],
                "preemptions": [preemption_json(p) for p in selectors.preemptions().filter(victim=execution)],
                "usage": execution_usage(execution=execution).as_json(),
            }
        )


class RequirementsAPI(APIView):
    """Check a ``resourceRequirements`` block and show what an execution with it
    would ask for: ``{"requirements": {...}}``, or 400 with every problem. The
    same parser checks the block in task definitions and templates."""

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request) -> Response:
        parsed = parse_block(request.data, "")
        if parsed.requirements is None:
            return Response({"errors": parsed.errors}, status=400)
        return Response({"requirements": parsed.requirements.as_json()})


class PoolAPI(APIView):
    """Cluster-wide limits below what the workers offer (``null`` removes one)."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        return Response(services.pool_limits())

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT)
    def patch(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            raise ValidationError({"": "the request body must be a JSON object"})
        errors = services.pool_update(changes=request.data)
        if errors:
            return Response({"errors": errors}, status=400)
        return Response(services.pool_limits())
