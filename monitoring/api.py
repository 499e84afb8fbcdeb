"""REST API: events, metrics, alerts, channels and deliveries. Thin: parse,
call a selector or service, serialize."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring import selectors
from monitoring.alerting import alert_acknowledge, alert_resolve
from monitoring.models import Alert, Channel, ChannelSource, Delivery
from monitoring.serializers import (
    AlertSerializer,
    ChannelSerializer,
    DeliverySerializer,
    EventSerializer,
)
from monitoring.services import channel_send_test
from orchestration.api.guards import query_id
from orchestration.instants import MESSAGE as INSTANT_MESSAGE
from orchestration.instants import parse_instant


def _datetime(request: Request, name: str) -> Any:
    raw = request.query_params.get(name)
    if not raw:
        return None
    # In UTC before any query sees it: PostgreSQL refuses offsets past +/-15:59.
    value = parse_instant(raw)
    if value is None:
        raise ValidationError({name: f"{raw!r} {INSTANT_MESSAGE}"})
    return value


def _range(request: Request) -> str | None:
    key = request.query_params.get("range")
    try:
        selectors.metric_range(key)
    except ValueError as exc:
        raise ValidationError({"range": str(exc)}) from None
    return key


@extend_schema(parameters=[
    OpenApiParameter("type", str, description="Event type, comma separated; 'execution.*' matches a prefix."),
    OpenApiParameter("task", str, description="taskId"),
    OpenApiParameter("execution", int),
    OpenApiParameter("since", str, description="ISO 8601 date-time (inclusive)"),
    OpenApiParameter("until", str, description="ISO 8601 date-time (exclusive)"),
    OpenApiParameter("range", str, enum=list(selectors.RANGES), description="Shortcut for since=now-range"),
])
class EventList(ListAPIView):
    serializer_class = EventSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> Any:
        params = self.request.query_params
        since = _datetime(self.request, "since")
        if since is None and params.get("range"):
            from django.utils import timezone

            since = timezone.now() - selectors.metric_range(_range(self.request)).span
        return selectors.events_list(
            types=[t.strip() for t in params.get("type", "").split(",") if t.strip()],
            task_id=params.get("task") or None,
            execution_id=query_id(params, "execution"),
            since=since,
            until=_datetime(self.request, "until"),
        )

    @extend_schema(request=dict, responses={201: dict})
    def post(self, request: Request) -> Response:
        """Record an external event (``{"type", "data", "source"}``); event
        schedules whose filter matches start their task with it as input."""
        from scheduling.api import event_ingest_response

        return event_ingest_response(request)


class MetricsSummary(APIView):
    @extend_schema(parameters=[OpenApiParameter("range", str, enum=list(selectors.RANGES)), OpenApiParameter("task", str)],
                   responses={200: dict})
    def get(self, request: Request) -> Response:
        return Response(selectors.metrics_summary(range_key=_range(request), task_id=request.query_params.get("task") or None))


class MetricsSeries(APIView):
    @extend_schema(parameters=[OpenApiParameter("range", str, enum=list(selectors.RANGES)), OpenApiParameter("task", str)],
                   responses={200: dict})
    def get(self, request: Request) -> Response:
        return Response(selectors.metrics_series(range_key=_range(request), task_id=request.query_params.get("task") or None))


class ExecutionMetrics(APIView):
    @extend_schema(responses={200: dict})
    def get(self, request: Request, execution_id: int) -> Response:
        from orchestration.models import Execution

        execution = get_object_or_404(Execution.objects.select_related("task"), pk=execution_id)
        return Response(selectors.execution_metrics(execution))


@extend_schema(parameters=[
    OpenApiParameter("status", str, description="open, acknowledged, resolved, or active (open + acknowledged)"),
    OpenApiParameter("rule", str), OpenApiParameter("task", str, description="taskId"),
])
class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = AlertSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> Any:
        qs = Alert.objects.select_related("task").order_by("-last_seen_at", "-id")
        params = self.request.query_params
        status = params.get("status")
        if status == "active":
            qs = qs.exclude(status="resolved")
        elif status:
            qs = qs.filter(status=status)
        if params.get("rule"):
            qs = qs.filter(rule=params["rule"])
        if params.get("task"):
            qs = qs.filter(task__task_id=params["task"])
        return qs

    @extend_schema(request=None, responses=AlertSerializer)
    @action(detail=True, methods=["post"])
    def ack(self, request: Request, pk: str) -> Response:
        alert = alert_acknowledge(alert_id=self.get_object().pk, user=request.user)
        return Response(AlertSerializer(alert).data)

    @extend_schema(request=None, responses=AlertSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str) -> Response:
        reason = str(request.data.get("resolution", "")) if hasattr(request.data, "get") else ""
        alert = alert_resolve(alert_id=self.get_object().pk, user=request.user, resolution=reason)
        return Response(AlertSerializer(alert).data)


class ChannelViewSet(viewsets.ModelViewSet):
    serializer_class = ChannelSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> Any:
        qs = Channel.objects.select_related("task").order_by("task_id", "position", "name")
        if self.request.query_params.get("task"):
            qs = qs.filter(task__task_id=self.request.query_params["task"])
        if self.request.query_params.get("type"):
            qs = qs.filter(kind=self.request.query_params["type"])
        return qs

    def perform_create(self, serializer: Any) -> None:
        serializer.save(source=ChannelSource.MANUAL)

    def perform_destroy(self, instance: Channel) -> None:
        if instance.source == ChannelSource.DEFINITION:
            raise ValidationError("this channel comes from its task's definition; edit notificationChannels there")
        instance.delete()

    @extend_schema(request=None, responses={202: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str) -> Response:
        delivery = channel_send_test(channel=self.get_object())
        return Response(DeliverySerializer(delivery).data, status=202)


@extend_schema(parameters=[OpenApiParameter("channel", int), OpenApiParameter("alert", int), OpenApiParameter("status", str)])
class DeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = DeliverySerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> Any:
        qs = Delivery.objects.order_by("-created_at", "-id")
        params = self.request.query_params
        for name, field in (("channel", "channel_id"), ("alert", "alert_id")):
            value = query_id(params, name)
            if value is not None:
                qs = qs.filter(**{field: value})
        if params.get("status"):
            qs = qs.filter(status=params["status"])
        return qs
