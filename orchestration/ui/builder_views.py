"""The DAG builder: create and edit a task as its JSON definition, with live
validation (the same checks as the API) and a graph preview.

The page keeps one textarea holding the whole definition; the form fields and
the graph are views of it drawn by ``static/js/builder.js``. Whatever is posted
(validate or save) is that JSON document, so the builder and an imported or
exported file can never drift apart.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from orchestration import contract, jsoninput, registry, services
from orchestration.access.decorators import role_required
from orchestration.access.roles import Role
from orchestration.credentials import mask_definition
from orchestration.definition_export import task_to_definition
from orchestration.definitions import validate_task_definition
from orchestration.errors import DefinitionInvalid
from orchestration.models import Priority, Task

NEW_TASK: dict[str, Any] = {
    "taskId": "",
    "name": "",
    "description": "",
    "category": "",
    "tags": [],
    "priority": "normal",
    "parameters": {},
    "workflows": [],
}

_NODE_PATH = re.compile(r"^workflows\[(\d+)\]")


def kinds_catalogue() -> list[dict[str, Any]]:
    """Every kind a node can use, with its config schema, for the kind picker and
    the generated config forms: the registered kinds, then the stored step
    workflows (found through the registry's providers)."""
    aliases: dict[str, list[str]] = {}
    for alias, name in registry.aliases().items():
        aliases.setdefault(name, []).append(alias)
    kinds = [*registry.all_kinds(), *registry.provided_kinds()]
    return [
        {
            "name": kind.name,
            "description": kind.description,
            "output": kind.output_description,
            "schema": kind.config_schema,
            "aliases": sorted(set(kind.aliases) | set(aliases.get(kind.name, []))),
        }
        for kind in kinds
    ]


def parse_definition(text: str) -> tuple[Any, list[dict[str, str]]]:
    """The posted JSON document, or the reason it is not one."""
    try:
        document = jsoninput.load(text or "")
    except jsoninput.JsonInputError as exc:
        return None, exc.errors
    if not isinstance(document, dict):
        return None, [{"path": "", "message": "the definition must be a JSON object"}]
    return document, []


def definition_errors(
    document: Any, *, original_task_id: str | None, warnings: list[dict[str, str]] | None = None
) -> list[dict[str, str]]:
    """All problems of the definition, as the API would report them, plus a
    clash with an existing task's id (which only saving could otherwise tell).
    References to secrets not stored yet go to ``warnings`` when it is given."""
    errors = list(validate_task_definition(document, warnings=warnings))
    task_id = document.get("taskId") if isinstance(document, dict) else None
    if isinstance(task_id, str) and task_id:
        if original_task_id is None and Task.objects.filter(task_id=task_id).exists():
            errors.append({"path": "taskId", "message": f"a task with taskId {task_id!r} already exists"})
        elif original_task_id is not None and task_id != original_task_id:
            errors.append({"path": "taskId", "message": f"the taskId of an existing task cannot change (it is {original_task_id!r})"})
    return errors


def errors_by_node(document: Any, errors: list[dict[str, str]]) -> dict[str, str]:
    """First error message per node id, for the red rings in the graph preview."""
    workflows = document.get("workflows") if isinstance(document, dict) else None
    result: dict[str, str] = {}
    for error in errors:
        match = _NODE_PATH.match(error.get("path", ""))
        if not match or not isinstance(workflows, list):
            continue
        index = int(match.group(1))
        if index < len(workflows) and isinstance(workflows[index], dict):
            node_id = str(workflows[index].get("id") or f"#{index + 1}")
            result.setdefault(node_id, error["message"])
    return result


def _builder(request: HttpRequest, *, task: Task | None, text: str, errors: list[dict[str, str]], status: int = 200) -> HttpResponse:
    context = {
        "task": task,
        "definition_text": text,
        "errors": errors,
        "node_errors": errors_by_node(parse_definition(text)[0], errors),
        "kinds": kinds_catalogue(),
        "priorities": [value for value, _ in Priority.choices],
        "validate_url": reverse("ui:builder-validate"),
        # The published contract: its field descriptions are the form's help texts.
        "definition_schema": contract.schema("task-definition"),
    }
    return render(request, "orchestration/builder.html", context, status=status)


def _save(request: HttpRequest, task: Task | None) -> HttpResponse:
    text = request.POST.get("definition", "")
    document, errors = parse_definition(text)
    if not errors:
        try:
            if task is None:
                saved = services.task_create(definition=document, user=request.user)
                messages.success(request, f"Created task {saved.task_id}.")
            else:
                saved = services.task_update(task=task, definition=document)
                messages.success(request, f"Saved task {saved.task_id}.")
            for warning in saved.definition_warnings:
                messages.warning(request, f"{warning['path']}: {warning['message']}")
        except DefinitionInvalid as exc:
            errors = exc.errors
        else:
            return redirect(reverse("ui:task-detail", args=[saved.task_id]))
    return _builder(request, task=task, text=text, errors=errors, status=400)


@role_required(Role.EDITOR)
def builder_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _save(request, None)
    return _builder(request, task=None, text=json.dumps(NEW_TASK, indent=2), errors=[])


@role_required(Role.EDITOR)
def builder_edit(request: HttpRequest, task_id: str) -> HttpResponse:
    task = get_object_or_404(Task, task_id=task_id)
    if request.method == "POST":
        return _save(request, task)
    text = json.dumps(mask_definition(task_to_definition(task)), indent=2, ensure_ascii=False)
    return _builder(request, task=task, text=text, errors=[])


@role_required(Role.EDITOR)
@require_POST
def builder_validate(request: HttpRequest) -> HttpResponse:
    """Validation errors of the posted definition (an htmx partial)."""
    document, errors = parse_definition(request.POST.get("definition", ""))
    warnings: list[dict[str, str]] = []
    if not errors:
        original = request.POST.get("original_task_id") or None
        errors = definition_errors(document, original_task_id=original, warnings=warnings)
    context = {
        "errors": errors,
        "warnings": warnings,
        "node_errors": errors_by_node(document, errors),
        "checked": True,
        "missing_secret": bool(warnings) or any("stored secret" in e["message"] for e in errors),
    }
    return render(request, "orchestration/builder.html#validation", context)
