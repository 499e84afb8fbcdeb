"""Template pages: gallery, detail (parameters, graph, versions), diff, the
"Use this template" form and the task upgrade review."""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django_htmx.middleware import HtmxDetails

from orchestration import contract
from orchestration.access.decorators import role_required
from orchestration.access.roles import Role
from orchestration.errors import DefinitionInvalid
from orchestration.models import Task
from orchestration.references import to_text
from templates_app import selectors, services
from templates_app.api import diff_versions
from templates_app.diff import Change
from templates_app.forms import UseTemplateForm
from templates_app.models import Template
from templates_app.parameters import (
    MISSING,
    coerce_form_value,
    enum_choices,
    value_as_text,
)


def _shown_changes(changes: list[Change]) -> list[dict[str, str]]:
    """Changes with their values written as JSON, for tables."""
    return [
        {
            "path": c["path"],
            "op": c["op"],
            "old": to_text(c["old"]) if "old" in c else "",
            "new": to_text(c["new"]) if "new" in c else "",
        }
        for c in changes
    ]


def _get_template(template_id: str, version: str | None = None) -> Template:
    try:
        if version:
            return selectors.template_version_get(template_id=template_id, version=version)
        return selectors.template_latest(template_id=template_id)
    except Template.DoesNotExist:
        raise Http404("no such template or version") from None


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


@role_required(Role.VIEWER)
def gallery(request: HtmxHttpRequest) -> HttpResponse:
    filters = {
        "category": request.GET.get("category", "").strip(),
        "tag": request.GET.get("tag", "").strip(),
        "search": request.GET.get("q", "").strip(),
    }
    templates = list(selectors.template_list(**filters))
    counts = selectors.template_task_counts()
    for template in templates:
        template.task_count = counts.get(template.template_id, 0)  # type: ignore[attr-defined]
    context = {
        "templates": templates,
        "filters": filters,
        "categories": selectors.template_categories(),
        "tags": selectors.template_tags(),
    }
    template_name = "templates_app/gallery.html#cards" if request.htmx else "templates_app/gallery.html"
    return render(request, template_name, context)


def _parameter_rows(template: Template) -> list[dict[str, object]]:
    rows = []
    for param in template.parameters:
        rules = []
        if "enum" in param:
            rules.append("one of " + ", ".join(value_as_text(param, v) for v in param["enum"]))
        if "minimum" in param:
            rules.append(f"≥ {param['minimum']}")
        if "maximum" in param:
            rules.append(f"≤ {param['maximum']}")
        if "pattern" in param:
            rules.append(f"matches {param['pattern']}")
        rows.append(
            {
                "name": param["name"],
                "type": param.get("type", "string"),
                "required": bool(param.get("required")) and "default" not in param,
                "default": value_as_text(param, param["default"]) if "default" in param else "",
                "has_default": "default" in param,
                "rules": "; ".join(rules),
                "description": param.get("description", ""),
                "extracted": bool(param.get("extracted")),
            }
        )
    return rows


@role_required(Role.VIEWER)
def detail(request: HttpRequest, template_id: str, version: str | None = None) -> HttpResponse:
    template = _get_template(template_id, version)
    versions = list(selectors.template_versions(template_id=template_id))
    latest = versions[0]
    # Each version with the one before it, for its "diff" link.
    version_rows = [(v, versions[i + 1].version if i + 1 < len(versions) else None) for i, v in enumerate(versions)]
    tasks = selectors.template_tasks(template_id=template_id)
    return render(
        request,
        "templates_app/detail.html",
        {
            "template": template,
            "latest": latest,
            "is_latest": template.pk == latest.pk,
            "version_rows": version_rows,
            "parameter_rows": _parameter_rows(template),
            "document": template.document(),
            "tasks": tasks,
        },
    )


@role_required(Role.VIEWER)
def diff(request: HttpRequest, template_id: str) -> HttpResponse:
    versions = list(selectors.template_versions(template_id=template_id))
    if not versions:
        raise Http404("no such template")
    error = ""
    result = None
    try:
        result = diff_versions(template_id, request.GET.get("from"), request.GET.get("to"))
        result["changes"] = _shown_changes(result["changes"])
    except DefinitionInvalid as exc:
        error = exc.errors[0]["message"]
    return render(
        request,
        "templates_app/diff.html",
        {"template": versions[0], "versions": versions, "result": result, "error": error},
    )


@role_required(Role.EDITOR)
def use(request: HttpRequest, template_id: str) -> HttpResponse:
    template = _get_template(template_id, request.GET.get("version") or request.POST.get("version"))
    form = UseTemplateForm(request.POST or None, template=template)
    if request.method == "POST" and form.is_valid():
        values = form.typed_parameters()
        if form.is_valid():
            try:
                task = services.template_instantiate(
                    template=template,
                    parameters=values,
                    options=form.options(),
                    task_id=form.cleaned_data["task_id"] or None,
                    name=form.cleaned_data["task_name"] or None,
                    user=request.user,
                )
            except DefinitionInvalid as exc:
                form.add_path_errors(exc.errors)
            else:
                messages.success(request, f"Task {task.task_id} created from {template.name} {template.version}.")
                return redirect(f"/tasks/{task.task_id}/")
    return render(request, "templates_app/use.html", {"template": template, "form": form})


