from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from monitoring.alerting import alert_acknowledge, alert_resolve
from monitoring.models import Alert, Channel, DailyRollup, Delivery, ExecutionRollup
from monitoring.services import channel_send_test
from orchestration.credentials import (
    MaskedCredentialMoved,
    mask_channel_config,
    unmask_channel_config,
)


class ChannelForm(forms.ModelForm):
    """The config is shown with literal credentials masked; a masked value
    saved unchanged keeps the stored one."""

    class Meta:
        model = Channel
        fields = ["name", "kind", "task", "source", "position", "config", "actions", "enabled", "failing_permanently"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and "config" in self.fields:
            self.initial["config"] = mask_channel_config(self.instance.config or {})

    def clean_config(self) -> Any:
        config = self.cleaned_data.get("config")
        if self.instance.pk and isinstance(config, dict):
            try:
                config = unmask_channel_config(
                    config,
                    self.instance.config or {},
                    new_kind=self.cleaned_data.get("kind", self.instance.kind),
                    old_kind=self.instance.kind,
                )
            except MaskedCredentialMoved as exc:
                raise forms.ValidationError(f"{exc.path}: {exc.message}") from None
        return config


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelForm
    list_display = ["name", "kind", "task", "source", "actions", "enabled", "failing_permanently", "last_success_at", "last_error_at"]
    list_filter = ["kind", "source", "enabled", "failing_permanently"]
    search_fields = ["name", "task__task_id"]
    readonly_fields = ["last_error", "last_error_at", "last_success_at", "created_at", "updated_at"]
    actions = ["send_test"]

    @admin.action(description="Send a test notification")
    def send_test(self, request: Any, queryset: Any) -> None:
        for channel in queryset:
            channel_send_test(channel=channel)
        self.message_user(request, f"Queued {queryset.count()} test notification(s).")


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "purpose", "channel_name", "channel_kind", "status", "attempts", "response_code", "duration_ms", "created_at"]
    list_filter = ["status", "channel_kind", "purpose"]
    search_fields = ["channel_name", "subject", "error"]
    readonly_fields = [f.name for f in Delivery._meta.fields]


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["id", "rule", "task", "status", "level", "occurrences", "title", "last_seen_at"]
    list_filter = ["rule", "status", "level"]
    search_fields = ["title", "message", "task__task_id"]
    readonly_fields = ["fingerprint", "first_seen_at", "last_seen_at", "acknowledged_at", "resolved_at"]
    actions = ["acknowledge", "resolve"]

    @admin.action(description="Acknowledge")
    def acknowledge(self, request: Any, queryset: Any) -> None:
        for alert in queryset:
            alert_acknowledge(alert_id=alert.pk, user=request.user)

    @admin.action(description="Resolve (sends recovery messages)")
    def resolve(self, request: Any, queryset: Any) -> None:
        for alert in queryset:
            alert_resolve(alert_id=alert.pk, user=request.user)


@admin.register(DailyRollup)
class DailyRollupAdmin(admin.ModelAdmin):
    list_display = ["day", "task_key", "counts", "duration_count", "node_failures"]
    list_filter = ["day"]
    search_fields = ["task_key"]


@admin.register(ExecutionRollup)
class ExecutionRollupAdmin(admin.ModelAdmin):
    """Read-only: rollups only ever grow by the finishing transactions
    (``monitoring.rollups``); an edit by hand would falsify the summary."""

    list_display = ["day", "task", "completed", "failed", "d_count", "d_max"]
    list_filter = ["day"]
    search_fields = ["task__task_id"]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False
