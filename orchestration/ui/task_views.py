"""Tasks: the list (search, filters, enable toggle, run now) and the detail page
with the live DAG."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling

from orchestration import services
from orchestration.access.decorators import role_required
from orchestration.access.roles import Role
from orchestration.credentials import mask_definition
from orchestration.definition_export import task_to_definition
from orchestration.errors import DefinitionInvalid, SecretsMissing
from orchestration.models import Execution, Task, Trigger
from orchestration.task_services import TaskInUse
from orchestration.ui import hooks, selectors
from orchestration.ui.common import HtmxHttpRequest, graph_data, render_page, username
from orchestration.ui.forms import TaskFilterForm

PAGE_SIZE = 50
HISTORY_SIZE = 25


@role_required(Role.VIEWER)
@require_GET
def task_list(request: HtmxHttpRequest) -> HttpResponse:
    form = TaskFilterForm(request.GET or None)
    page = Paginator(selectors.task_list(**form.filters()), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "form": form,
        "page": page,
        "rows": selectors.task_rows(page.object_list),
        "querystring": _without_page(request),
    }
    return render_page(request, "orchestration/task_list.html", context, partial="task-table")


def _without_page(request: HtmxHttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


def _row(request: HtmxHttpRequest, task: Task, *, started: int | None = None, polled: bool = False) -> HttpResponse:
    """One task-list row; ``started`` is the execution that Run now started
    from this row (linked in the row while it follows that run); a ``polled``
    row flashes only when its run has finished."""
    row = selectors.task_rows(selectors.task_list().filter(pk=task.pk))[0]
    context = {"row": row, "started": started, "polled": polled}
    return render(request, "orchestration/task_list.html#task-row", context)


@role_required(Role.VIEWER)
@require_GET
def task_row(request: HtmxHttpRequest, task_id: str) -> HttpResponse:
    """The polled task-list row: it re-renders itself until its last run is
    final, then the swapped-in row no longer polls."""
    task = get_object_or_404(Task, task_id=task_id)
    started = request.GET.get("started", "")
    return _row(request, task, started=int(started) if started.isdigit() else None, polled=True)


@role_required(Role.OPERATOR)
@require_POST
def task_toggle(request: HtmxHttpRequest, task_id: str) -> HttpResponse:
    task = get_object_or_404(Task, task_id=task_id)
    # The list's switch sends the state it shows; a plain button just flips it.
    enabled = request.POST.get("enabled") == "on" if "set" in request.POST else not task.enabled
    try:
        # Through the definition, so schedules and other listeners follow the change.
        task = services.task_update(task=task, definition={"enabled": enabled}, partial=True)
    except DefinitionInvalid as exc:
        problems = "; ".join(f"{e['path']}: {e['message']}" for e in exc.errors)
        messages.error(
            request, f"{task.task_id} cannot be changed until its definition is fixed: {problems}"
        )
        if request.htmx:
            return HttpResponseClientRedirect(reverse("ui:task-edit", args=[task.task_id]))
    else:
        if request.htmx:
            return _row(request, task)
        messages.success(
            request, f"{task.task_id} is now {'enabled' if task.enabled else 'disabled'}."
        )
    return redirect(reverse("ui:task-detail", args=[task.task_id]))


@role_required(Role.OPERATOR)
@require_POST
def task_run(request: HtmxHttpRequest, task_id: str) -> HttpResponse:
    task = get_object_or_404(Task, task_id=task_id)
    try:
        execution = services.execution_create(
            task=task, trigger=Trigger.MANUAL, triggered_by=username(request)
        )
    except SecretsMissing as exc:
        messages.error(request, str(exc))
        detail = reverse("ui:task-detail", args=[task.task_id])
        if request.htmx:
            return HttpResponseClientRedirect(detail)
        return redirect(detail)
    url = reverse("ui:execution-detail", args=[execution.pk])
    if request.htmx and request.POST.get("stay"):
        return _row(request, task, started=execution.pk)
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _selected_execution(request: HtmxHttpRequest, task: Task) -> Execution | None:
    wanted = request.GET.get("execution")
    if wanted and wanted.isascii() and wanted.isdigit():
        return get_object_or_404(Execution, pk=int(wanted), task=task)
    return task.executions.order_by("-created_at", "-id").first()


def _live_context(request: HtmxHttpRequest, task: Task) -> dict[str, object]:
    selected = _selected_execution(request, task)
    following_latest = "execution" not in request.GET
    node_runs = list(selected.node_runs.order_by("id")) if selected else []
    history = selectors.execution_rows(task.executions.order_by("-created_at", "-id")[:HISTORY_SIZE])
    return {
        "task": task,
        "selected": selected,
        "statuses": {n.node_id: n.status for n in node_runs},
        "history": history,
        "following_latest": following_latest,
        # Fast while the shown run is active; slowly while following the latest
        # run, to pick up a run started elsewhere (a schedule, the API).
        "poll_every": "2s" if selected and not selected.is_final else ("10s" if following_latest else ""),
    }


@role_required(Role.VIEWER)
@require_GET
def task_detail(request: HtmxHttpRequest, task_id: str) -> HttpResponse:
    task = get_object_or_404(Task, task_id=task_id)
    context = _live_context(request, task)
    secrets = selectors.secret_values()
    definition = selectors.masked(mask_definition(task_to_definition(task)), secrets)
    selected = context["selected"]
    # The graph of the selected run is the definition that run used, so that an
    # edit since then does not colour the wrong nodes.
    workflows = (
        selected.definition.get("workflows")
        if isinstance(selected, Execution)
        and isinstance(selected.definition, dict)
        and selected.definition.get("workflows")
        else definition.get("workflows", [])
    )
    context.update(
        {
            "definition": definition,
            "definition_json": selectors.pretty_json(definition),
            "schedules": hooks.task_schedules(task),
            "graph": graph_data(workflows),
            "nodes": [
                {
                    "node": node,
                    "condition_json": selectors.pretty_json(node["condition"])
                    if node.get("condition")
                    else "",
                }
                for node in definition.get("workflows", [])
                if isinstance(node, dict)
            ],
            "parameters": [
                (name, selectors.pretty_json(value))
                for name, value in (definition.get("parameters") or {}).items()
            ],
        }
    )
    return render(request, "orchestration/task_detail.html", context)


@role_required(Role.VIEWER)
@require_GET
def task_live(request: HtmxHttpRequest, task_id: str) -> HttpResponse:
    """The polled part of the task page: run status, node colours and history."""
    task = get_object_or_404(Task, task_id=task_id)
    context = _live_context(request, task)
    response = render(request, "orchestration/task_detail.html#live", context)
    if not context["poll_every"]:
        return HttpResponseStopPolling(response.content)
    return response


@role_required(Role.EDITOR)
@require_POST
def task_delete(request: HtmxHttpRequest, task_id: str) -> HttpResponse:
    task = get_object_or_404(Task, task_id=task_id)
    try:
        services.task_delete(task=task)
    except TaskInUse as exc:
        messages.error(request, str(exc))
        return redirect(reverse("ui:task-detail", args=[task_id]))
    messages.success(request, f"Deleted task {task_id} and its history.")
    return redirect(reverse("ui:task-list"))


@role_required(Role.VIEWER)
@require_GET
def task_export(request: HtmxHttpRequest, task_id: str) -> JsonResponse:
    """The task's definition as a JSON file, the same document the API exports."""
    task = get_object_or_404(Task, task_id=task_id)
    response = JsonResponse(
        mask_definition(task_to_definition(task)), json_dumps_params={"indent": 2, "ensure_ascii": False}
    )
    response["Content-Disposition"] = f'attachment; filename="{task.task_id}.json"'
    return response
