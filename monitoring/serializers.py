"""JSON shapes of the monitoring API (camelCase like the rest of the API)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from monitoring.channels import parse_channel
from monitoring.models import Alert, Channel, Delivery
from orchestration.credentials import (
    MaskedCredentialMoved,
    mask_channel_config,
    unmask_channel_config,
)


class EventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.CharField()
    taskId = serializers.SerializerMethodField()
    executionId = serializers.IntegerField(source="execution_id", allow_null=True)
    nodeId = serializers.CharField(source="node_id")
    # The metaclass pops declared fields, so these names do not shadow
    # Field.source or Serializer.data at run time.
    source = serializers.CharField()  # type: ignore[assignment]
    data = serializers.JSONField()  # type: ignore[assignment]
    createdAt = serializers.DateTimeField(source="created_at")

    def get_taskId(self, event: Any) -> str | None:
        return event.task.task_id if event.task else None


class AlertSerializer(serializers.ModelSerializer):
    taskId = serializers.SerializerMethodField()
    executionId = serializers.IntegerField(source="last_execution_id", read_only=True, allow_null=True)
    firstSeenAt = serializers.DateTimeField(source="first_seen_at", read_only=True)
    lastSeenAt = serializers.DateTimeField(source="last_seen_at", read_only=True)
    acknowledgedAt = serializers.DateTimeField(source="acknowledged_at", read_only=True, allow_null=True)
    resolvedAt = serializers.DateTimeField(source="resolved_at", read_only=True, allow_null=True)

    class Meta:
        model = Alert
        fields = [
            "id", "rule", "taskId", "status", "title", "message", "details", "level", "occurrences",
            "executionId", "firstSeenAt", "lastSeenAt", "acknowledgedAt", "resolvedAt", "resolution",
        ]
        read_only_fields = fields

    def get_taskId(self, alert: Alert) -> str | None:
        return alert.task.task_id if alert.task else None


class ChannelSerializer(serializers.ModelSerializer):
    taskId = serializers.SerializerMethodField()
    failingPermanently = serializers.BooleanField(source="failing_permanently", read_only=True)
    lastError = serializers.CharField(source="last_error", read_only=True)
    lastErrorAt = serializers.DateTimeField(source="last_error_at", read_only=True, allow_null=True)
    lastSuccessAt = serializers.DateTimeField(source="last_success_at", read_only=True, allow_null=True)
    # type and actions are checked by monitoring.channels.parse_channel (in
    # validate), the same parser as a task definition's notificationChannels.
    type = serializers.CharField(source="kind", help_text="email or webhook")
    actions = serializers.JSONField(required=False, allow_null=True, help_text="a list of alert action names")

    class Meta:
        model = Channel
        fields = [
            "id", "name", "type", "taskId", "source", "config", "actions", "enabled", "failingPermanently",
            "lastError", "lastErrorAt", "lastSuccessAt",
        ]
        read_only_fields = ["source"]

    def get_taskId(self, channel: Channel) -> str | None:
        return channel.task.task_id if channel.task else None

    def to_representation(self, instance: Channel) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["config"] = mask_channel_config(instance.config or {})
        return data

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is not None and self.instance.source == "definition":
            raise serializers.ValidationError(
                "this channel comes from its task's definition; edit notificationChannels there"
            )
        kind = attrs.get("kind", getattr(self.instance, "kind", None))
        config = attrs.get("config", getattr(self.instance, "config", {}))
        if self.instance is not None:
            try:
                config = unmask_channel_config(
                    config, self.instance.config or {}, new_kind=kind, old_kind=self.instance.kind
                )
            except MaskedCredentialMoved as exc:
                raise serializers.ValidationError({exc.path: exc.message}) from None
            attrs["config"] = config
        entry = {"type": kind, "config": config}
        if "actions" in attrs:
            entry["actions"] = attrs["actions"]
        parsed, errors = parse_channel(entry)
        if parsed is None:
            raise serializers.ValidationError({e["path"]: e["message"] for e in errors})
        if "actions" in attrs:
            attrs["actions"] = parsed.actions  # null means none
        return attrs


class DeliverySerializer(serializers.ModelSerializer):
    channelId = serializers.IntegerField(source="channel_id", read_only=True, allow_null=True)
    channel = serializers.CharField(source="channel_name", read_only=True)
    type = serializers.CharField(source="channel_kind", read_only=True)
    alertId = serializers.IntegerField(source="alert_id", read_only=True, allow_null=True)
    executionId = serializers.IntegerField(source="execution_id", read_only=True, allow_null=True)
    responseCode = serializers.IntegerField(source="response_code", read_only=True, allow_null=True)
    permanentError = serializers.BooleanField(source="permanent_error", read_only=True)
    durationMs = serializers.FloatField(source="duration_ms", read_only=True, allow_null=True)
    attemptLog = serializers.JSONField(source="attempt_log", read_only=True)
    nextAttemptAt = serializers.DateTimeField(source="next_attempt_at", read_only=True, allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    sentAt = serializers.DateTimeField(source="sent_at", read_only=True, allow_null=True)

    class Meta:
        model = Delivery
        fields = [
            "id", "channelId", "channel", "type", "alertId", "executionId", "purpose", "subject", "status",
            "attempts", "responseCode", "error", "permanentError", "durationMs", "headers", "attemptLog",
            "nextAttemptAt", "createdAt", "sentAt",
        ]
        read_only_fields = fields
