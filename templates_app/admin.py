"""Admin for template versions: read-only, because versions are immutable
(a new version is made through the API or the template pages)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from templates_app.models import Template


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    list_display = ("template_id", "version", "name", "category", "created_by", "created_at")
    list_filter = ("category", "created_at")
    search_fields = ("template_id", "name", "description", "category")
    ordering = ("template_id", "-major", "-minor", "-patch")
    readonly_fields = (
        "template_id", "version", "name", "description", "category", "tags", "parameters",
        "extracted_parameters", "secrets", "workflows", "definition", "created_by", "created_at",
    )
    exclude = ("major", "minor", "patch")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
