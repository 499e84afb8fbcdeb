"""Pages: the workflows catalogue (built-in web kinds and stored step workflows)."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from orchestration import registry
from orchestration.access.decorators import role_required
from orchestration.access.roles import Role
from webflows import selectors
from webflows.browser_check import browser_status
from webflows.models import BrowserSession, Workflow
from webflows.operations import OPERATIONS
from webflows.sandbox.state import sandbox_revision


@role_required(Role.VIEWER)
def workflow_list(request: HttpRequest) -> HttpResponse:
    aliases = registry.aliases()
    kinds = [
        {
            "kind": kind,
            "aliases": sorted(a for a, target in aliases.items() if target == kind.name),
            "schema": json.dumps(kind.config_schema, indent=2, ensure_ascii=False),
            "example": json.dumps(registry.example_node(kind), indent=2, ensure_ascii=False),
        }
        for kind in registry.all_kinds()
    ]
    context = {
        "kinds": kinds,
        "workflows": Workflow.objects.all(),
        "sessions": [selectors.browser_session_detail(s) for s in BrowserSession.objects.all()],
        "operations": [
            {"name": name, "description": schema.get("description", "")} for name, schema in sorted(OPERATIONS.items())
        ],
        "sandbox_revision": sandbox_revision(),
        "browser": browser_status(),
    }
    return render(request, "webflows/workflow_list.html", context)


@role_required(Role.VIEWER)
def workflow_detail(request: HttpRequest, name: str) -> HttpResponse:
    workflow = selectors.step_workflow_get(name=name)
    return render(
        request,
        "webflows/workflow_detail.html",
        {
            "workflow": workflow,
            "definition": json.dumps(workflow.as_definition(), indent=2, ensure_ascii=False),
        },
    )
