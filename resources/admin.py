from __future__ import annotations

from django.contrib import admin

from resources.models import (
    Allocation,
    Preemption,
    ResourcePool,
    ResourceRequest,
    SystemSample,
    Worker,
)


@admin.register(ResourcePool)
class ResourcePoolAdmin(admin.ModelAdmin):
    list_display = ["name", "cpu_limit_millicores", "memory_limit_bytes", "dispatch_seq", "last_dispatch_at", "last_reconcile_at"]
    readonly_fields = ["dispatch_seq", "last_dispatch_at", "last_reconcile_at"]


@admin.register(Worker)
class WorkerAdmin(admin.ModelAdmin):
    list_display = ["name", "host", "status", "slots", "cores", "cpu_percent", "memory_available_bytes", "last_heartbeat_at"]
    list_filter = ["status", "host"]
    search_fields = ["name", "host"]
    date_hierarchy = "last_heartbeat_at"


@admin.register(ResourceRequest)
class ResourceRequestAdmin(admin.ModelAdmin):
    list_display = ["execution", "priority", "cpu_millicores", "memory_bytes", "source", "waiting_since", "reason", "admissions", "preemptions"]
    list_filter = ["priority", "source"]
    search_fields = ["execution__task__task_id", "reason"]
    raw_id_fields = ["execution"]


@admin.register(Allocation)
class AllocationAdmin(admin.ModelAdmin):
    list_display = ["id", "execution", "worker", "priority", "cpu_millicores", "memory_bytes", "allocated_at", "released_at", "release_reason"]
    list_filter = ["release_reason", "priority", "worker"]
    search_fields = ["execution__task__task_id"]
    raw_id_fields = ["execution", "worker"]
    date_hierarchy = "allocated_at"


@admin.register(Preemption)
class PreemptionAdmin(admin.ModelAdmin):
    list_display = ["created_at", "victim", "victim_priority", "beneficiary", "beneficiary_priority", "resumed_at"]
    list_filter = ["victim_priority", "beneficiary_priority"]
    search_fields = ["victim__task__task_id", "beneficiary__task__task_id", "reason"]
    raw_id_fields = ["victim", "beneficiary"]
    date_hierarchy = "created_at"


@admin.register(SystemSample)
class SystemSampleAdmin(admin.ModelAdmin):
    list_display = ["taken_at", "host", "cpu_percent", "memory_used_bytes", "memory_total_bytes", "load_1m", "running_executions", "queued_executions"]
    list_filter = ["host"]
    search_fields = ["host"]
    date_hierarchy = "taken_at"
