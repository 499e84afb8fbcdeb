"""REST API of the scheduling app (mounted under /api/v1/). Views stay thin:
look up, check the request's shape, call one service, render."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from orchestration.api.errors import ErrorResponseSerializer, conflict
from orchestration.errors import DefinitionInvalid
from orchestration.models import Task
from scheduling import presenters, selectors, services, spec, timing
from scheduling.models import FireOutcome, FireSource, Origin, Schedule

ERRORS = {400: ErrorResponseSerializer, 404: ErrorResponseSerializer}
MAX_PREVIEW = 100
READ_ONLY_KEYS = {
    "id",
    "taskId",
    "origin",
    "state",
    "pausedReason",
    "finishedReason",
    "description",
    "nextFireAt",
    "runCount",
    "consecutiveFailures",
    "hasWebhookSecret",
    "beatEntry",
    "lastFire",
    "createdAt",
    "updatedAt",
    "webhookUrl",
}
class ScheduleSerializer(serializers.Serializer):
    """The schedule block plus its state (for the API schema; responses are built by presenters)."""

    id = serializers.IntegerField(read_only=True)
    taskId = serializers.CharField()
    type = serializers.ChoiceField(choices=spec.KINDS)
    expression = serializers.CharField(required=False, help_text="cron: 5 fields, e.g. '0 */2 * * *'")
    timezone = serializers.CharField(required=False, help_text="IANA name, default UTC")
    interval = serializers.IntegerField(required=False)
    unit = serializers.ChoiceField(choices=["ms", "s", "m", "h"], required=False)
    event = serializers.CharField(required=False, help_text="event name; wildcards like 'execution.*'")
    filter = serializers.DictField(required=False, help_text="path: value or path: {operator: value}")
    trigger = serializers.ChoiceField(choices=spec.TRIGGERS, required=False)
    startDate = serializers.DateTimeField(required=False)
    endDate = serializers.DateTimeField(required=False)
    maxRuns = serializers.IntegerField(required=False)
    enabled = serializers.BooleanField(required=False)
    concurrent = serializers.CharField(required=False, help_text="true/allow, false/forbid or replace")
    misfirePolicy = serializers.ChoiceField(choices=spec.MISFIRE_POLICIES, required=False)
    misfireGraceSeconds = serializers.IntegerField(required=False)
    misfireMaxRuns = serializers.IntegerField(required=False)
    pauseAfterFailures = serializers.IntegerField(required=False)
    input = serializers.DictField(required=False)
    rateLimitPerMinute = serializers.IntegerField(required=False)
    webhookSecret = serializers.CharField(required=False, write_only=True)
    state = serializers.CharField(read_only=True)
    nextFireAt = serializers.DateTimeField(read_only=True, allow_null=True)
    description = serializers.CharField(read_only=True)
    lastFire = serializers.DictField(read_only=True, allow_null=True)
    # Not read-only in the schema: read-only fields are required in responses,
    # and this one is present only in the answer that made a token (ignored in requests).
    webhookUrl = serializers.CharField(
        required=False,
        help_text="Only in the answer that created or rotated the webhook token; ignored in requests.",
    )


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise DefinitionInvalid([{"path": "", "message": "the body must be a JSON object"}])
    return dict(request.data)


def _block(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key not in READ_ONLY_KEYS}


def _count(request: Request, default: int = 5) -> int:
    raw = request.query_params.get("count", str(default))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PREVIEW:
        raise DefinitionInvalid(
            [{"path": "count", "message": f"count must be a whole number from 1 to {MAX_PREVIEW}"}]
        )
    return int(raw)


def webhook_url(request: Request, token: str) -> str:
    return request.build_absolute_uri(f"/hooks/{token}/")


def _render(request: Request, schedule: Schedule) -> dict[str, Any]:
    data = presenters.schedule_json(schedule)
    token = getattr(schedule, "new_webhook_token", None)
    if token:
        # Shown once: only a hash of the token is stored.
        data["webhookUrl"] = webhook_url(request, token)
    return data


_DEFINITION_EDIT = (
    "A schedule that comes from a task's `schedule` block may only be paused or resumed "
    "here (`enabled`); any other change is refused with 409: edit the task's definition."
)


class ScheduleViewSet(viewsets.GenericViewSet):
    serializer_class = ScheduleSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        params = self.request.query_params
        task_id, task = params.get("taskId", ""), params.get("task", "")
        if task_id and task and task_id != task:
            raise DefinitionInvalid([{"path": "task", "message": "task and taskId name different tasks; give one"}])
        return selectors.schedule_list(
            # ``task`` as in the events, metrics and alerts filters; ``taskId`` as in the body.
            task_id=task_id or task,
            kind=params.get("type", ""),
            state=params.get("state", ""),
        )

    def get_object(self) -> Schedule:
        pk = self.kwargs.get("pk", "")
        if not (str(pk).isascii() and str(pk).isdigit()):
            raise Http404
        schedule = Schedule.objects.select_related("task", "periodic_task").filter(pk=pk).first()
        if schedule is None:
            raise Http404
        return schedule

    @extend_schema(
        summary="List schedules",
        parameters=[
            OpenApiParameter("taskId", OpenApiTypes.STR),
            OpenApiParameter("task", OpenApiTypes.STR, description="the same as taskId (the name the events, "
                             "metrics and alerts filters use)"),
            OpenApiParameter("type", OpenApiTypes.STR),
            OpenApiParameter("state", OpenApiTypes.STR, enum=["active", "paused", "finished"]),
        ],
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([presenters.schedule_json(s) for s in page or []])

    @extend_schema(
        summary="Create a schedule for a task", responses={201: ScheduleSerializer, **ERRORS}
    )
    def create(self, request: Request) -> Response:
        body = _body(request)
        task = Task.objects.filter(task_id=body.get("taskId") or "").first()
        if task is None:
            raise DefinitionInvalid(
                [{"path": "taskId", "message": f"no task with taskId {body.get('taskId')!r}"}]
            )
        schedule = services.schedule_create(task=task, block=_block(body))
        return Response(_render(request, schedule), status=status.HTTP_201_CREATED)

    @extend_schema(summary="A schedule with its state and last fire")
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(presenters.schedule_json(self.get_object()))

    @extend_schema(
        summary="Replace a schedule's settings",
        description=_DEFINITION_EDIT,
        responses={200: ScheduleSerializer, 409: ErrorResponseSerializer, **ERRORS},
    )
    def update(self, request: Request, pk: str) -> Response:
        try:
            schedule = services.schedule_update(
                schedule=self.get_object(), block=_block(_body(request))
            )
        except services.ScheduleDefinitionEdit as exc:
            return conflict(str(exc))
        return Response(_render(request, schedule))

    @extend_schema(
        summary="Change some of a schedule's settings",
        description=_DEFINITION_EDIT,
        responses={200: ScheduleSerializer, 409: ErrorResponseSerializer, **ERRORS},
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        schedule = self.get_object()
        base = spec.to_block(schedule)
        if schedule.origin == Origin.DEFINITION and isinstance(schedule.definition_block, dict):
            # The block as the definition wrote it (to_block leaves out settings that
            # have no effect, such as misfireMaxRuns without run-all).
            base = {**schedule.definition_block, "enabled": schedule.enabled}
        block = {**base, **_block(_body(request))}
        try:
            schedule = services.schedule_update(schedule=schedule, block=block)
        except services.ScheduleDefinitionEdit as exc:
            return conflict(str(exc))
        return Response(_render(request, schedule))

    @extend_schema(
        summary="Unschedule (delete) a schedule",
        description=(
            "A schedule that comes from a task's `schedule` block is refused with 409: "
            "pause it, or remove the block from the task's definition."
        ),
        responses={204: None, 409: ErrorResponseSerializer},
    )
    def destroy(self, request: Request, pk: str) -> Response:
        try:
            services.schedule_delete(schedule=self.get_object())
        except services.ScheduleFromDefinition as exc:
            return conflict(str(exc))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Pause a schedule", request=None)
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str) -> Response:
        reason = request.data.get("reason") if isinstance(request.data, dict) else None
        schedule = services.schedule_pause(
            schedule=self.get_object(), reason=str(reason or "paused by operator")
        )
        return Response(presenters.schedule_json(schedule))

    @extend_schema(
        summary="Resume a paused schedule (missed fires while paused are not run)", request=None
    )
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        schedule = services.schedule_resume(schedule=self.get_object())
        return Response(presenters.schedule_json(schedule))

    @extend_schema(
        summary="Fire history, newest first",
        parameters=[OpenApiParameter("outcome", OpenApiTypes.STR, enum=[*FireOutcome.values])],
    )
    @action(detail=True, methods=["get"])
    def history(self, request: Request, pk: str) -> Response:
        outcome = request.query_params.get("outcome", "")
        if outcome and outcome not in FireOutcome.values:
            raise DefinitionInvalid(
                [
                    {
                        "path": "outcome",
                        "message": f"outcome must be one of {', '.join(FireOutcome.values)}",
                    }
                ]
            )
        page = self.paginate_queryset(
            selectors.schedule_history(schedule=self.get_object(), outcome=outcome)
        )
        return self.get_paginated_response([presenters.fire_json(f) for f in page or []])

    @extend_schema(
        summary="The next N fire times of this schedule",
        parameters=[OpenApiParameter("count", OpenApiTypes.INT)],
    )
    @action(detail=True, methods=["get"])
    def preview(self, request: Request, pk: str) -> Response:
        schedule = self.get_object()
        times = services.next_fire_times(schedule, _count(request)) if schedule.is_clock else []
        return Response(
            {"timezone": schedule.timezone, "fireTimes": [t.isoformat() for t in times]}
        )

    @extend_schema(
        operation_id="v1_schedules_preview_expression",
        summary="Preview a cron expression: its description and next N fire times in a timezone",
        parameters=[
            OpenApiParameter("expression", OpenApiTypes.STR, required=True),
            OpenApiParameter("timezone", OpenApiTypes.STR),
            OpenApiParameter("count", OpenApiTypes.INT),
        ],
    )
    @action(detail=False, methods=["get"], url_path="preview")
    def preview_expression(self, request: Request) -> Response:
        expression = request.query_params.get("expression", "")
        tz = request.query_params.get("timezone", "UTC")
        errors = []
        if problem := timing.cron_error(expression):
            errors.append({"path": "expression", "message": problem})
        if problem := timing.timezone_error(tz):
            errors.append({"path": "timezone", "message": problem})
        if errors:
            raise DefinitionInvalid(errors)
        count = _count(request)
        times = services.preview_cron(expression=expression, tz_name=tz, count=count)
        return Response(
            {
                "expression": timing.normalize_cron(expression),
                "timezone": tz,
                "description": timing.describe_cron(expression),
                "warnings": timing.cron_warnings(expression),
                "fireTimes": [t.isoformat() for t in times],
            }
        )

    @extend_schema(
        summary="Run the schedule's task now (a manual fire)",
        description=(
            "409 when the schedule is paused or finished, and (as for "
            "`POST /api/v1/tasks/{taskId}/execute/`) when the task references secrets "
            "that are not stored: no fire is recorded then."
        ),
        request=inline_serializer(
            "TriggerRequest", {"input": serializers.DictField(required=False)}
        ),
        responses={
            202: inline_serializer("FireAccepted", {"fire": serializers.DictField()}),
            409: ErrorResponseSerializer,
        },
    )
    @action(detail=True, methods=["post"])
    def trigger(self, request: Request, pk: str) -> Response:
        body = _body(request)
        payload = body.get("input", {})
        if not isinstance(payload, dict):
            raise DefinitionInvalid([{"path": "input", "message": "input must be an object"}])
        where = services.nul_path(payload, "input")
        if where is not None:
            raise DefinitionInvalid([{"path": where, "message": "a NUL character (\\u0000) cannot be stored"}])
        idempotency_key = request.headers.get("Idempotency-Key", "")[:150]
        if problem := services.idempotency_key_error(idempotency_key):
            raise DefinitionInvalid([{"path": "headers.Idempotency-Key", "message": problem}])
        try:
            fire = services.schedule_trigger(
                schedule=self.get_object(),
                input=payload,
                source=FireSource.API,
                idempotency_key=idempotency_key,
            )
        except services.ScheduleInactive as exc:
            return conflict(str(exc))
        return Response({"fire": presenters.fire_json(fire)}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Make a new secret webhook URL (the old one stops working)", request=None
    )
    @action(detail=True, methods=["post"], url_path="rotate-token")
    def rotate_token(self, request: Request, pk: str) -> Response:
        token = services.schedule_rotate_webhook_token(schedule=self.get_object())
        return Response({"webhookUrl": webhook_url(request, token)})

    @extend_schema(
        summary="Record an external event (event schedules that match start their task)",
        request=inline_serializer(
            "ExternalEvent",
            {
                "type": serializers.CharField(),
                "data": serializers.DictField(required=False),
                "source": serializers.CharField(required=False),
            },
        ),
        responses={
            201: inline_serializer(
                "EventRecorded", {"id": serializers.IntegerField(), "type": serializers.CharField()}
            ),
            **ERRORS,
        },
    )
    @action(detail=False, methods=["post"], url_path="events")
    def events(self, request: Request) -> Response:
        return event_ingest_response(request)


def event_ingest_response(request: Request) -> Response:
    """POST an external event: ``{"type": "...", "data": {...}, "source": "..."}``.
    Exposed here and meant to back ``POST /api/v1/events/`` too."""
    body = _body(request)
    errors = services.event_ingest_errors(body)
    if errors:
        raise DefinitionInvalid(errors)
    event = services.event_ingest(
        type=body["type"], data=body.get("data") or {}, source=str(body.get("source") or "api")
    )
    return Response(
        {
            "id": event.pk,
            "type": event.type,
            "source": event.source,
            "createdAt": event.created_at.isoformat(),
        },
        status=status.HTTP_201_CREATED,
    )
