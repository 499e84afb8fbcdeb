"""Executions: the filtered list and the live detail page (progress, node
timeline, outputs, errors, cancel and re-run)."""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling

from orchestration import services
from orchestration.access.decorators import role_required
from orchestration.access.roles import Role
from orchestration.errors import SecretsMissing
from orchestration.models import Execution, NodeRun, Task
from orchestration.ui import selectors
from orchestration.ui.common import HtmxHttpRequest, graph_data, render_page, username
from orchestration.ui.forms import ExecutionFilterForm

PAGE_SIZE = 50
EVENTS_SHOWN = 100


@role_required(Role.VIEWER)
@require_GET
def execution_list(request: HtmxHttpRequest) -> HttpResponse:
    form = ExecutionFilterForm(request.GET or None)
    page = Paginator(selectors.execution_list(**form.filters()), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = selectors.execution_rows(page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "executions": rows,
        "task_ids": list(Task.objects.values_list("task_id", flat=True)),
        "any_active": any(not row.execution.is_final for row in rows),
        "querystring": query.urlencode(),
    }
    return render_page(request, "orchestration/execution_list.html", context, partial="execution-table")


def _attempt_view(attempt: Any, secrets: list[str]) -> dict[str, Any]:
    """One entry of a node's attempt history as table cells."""
    if not isinstance(attempt, dict):
        return {"error": selectors.masked(str(attempt), secrets)}
    started = parse_datetime(str(attempt.get("startedAt") or ""))
    finished = parse_datetime(str(attempt.get("finishedAt") or ""))
    return {
        "number": attempt.get("attempt"),
        "status": str(attempt.get("status") or ""),
        "worker": str(attempt.get("worker") or ""),
        "started": started,
        "finished": finished,
        "seconds": (finished - started).total_seconds() if started and finished else None,
        "error": selectors.masked(str(attempt.get("error") or ""), secrets),
    }


_SCREENSHOT = re.compile(r"\(screenshot: ([^()\s]+\.png)\)")


def screenshot_paths(error: str) -> list[str]:
    """Paths, relative to ``MEDIA_ROOT``, of the failure screenshots a node's
    error names as ``(screenshot: <path>)`` (older runs wrote an absolute
    path under ``MEDIA_ROOT``; anything outside it is left out)."""
    root = Path(settings.MEDIA_ROOT).resolve()
    found: list[str] = []
    for raw in _SCREENSHOT.findall(error or ""):
        path = Path(raw)
        if path.is_absolute():
            try:
                path = path.resolve().relative_to(root)
            except ValueError:
                continue
        if str(path) not in found:
            found.append(str(path))
    return found


@role_required(Role.VIEWER)
@require_GET
def media_file(request: HttpRequest, path: str) -> FileResponse:
    """A file under ``MEDIA_ROOT`` (failure screenshots, node files) for a
    signed-in user. ``path`` is relative to ``MEDIA_ROOT``; a path that
    leaves it (``..``, an absolute path, a symlink out) or names no file is
    a 404."""
    root = Path(settings.MEDIA_ROOT).resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise Http404("no such file")
    return FileResponse(target.open("rb"), content_type=mimetypes.guess_type(target.name)[0] or "application/octet-stream")


def _node_view(node: NodeRun, secrets: list[str]) -> dict[str, Any]:
    """What the page shows of a node run, with stored secrets masked."""
    return {
        "screenshots": screenshot_paths(node.error),
        "run": node,
        "output_json": selectors.pretty_json(selectors.masked(node.output, secrets)) if node.output is not None else "",
        "input_json": selectors.pretty_json(selectors.masked(node.input, secrets)) if node.input is not None else "",
        "error": selectors.masked(node.error, secrets),
        "reason": selectors.masked(node.reason, secrets),
        "logs": selectors.masked(list(node.logs or []), secrets),
        "attempts": [_attempt_view(attempt, secrets) for attempt in (node.attempt_log or [])],
    }


def _live_context(execution: Execution) -> dict[str, Any]:
    secrets = selectors.secret_values()
    node_runs = list(execution.node_runs.order_by("id"))
    workflows = _workflows(execution)
    order = {str(w.get("id")): i for i, w in enumerate(workflows if isinstance(workflows, list) else []) if isinstance(w, dict)}
    node_runs.sort(key=lambda n: (order.get(n.node_id, len(order)), n.pk))
    done = sum(1 for n in node_runs if n.is_final)
    now = timezone.now()
    return {
        "execution": execution,
        "nodes": [_node_view(n, secrets) for n in node_runs],
        "statuses": {n.node_id: n.status for n in node_runs},
        "timeline": selectors.execution_timeline(execution, node_runs, now=now),
        "done": done,
        "total": len(node_runs),
        "percent": round(100 * done / len(node_runs)) if node_runs else (100 if execution.is_final else 0),
        "error": selectors.masked(execution.error, secrets),
        "status_reason": selectors.masked(execution.status_reason, secrets),
        "events": [
            {"event": e, "data_json": selectors.pretty_json(selectors.masked(e.data, secrets))}
            # The most recent ones, oldest first.
            for e in list(execution.events.order_by("-created_at", "-id")[:EVENTS_SHOWN])[::-1]
        ],
        "elapsed": (execution.finished_at or now) - execution.started_at if execution.started_at else None,
        "polling": not execution.is_final,
    }


def _workflows(execution: Execution) -> Any:
    """The nodes the execution ran: its definition snapshot, or (for a run
    recorded without one) the task's current nodes."""
    snapshot = execution.definition.get("workflows") if isinstance(execution.definition, dict) else None
    return snapshot or execution.task.workflows


def _get_execution(pk: int) -> Execution:
    return get_object_or_404(Execution.objects.select_related("task", "retry_of"), pk=pk)


@role_required(Role.VIEWER)
@require_GET
def execution_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    execution = _get_execution(pk)
    secrets = selectors.secret_values()
    context = _live_context(execution)
    context.update(
        {
            "graph": graph_data(_workflows(execution)),
            "parameters_json": selectors.pretty_json(selectors.masked(execution.parameters, secrets)),
            "input_json": selectors.pretty_json(selectors.masked(execution.input, secrets)),
            "retries": list(execution.retries.order_by("created_at")),
        }
    )
    return render(request, "orchestration/execution_detail.html", context)


def _live_response(request: HtmxHttpRequest, execution: Execution) -> HttpResponse:
    context = {**_live_context(execution), "oob": True}
    response = render(request, "orchestration/execution_detail.html#live-response", context)
    if not context["polling"]:
        # 286 tells htmx to stop polling; the final state is still swapped in.
        return HttpResponseStopPolling(response.content)
    return response


@role_required(Role.VIEWER)
@require_GET
def execution_live(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _live_response(request, _get_execution(pk))


@role_required(Role.OPERATOR)
@require_POST
def execution_cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    execution = _get_execution(pk)
    try:
        services.execution_cancel(execution_id=execution.pk, reason=f"cancelled by {username(request)}")
    except services.ExecutionStateError as exc:
        messages.info(request, str(exc))
    execution.refresh_from_db()
    if request.htmx:
        return _live_response(request, execution)
    return redirect(reverse("ui:execution-detail", args=[execution.pk]))


@role_required(Role.OPERATOR)
@require_POST
def execution_rerun(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    execution = _get_execution(pk)
    try:
        rerun = services.execution_rerun(execution_id=execution.pk, triggered_by=username(request))
    except (services.ExecutionStateError, SecretsMissing) as exc:
        messages.error(request, str(exc))
        url = reverse("ui:execution-detail", args=[execution.pk])
    else:
        messages.success(request, f"Re-running execution #{execution.pk} as #{rerun.pk}.")
        url = reverse("ui:execution-detail", args=[rerun.pk])
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)
