from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from scheduling import services
from scheduling.models import Fire, Origin, Schedule


@admin.action(description="Unschedule (delete) selected schedules made through the API or pages")
def unschedule_selected(modeladmin: ScheduleAdmin, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
    deleted = 0
    for schedule in queryset.select_related("task"):
        try:
            services.schedule_delete(schedule=schedule)
        except services.ScheduleFromDefinition as exc:
            modeladmin.message_user(request, str(exc), messages.ERROR)
        else:
            deleted += 1
    if deleted:
        modeladmin.message_user(request, f"Unscheduled {deleted} schedule(s).", messages.SUCCESS)


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    """Schedules in the admin. Deleting goes through ``services.schedule_delete``
    (beat entry released, ``schedule.deleted`` event), so a schedule that comes
    from a task's ``schedule`` block is refused here as in the API and pages."""

    list_display = (
        "id", "task", "kind", "summary", "enabled", "overlap", "misfire_policy", "next_fire_at",
        "consecutive_failures", "finished_at",
    )
    list_filter = ("kind", "enabled", "overlap", "misfire_policy", "origin", "timezone")
    search_fields = ("task__task_id", "name", "expression", "event_name")
    raw_id_fields = ("task", "periodic_task")
    readonly_fields = (
        "anchor_at", "next_fire_at", "armed_at", "periodic_task", "consecutive_failures",
        "webhook_token_hash", "definition_block", "created_at", "updated_at",
    )
    # The HMAC secret is write-only: never rendered back.
    exclude = ("webhook_secret",)
    actions = [unschedule_selected]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # Django's bulk delete would bypass the service (and its refusal).
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # What the admin may still change on a schedule from a task's definition.
    DEFINITION_EDITABLE = ("enabled", "paused_reason")

    def get_readonly_fields(self, request: HttpRequest, obj: Schedule | None = None) -> Any:
        """A schedule from a task's ``schedule`` block is owned by the definition:
        only pausing/resuming is editable here, as in the API and pages (which
        answer 409 / show the refusal for any other change)."""
        readonly = super().get_readonly_fields(request, obj)
        if obj is None or obj.origin != Origin.DEFINITION:
            return readonly
        hidden = set(self.exclude or ()) | set(self.DEFINITION_EDITABLE)
        return [f.name for f in Schedule._meta.fields if f.name not in hidden]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        schedule = self.get_object(request, object_id)
        if schedule is not None and schedule.origin == Origin.DEFINITION:
            extra_context = {**(extra_context or {}), "show_delete": False}
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        schedule = self.get_object(request, object_id)
        if schedule is not None and schedule.origin == Origin.DEFINITION:
            self.message_user(request, str(services.ScheduleFromDefinition(schedule)), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:scheduling_schedule_change", args=[schedule.pk]))
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request: HttpRequest, obj: Schedule) -> None:
        services.schedule_delete(schedule=obj)


@admin.register(Fire)
class FireAdmin(admin.ModelAdmin):
    list_display = ("id", "schedule", "source", "scheduled_at", "fired_at", "lag_ms", "outcome", "catch_up", "execution", "execution_status")
    list_filter = ("outcome", "source", "catch_up", "execution_status")
    search_fields = ("task_key", "schedule_name", "dedup_key", "detail")
    raw_id_fields = ("schedule", "execution", "event")
    date_hierarchy = "scheduled_at"
