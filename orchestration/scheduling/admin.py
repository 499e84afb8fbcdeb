from __future__ import annotations

from django.contrib import admin

from orchestration.scheduling.models import Fire, Schedule


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
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


@admin.register(Fire)
class FireAdmin(admin.ModelAdmin):
    list_display = ("id", "schedule", "source", "scheduled_at", "fired_at", "lag_ms", "outcome", "catch_up", "execution", "execution_status")
    list_filter = ("outcome", "source", "catch_up", "execution_status")
    search_fields = ("task_key", "schedule_name", "dedup_key", "detail")
    raw_id_fields = ("schedule", "execution", "event")
    date_hierarchy = "scheduled_at"
