"""Django admin for the core orchestration models."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse

from orchestration.credentials import mask_definition
from orchestration.models import (
    EXECUTION_ACTIVE,
    Event,
    Execution,
    NodeRun,
    NodeState,
    Secret,
    Task,
)
from orchestration.secret_hosts import allowed_hosts_errors, normalize_hosts
from orchestration.secret_services import value_errors
from orchestration.services import ExecutionStateError, execution_cancel
from orchestration.task_services import TaskInUse, task_delete


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    """Tasks are read-only here: creating and editing go through the DAG builder
    or the API, which validate the whole definition and keep schedules in step."""

    list_display = ("task_id", "name", "category", "priority", "enabled", "template_id", "updated_at")
    list_filter = ("enabled", "priority", "category")
    search_fields = ("task_id", "name", "description", "template_id")
    date_hierarchy = "created_at"
    # Shown through notification_channels_shown, with literal credentials masked.
    exclude = ("notification_channels",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        shown = [field.name for field in Task._meta.fields if field.name != "notification_channels"]
        return [*shown, "notification_channels_shown"]

    @admin.display(description="Notification channels")
    def notification_channels_shown(self, obj: Task) -> str:
        masked = mask_definition({"notificationChannels": obj.notification_channels or []})
        return json.dumps(masked["notificationChannels"], indent=2, ensure_ascii=False)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.executions.filter(status__in=EXECUTION_ACTIVE).exists():
            return False
        return super().has_delete_permission(request, obj)

    def view_on_site(self, obj: Task) -> str:
        return reverse("ui:task-detail", args=[obj.task_id])

    def delete_model(self, request: HttpRequest, obj: Task) -> None:
        task_delete(task=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        for task in queryset:
            try:
                task_delete(task=task)
            except TaskInUse as exc:
                self.message_user(request, str(exc), level=messages.ERROR)


class NodeRunInline(admin.TabularInline):
    model = NodeRun
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("node_id", "workflow", "status", "attempts", "started_at", "finished_at", "reason")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Node runs are created by the engine with their execution, never by hand.
        return False


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):
    """Executions are read-only here: every field is the engine's. A status
    saved by hand would skip the engine's finish (the event, the Prometheus
    counter, the daily rollup, the release of the admission slot), so the
    counters and the history would disagree. Cancelling goes through the
    engine, as the API's ``cancel`` does (the "Cancel" action); an active
    execution cannot be deleted."""

    list_display = ("id", "task", "status", "trigger", "triggered_by", "priority", "created_at", "started_at", "finished_at")
    list_filter = ("status", "trigger", "priority")
    search_fields = ("task__task_id", "task__name", "triggered_by", "error", "status_reason")
    list_select_related = ("task",)
    date_hierarchy = "created_at"
    inlines = [NodeRunInline]
    actions = ["cancel_executions"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in Execution._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.status in EXECUTION_ACTIVE:
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Execution]) -> None:
        active = queryset.filter(status__in=EXECUTION_ACTIVE)
        if active.exists():
            self.message_user(
                request, f"Not deleted: {active.count()} active execution(s); cancel them first.", level=messages.ERROR
            )
        super().delete_queryset(request, queryset.exclude(status__in=EXECUTION_ACTIVE))

    @admin.action(description="Cancel selected executions", permissions=["change"])
    def cancel_executions(self, request: HttpRequest, queryset: QuerySet[Execution]) -> None:
        """Cancel each selected execution with the engine's cancel (as ``POST
        /api/v1/executions/{id}/cancel/``); finished ones are reported, not changed."""
        cancelled, refused = 0, []
        for execution in queryset:
            try:
                execution_cancel(execution_id=execution.pk, reason=f"cancelled by {request.user.get_username()}")
            except ExecutionStateError as exc:
                refused.append(str(exc))
            else:
                cancelled += 1
        if cancelled:
            self.message_user(request, f"Cancelling {cancelled} execution(s).", level=messages.SUCCESS)
        for message in refused:
            self.message_user(request, message, level=messages.WARNING)


@admin.register(NodeRun)
class NodeRunAdmin(admin.ModelAdmin):
    """Node runs are read-only here, for the same reason as executions: the
    engine owns their status, attempts and timings."""

    list_display = ("id", "execution", "node_id", "workflow", "status", "attempts", "worker", "started_at", "finished_at")
    list_filter = ("status", "workflow")
    search_fields = ("node_id", "workflow", "execution__task__task_id", "error", "reason")
    list_select_related = ("execution__task",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in NodeRun._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A node run goes with its execution (deleting one alone would break the run's graph).
        return False


class SecretForm(forms.ModelForm):
    """The value is write-only: the field is never filled from the database, and
    leaving it blank on an existing secret keeps the stored value."""

    value = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. Leave blank to keep the current value.",
    )

    class Meta:
        model = Secret
        fields = ("name", "value", "description", "allowed_hosts")

    def clean_value(self) -> str:
        value = self.cleaned_data.get("value", "")
        if not value:
            if self.instance.pk is None:
                raise forms.ValidationError("A new secret needs a value.")
            return self.instance.value
        errors = value_errors(value)
        if errors:
            raise forms.ValidationError(errors[0]["message"])
        return value

    def clean_allowed_hosts(self) -> list[str]:
        hosts = self.cleaned_data.get("allowed_hosts") or []
        errors = allowed_hosts_errors(hosts)
        if errors:
            raise forms.ValidationError("; ".join(e["message"] for e in errors))
        return normalize_hosts(hosts)


@admin.register(Secret)
class SecretAdmin(admin.ModelAdmin):
    form = SecretForm
    list_display = ("name", "description", "updated_at")
    search_fields = ("name", "description")
    readonly_fields = ("created_at", "updated_at")


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "type", "task", "execution", "node_id", "source")
    list_filter = ("type", "source")
    search_fields = ("type", "node_id", "task__task_id")
    list_select_related = ("task", "execution")
    raw_id_fields = ("task", "execution")
    date_hierarchy = "created_at"


@admin.register(NodeState)
class NodeStateAdmin(admin.ModelAdmin):
    list_display = ("task", "node_id", "key", "updated_at")
    list_filter = ("key",)
    search_fields = ("task__task_id", "node_id", "key")
    list_select_related = ("task",)
    raw_id_fields = ("task",)
