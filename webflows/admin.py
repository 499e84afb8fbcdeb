from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from webflows.models import BrowserSession, SandboxState, Workflow
from webflows.sandbox.state import sandbox_advance, sandbox_reset
from webflows.services import step_workflow_definition_errors


class WorkflowAdminForm(forms.ModelForm):
    """Validates the steps like the API does (every problem with its JSON path)."""

    class Meta:
        model = Workflow
        fields = [
            "name", "version", "description", "input_schema", "steps", "login_check",
            "session_site", "save_session", "browser",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        definition = {
            "name": data.get("name", ""),
            "version": data.get("version") or "1.0.0",
            "description": data.get("description") or "",
            "inputSchema": data.get("input_schema") or {},
            "steps": data.get("steps"),
            "loginCheck": data.get("login_check"),
            "browser": bool(data.get("browser")),
        }
        if data.get("session_site"):
            definition["session"] = {"site": data["session_site"], "save": bool(data.get("save_session"))}
        errors = step_workflow_definition_errors(definition)
        if errors:
            raise forms.ValidationError([f"{e['path'] or '(definition)'}: {e['message']}" for e in errors])
        return data


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    form = WorkflowAdminForm
    list_display = ["name", "version", "step_count", "needs_browser", "session_site", "updated_at"]
    list_filter = ["browser", "save_session", "updated_at"]
    search_fields = ["name", "description", "session_site"]
    readonly_fields = ["created_at", "updated_at"]

    @admin.display(description="steps")
    def step_count(self, obj: Workflow) -> int:
        return len(obj.steps or [])

    @admin.display(boolean=True, description="browser")
    def needs_browser(self, obj: Workflow) -> bool:
        return obj.needs_browser


@admin.register(BrowserSession)
class BrowserSessionAdmin(admin.ModelAdmin):
    list_display = ["site", "cookie_count", "source", "updated_at"]
    list_filter = ["source"]
    search_fields = ["site"]
    # Cookie values are credentials: the admin shows names only.
    exclude = ["cookies"]
    readonly_fields = ["cookie_names_display", "created_at", "updated_at"]

    @admin.display(description="cookies")
    def cookie_count(self, obj: BrowserSession) -> int:
        return len(obj.cookies or [])

    @admin.display(description="cookie names")
    def cookie_names_display(self, obj: BrowserSession) -> str:
        return ", ".join(obj.cookie_names)


@admin.register(SandboxState)
class SandboxStateAdmin(admin.ModelAdmin):
    list_display = ["id", "revision", "updated_at"]
    actions = ["advance", "reset"]

    @admin.action(description="Advance the sandbox (new post, new images, edited page)")
    def advance(self, request: HttpRequest, queryset: QuerySet[SandboxState]) -> None:
        messages.success(request, f"Sandbox is now at revision {sandbox_advance()}.")

    @admin.action(description="Reset the sandbox to revision 0")
    def reset(self, request: HttpRequest, queryset: QuerySet[SandboxState]) -> None:
        sandbox_reset()
        messages.success(request, "Sandbox reset to revision 0.")
