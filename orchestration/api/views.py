"""Core REST API: tasks, executions and secrets. Views stay thin: look up,
check the request's shape, call one service, render."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework import serializers as drf_serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from orchestration import secret_services, selectors, services, task_services
from orchestration.api import serializers as s
from orchestration.api.errors import DefinitionInvalid, ErrorResponseSerializer, conflict
from orchestration.api.filters import ExecutionFilter, TaskFilter
from orchestration.credentials import mask_definition
from orchestration.definition_export import task_to_definition
from orchestration.definitions import validate_task_definition
from orchestration.models import Execution, Secret, Task

# Keys a task's detail response adds to the definition; ignored when a client
# sends the document back.
# Keys of responses that a client may send back; they are not part of a definition.
READ_ONLY_KEYS = ("createdAt", "updatedAt", "warnings")

ERRORS = {400: ErrorResponseSerializer, 404: ErrorResponseSerializer}
CONFLICT = {409: ErrorResponseSerializer, 404: ErrorResponseSerializer}
TASK_ID = OpenApiParameter(
    "taskId", OpenApiTypes.STR, OpenApiParameter.PATH, description="The task's taskId."
)


def _definition_body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise DefinitionInvalid(
            [{"path": "", "message": "a task definition must be a JSON object"}]
        )
    return {key: value for key, value in request.data.items() if key not in READ_ONLY_KEYS}


def task_detail(task: Task) -> dict[str, Any]:
    """The task's definition plus its state (what GET /tasks/{taskId}/ returns),
    and after a save the ``warnings`` of that save when there are any."""
    timestamp = drf_serializers.DateTimeField()
    return {
        **mask_definition(task_to_definition(task)),
        "enabled": task.enabled,
        "createdAt": timestamp.to_representation(task.created_at),
        "updatedAt": timestamp.to_representation(task.updated_at),
        **_warnings(task),
    }


def _warnings(task: Task) -> dict[str, Any]:
    return {"warnings": task.definition_warnings} if task.definition_warnings else {}


@extend_schema_view(
    list=extend_schema(summary="List tasks", responses=s.TaskSummarySerializer(many=True)),
    create=extend_schema(
        summary="Create a task from a definition",
        request=s.TaskDefinitionSerializer,
        responses={201: s.TaskDefinitionSerializer, **ERRORS},
    ),
    retrieve=extend_schema(
        summary="A task's definition and state",
        parameters=[TASK_ID],
        responses=s.TaskDetailSerializer,
    ),
    update=extend_schema(
        summary="Replace a task's definition",
        parameters=[TASK_ID],
        request=s.TaskDefinitionSerializer,
        responses={200: s.TaskDetailSerializer, **ERRORS},
    ),
    partial_update=extend_schema(
        summary="Change some top-level keys of a task's definition",
        parameters=[TASK_ID],
        request=s.TaskDefinitionSerializer(partial=True),
        responses={200: s.TaskDetailSerializer, **ERRORS},
    ),
    destroy=extend_schema(
        summary="Delete a task and its history",
        parameters=[TASK_ID],
        responses={204: None, **CONFLICT},
    ),
)
class TaskViewSet(viewsets.GenericViewSet):
    lookup_field = "task_id"
    lookup_url_kwarg = "taskId"
    lookup_value_regex = "[^/]+"
    filterset_class = TaskFilter
    serializer_class = s.TaskSummarySerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.task_list()

    def list(self, request: Request) -> Response:
        tasks = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(tasks)
        return self.get_paginated_response(s.TaskSummarySerializer(page, many=True).data)

    def create(self, request: Request) -> Response:
        task = services.task_create(definition=_definition_body(request), user=request.user)
        return Response(
            {**mask_definition(task_to_definition(task)), **_warnings(task)}, status=status.HTTP_201_CREATED
        )

    def retrieve(self, request: Request, taskId: str) -> Response:
        return Response(task_detail(self.get_object()))

    def update(self, request: Request, taskId: str) -> Response:
        task = services.task_update(task=self.get_object(), definition=_definition_body(request))
        return Response(task_detail(task))

    def partial_update(self, request: Request, taskId: str) -> Response:
        task = services.task_update(
            task=self.get_object(), definition=_definition_body(request), partial=True
        )
        return Response(task_detail(task))

    def destroy(self, request: Request, taskId: str) -> Response:
        try:
            services.task_delete(task=self.get_object())
        except task_services.TaskInUse as exc:
            return conflict(str(exc))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Check a definition without saving it",
        request=s.TaskDefinitionSerializer,
        responses=s.ValidationResultSerializer,
    )
    @action(detail=False, methods=["post"])
    def validate(self, request: Request) -> Response:
        warnings: list[dict[str, str]] = []
        errors = validate_task_definition(request.data, warnings=warnings)
        return Response({"valid": not errors, "errors": errors, "warnings": warnings})

    @extend_schema(
        summary="Export the task's definition document",
        parameters=[TASK_ID],
        responses=s.TaskDefinitionSerializer,
    )
    @action(detail=True, methods=["get"])
    def definition(self, request: Request, taskId: str) -> Response:
        return Response(mask_definition(task_to_definition(self.get_object())))

    @extend_schema(
        summary="Start an execution of the task",
        parameters=[TASK_ID],
        request=s.ExecuteRequestSerializer,
        responses={202: s.ExecutionAcceptedSerializer, **ERRORS, 409: ErrorResponseSerializer},
    )
    @action(detail=True, methods=["post"])
    def execute(self, request: Request, taskId: str) -> Response:
        task = self.get_object()
        body = request.data if isinstance(request.data, dict) else None
        if body is None:
            raise DefinitionInvalid(
                [{"path": "", "message": 'the body must be a JSON object like {"input": {...}}'}]
            )
        if not task.enabled:
            return conflict(f'task "{task.task_id}" is disabled; enable it to run it')
        execution = services.execution_create(
            task=task,
            input=body.get("input"),
            trigger="api",
            triggered_by=request.user.get_username(),
        )
        # Admission may have started it already, after the instance was loaded.
        execution.refresh_from_db(fields=["status"])
        return Response(
            {"executionId": execution.pk, "status": execution.status},
            status=status.HTTP_202_ACCEPTED,
        )


@extend_schema_view(
    list=extend_schema(summary="List executions, newest first"),
    retrieve=extend_schema(
        summary="An execution with its nodes", responses=s.ExecutionDetailSerializer
    ),
)
class ExecutionViewSet(viewsets.ReadOnlyModelViewSet):
    filterset_class = ExecutionFilter
    serializer_class = s.ExecutionSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.execution_list()

    def get_serializer_class(self):  # type: ignore[no-untyped-def]
        return s.ExecutionDetailSerializer if self.action == "retrieve" else s.ExecutionSerializer

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "secrets": selectors.secret_values()}

    def _accepted(self, execution: Execution) -> Response:
        return Response(
            {"executionId": execution.pk, "status": execution.status},
            status=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(
        summary="Cancel a pending, queued or running execution",
        request=None,
        responses={202: s.ExecutionAcceptedSerializer, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        execution = self.get_object()
        try:
            execution = services.execution_cancel(
                execution_id=execution.pk, reason=f"cancelled by {request.user.get_username()}"
            )
        except services.ExecutionStateError as exc:
            return conflict(str(exc))
        return self._accepted(execution)

    @extend_schema(
        summary="Run a finished execution again from its failed nodes",
        request=None,
        responses={202: s.ExecutionAcceptedSerializer, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def rerun(self, request: Request, pk: str) -> Response:
        execution = self.get_object()
        try:
            new = services.execution_rerun(
                execution_id=execution.pk, triggered_by=request.user.get_username()
            )
        except services.ExecutionStateError as exc:
            return conflict(str(exc))
        return self._accepted(new)


@extend_schema_view(
    list=extend_schema(summary="List secrets (values are never returned)"),
    create=extend_schema(summary="Store a secret", responses={201: s.SecretSerializer, **ERRORS}),
    retrieve=extend_schema(summary="A secret's name and description"),
    update=extend_schema(
        summary="Change a secret's value or description",
        request=s.SecretUpdateSerializer,
        responses={200: s.SecretSerializer, **ERRORS},
    ),
    partial_update=extend_schema(
        summary="Change a secret's value or description",
        request=s.SecretUpdateSerializer,
        responses={200: s.SecretSerializer, **ERRORS},
    ),
    destroy=extend_schema(summary="Delete a secret"),
)
class SecretViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = s.SecretSerializer
    lookup_field = "name"
    lookup_value_regex = "[^/]+"
    queryset = Secret.objects.order_by("name")

    def create(self, request: Request) -> Response:
        serializer = s.SecretSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        secret = secret_services.secret_create(**serializer.validated_data)
        return Response(s.SecretSerializer(secret).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, name: str, partial: bool = False) -> Response:
        secret = self.get_object()
        serializer = s.SecretUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if not partial and "value" not in serializer.validated_data:
            raise DefinitionInvalid(
                [
                    {
                        "path": "value",
                        "message": "value is required (use PATCH to change only the description)",
                    }
                ]
            )
        secret = secret_services.secret_update(secret=secret, **serializer.validated_data)
        return Response(s.SecretSerializer(secret).data)

    def partial_update(self, request: Request, name: str) -> Response:
        return self.update(request, name, partial=True)

    def destroy(self, request: Request, name: str) -> Response:
        secret_services.secret_delete(secret=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
