"""Shapes of the core REST API, in the seed's camelCase.

Task definitions are validated by ``orchestration.definitions`` (every
problem with its JSON path), not by these serializers: the definition
serializers below exist to document the shape in the OpenAPI schema.
Execution output is scrubbed of stored secret values (``context["secrets"]``)
as a second line of defence behind the engine's own redaction.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from orchestration.models import Execution, NodeRun, Priority, Secret, Task
from orchestration.references import redact

PRIORITY_CHOICES = Priority.choices


# --- Task definitions (documentation of the accepted document) ---------------------


class NodeExecutionSerializer(serializers.Serializer):
    timeout = serializers.IntegerField(min_value=0, required=False, help_text="Node timeout (ms).")
    priority = serializers.ChoiceField(choices=PRIORITY_CHOICES, required=False)
    retryAttempts = serializers.IntegerField(min_value=0, required=False)
    retryDelay = serializers.IntegerField(min_value=0, required=False, help_text="ms")


class ConditionSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["expression", "content-change"])
    expression = serializers.CharField(
        required=False, help_text='e.g. "${monitoring.hasChanges == true}"'
    )
    threshold = serializers.FloatField(required=False, min_value=0, max_value=1)


class WorkflowNodeSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField(required=False)
    workflow = serializers.CharField(help_text="A registered node kind or alias (the seed calls it workflow).")
    config = serializers.JSONField(
        required=False, help_text="Checked against the kind's JSON Schema."
    )
    dependsOn = serializers.ListField(child=serializers.CharField(), required=False)
    condition = ConditionSerializer(required=False)
    inputFrom = serializers.CharField(required=False, help_text='"<node id>.output"')
    execution = NodeExecutionSerializer(required=False)
    stopOnFailure = serializers.BooleanField(required=False)


class TaskDefinitionSerializer(serializers.Serializer):
    taskId = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(required=False)
    template = serializers.CharField(required=False)
    templateVersion = serializers.CharField(required=False)
    version = serializers.CharField(required=False)
    category = serializers.CharField(required=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    priority = serializers.ChoiceField(choices=PRIORITY_CHOICES, required=False)
    timeout = serializers.IntegerField(min_value=0, required=False, help_text="Task timeout (ms).")
    maxRetries = serializers.IntegerField(min_value=0, required=False)
    retryDelay = serializers.IntegerField(min_value=0, required=False, help_text="ms")
    enabled = serializers.BooleanField(required=False)
    schedule = serializers.JSONField(required=False)
    parameters = serializers.JSONField(required=False)
    workflows = WorkflowNodeSerializer(many=True)
    notificationChannels = serializers.JSONField(required=False)
    resourceRequirements = serializers.JSONField(required=False)
    errorHandling = serializers.JSONField(required=False)


class TaskDetailSerializer(TaskDefinitionSerializer):
    enabled = serializers.BooleanField()
    createdAt = serializers.DateTimeField(read_only=True)
    updatedAt = serializers.DateTimeField(read_only=True)


# --- Tasks -------------------------------------------------------------------------


class TaskSummarySerializer(serializers.ModelSerializer):
    taskId = serializers.CharField(source="task_id")
    template = serializers.CharField(source="template_id")
    workflowCount = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    class Meta:
        model = Task
        fields = [
            "taskId",
            "name",
            "description",
            "category",
            "tags",
            "priority",
            "enabled",
            "template",
            "version",
            "workflowCount",
            "createdAt",
            "updatedAt",
        ]
        read_only_fields = fields

    def get_workflowCount(self, task: Task) -> int:
        return len(task.workflows or [])


class ProblemSerializer(serializers.Serializer):
    path = serializers.CharField()
    message = serializers.CharField()


# inline: a declared field named "errors" would shadow Serializer.errors.
ValidationResultSerializer = inline_serializer(
    name="ValidationResult",
    fields={
        "valid": serializers.BooleanField(),
        "errors": ProblemSerializer(many=True),
        "warnings": ProblemSerializer(
            many=True, help_text="References to secrets that do not exist yet (saving is allowed)."
        ),
    },
)


class ExecuteRequestSerializer(serializers.Serializer):
    input = serializers.JSONField(required=False, help_text="Input given to the root nodes.")


class ExecutionAcceptedSerializer(serializers.Serializer):
    executionId = serializers.IntegerField()
    status = serializers.CharField()


# --- Executions --------------------------------------------------------------------


class _Redacting(serializers.ModelSerializer):
    def _clean(self, value: Any) -> Any:
        return redact(value, self.context.get("secrets", ()))


class NodeRunSerializer(_Redacting):
    nodeId = serializers.CharField(source="node_id")
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)
    durationSeconds = serializers.FloatField(source="duration_seconds", allow_null=True)
    output = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    reason = serializers.SerializerMethodField()
    logs = serializers.SerializerMethodField()

    class Meta:
        model = NodeRun
        fields = [
            "nodeId",
            "workflow",
            "status",
            "reason",
            "attempts",
            "startedAt",
            "finishedAt",
            "durationSeconds",
            "output",
            "error",
            "logs",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.ANY)
    def get_output(self, run: NodeRun) -> Any:
        return self._clean(run.output)

    def get_error(self, run: NodeRun) -> str:
        return self._clean(run.error)

    def get_reason(self, run: NodeRun) -> str:
        return self._clean(run.reason)

    @extend_schema_field(OpenApiTypes.ANY)
    def get_logs(self, run: NodeRun) -> Any:
        return self._clean(run.logs)


class ExecutionSerializer(_Redacting):
    executionId = serializers.IntegerField(source="pk")
    taskId = serializers.CharField(source="task.task_id")
    statusReason = serializers.SerializerMethodField()
    triggeredBy = serializers.CharField(source="triggered_by")
    createdAt = serializers.DateTimeField(source="created_at")
    queuedAt = serializers.DateTimeField(source="queued_at", allow_null=True)
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)
    durationSeconds = serializers.FloatField(source="duration_seconds", allow_null=True)
    retryOf = serializers.IntegerField(source="retry_of_id", allow_null=True)
    # retryNumber (kept as it was): 0 for a first attempt, n for the n-th
    # retry; attemptNumber is the same in the glossary's words, from 1.
    retryNumber = serializers.IntegerField(source="previous_attempts")
    attemptNumber = serializers.IntegerField(read_only=True, source="attempt_number")
    error = serializers.SerializerMethodField()

    class Meta:
        model = Execution
        fields = [
            "executionId",
            "taskId",
            "status",
            "statusReason",
            "trigger",
            "triggeredBy",
            "priority",
            "createdAt",
            "queuedAt",
            "startedAt",
            "finishedAt",
            "durationSeconds",
            "retryOf",
            "retryNumber",
            "attemptNumber",
            "error",
        ]
        read_only_fields = fields

    def get_statusReason(self, execution: Execution) -> str:
        return self._clean(execution.status_reason)

    def get_error(self, execution: Execution) -> str:
        return self._clean(execution.error)


class ExecutionDetailSerializer(ExecutionSerializer):
    input = serializers.SerializerMethodField()
    nodes = serializers.SerializerMethodField()

    class Meta(ExecutionSerializer.Meta):
        fields = [*ExecutionSerializer.Meta.fields, "input", "nodes"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.ANY)
    def get_input(self, execution: Execution) -> Any:
        return self._clean(execution.input)

    @extend_schema_field(NodeRunSerializer(many=True))
    def get_nodes(self, execution: Execution) -> list[Any]:
        runs = execution.node_runs.order_by("id")
        return list(NodeRunSerializer(runs, many=True, context=self.context).data)


# --- Secrets -----------------------------------------------------------------------


class SecretSerializer(serializers.ModelSerializer):
    """The value is write-only: it is accepted but never returned."""

    value = serializers.CharField(
        write_only=True, trim_whitespace=False, style={"input_type": "password"}
    )
    allowedHosts = serializers.ListField(
        source="allowed_hosts",
        child=serializers.CharField(),
        required=False,
        help_text="Host names the secret may be sent to (*.example.com: any subdomain); empty: anywhere.",
    )
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)

    class Meta:
        model = Secret
        fields = ["name", "description", "value", "allowedHosts", "createdAt", "updatedAt"]


class SecretUpdateSerializer(serializers.Serializer):
    value = serializers.CharField(
        write_only=True, required=False, trim_whitespace=False, style={"input_type": "password"}
    )
    description = serializers.CharField(required=False, allow_blank=True, max_length=500)
    allowedHosts = serializers.ListField(source="allowed_hosts", child=serializers.CharField(), required=False)