@role_required(Role.EDITOR)
def upgrade(request: HttpRequest, template_id: str, task_id: str) -> HttpResponse:
    task = get_object_or_404(Task, task_id=task_id, template_id=template_id)
    target = _get_template(template_id, request.GET.get("version") or request.POST.get("version"))
    overrides: dict[str, object] = {}
    field_errors: dict[str, str] = {}
    if request.method == "POST":
        for param in target.parameters:
            key = f"param-{param['name']}"
            if key in request.POST:
                value, problem = coerce_form_value(param, request.POST.get(key))
                if problem:
                    field_errors[param["name"]] = problem
                elif value is not MISSING:
                    overrides[param["name"]] = value
        if request.POST.get("confirm") and not field_errors:
            try:
                services.task_upgrade(
                    task=task,
                    template=target,
                    parameters=overrides or None,
                    expected_version=request.POST.get("from_version", ""),
                    user=request.user,
                )
            except DefinitionInvalid as exc:
                for error in exc.errors:
                    field_errors.setdefault(error["path"].removeprefix("parameters."), error["message"])
            else:
                messages.success(request, f"Task {task.task_id} now uses {target.name} {target.version}.")
                return redirect(f"/tasks/{task.task_id}/")
    plan = services.task_upgrade_preview(task=task, template=target, parameters=overrides or None)
    for error in plan.errors:
        field_errors.setdefault(error["path"].removeprefix("parameters."), error["message"])
    needs_input = [
        {
            "param": p,
            "choices": enum_choices(p) if "enum" in p else None,
            "value": value_as_text(p, plan.parameters.get(p["name"], MISSING)),
            "error": field_errors.get(p["name"], ""),
        }
        for p in target.parameters
        if p["name"] in field_errors or p["name"] in overrides
    ]
    return render(
        request,
        "templates_app/upgrade.html",
        {
            "task": task,
            "template": target,
            "versions": list(selectors.template_versions(template_id=template_id)),
            "plan": plan,
            "changes": _shown_changes(plan.changes),
            "needs_input": needs_input,
            "other_errors": {k: v for k, v in field_errors.items() if k not in {p["name"] for p in target.parameters}},
        },
    )


def _json_errors(text: str) -> tuple[object, list[dict[str, str]]]:
    try:
        return json.loads(text), []
    except json.JSONDecodeError as exc:
        return None, [{"path": "", "message": f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"}]


def schema_fields() -> list[dict[str, str]]:
    """The template document's top-level fields with their descriptions, from
    the published template schema (``orchestration.contract``), for the form."""
    document = contract.schema("template-definition")
    required = set(document.get("required", []))
    return [
        {"name": name, "description": str(spec.get("description", "")), "required": "yes" if name in required else ""}
        for name, spec in document["properties"].items()
    ]


@role_required(Role.EDITOR)
def create(request: HttpRequest) -> HttpResponse:
    """A new template from its JSON document."""
    text = request.POST.get("document", "")
    errors: list[dict[str, str]] = []
    if request.method == "POST":
        document, errors = _json_errors(text)
        if not errors:
            try:
                template = services.template_create(document=document, user=request.user)
            except DefinitionInvalid as exc:
                errors = exc.errors
            else:
                messages.success(request, f"Template {template.template_id} {template.version} created.")
                return redirect("template-detail", template_id=template.template_id)
    return render(
        request,
        "templates_app/edit.html",
        {
            "template": None,
            "text": text or json.dumps(NEW_TEMPLATE, ensure_ascii=False, indent=2),
            "errors": errors,
            "schema_fields": schema_fields(),
        },
    )


@role_required(Role.EDITOR)
def new_version(request: HttpRequest, template_id: str) -> HttpResponse:
    """A new version from the edited JSON of the latest one (versions are never changed in place)."""
    latest = _get_template(template_id)
    errors: list[dict[str, str]] = []
    if request.method == "POST":
        text = request.POST.get("document", "")
        changes, errors = _json_errors(text)
        if not errors:
            try:
                template = services.template_version_create(template_id=template_id, changes=changes, user=request.user)
            except DefinitionInvalid as exc:
                errors = exc.errors
            else:
                messages.success(request, f"Version {template.version} of {template.template_id} created.")
                return redirect("template-detail", template_id=template_id)
    else:
        document = {k: v for k, v in latest.definition.items() if k != "version"}
        text = json.dumps(document, ensure_ascii=False, indent=2)
    context = {"template": latest, "text": text, "errors": errors, "schema_fields": schema_fields()}
    return render(request, "templates_app/edit.html", context)


# What the "New template" page starts from.
NEW_TEMPLATE = {
    "id": "my-template",
    "name": "My template",
    "description": "",
    "version": "1.0.0",
    "category": "web",
    "tags": [],
    "parameters": [{"name": "url", "type": "string", "required": True, "description": "Page to analyse"}],
    "workflows": [{"id": "analysis", "workflow": "content-analysis", "config": {"url": "${url}"}}],
}
