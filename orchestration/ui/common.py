"""Small helpers shared by the operator views."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """A request that went through django-htmx's middleware (for type checking)."""

    htmx: HtmxDetails


def render_page(
    request: HtmxHttpRequest, template: str, context: dict[str, Any], *, partial: str | None = None
) -> HttpResponse:
    """The whole page, or only ``partial`` of it when htmx asks (history
    restores and boosted links still get the whole page)."""
    htmx = request.htmx
    if partial and htmx and not htmx.boosted and not htmx.history_restore_request:
        return render(request, f"{template}#{partial}", context)
    return render(request, template, context)


def graph_data(workflows: Any) -> dict[str, list[dict[str, str]]]:
    """Nodes and dependency edges of a definition's ``workflows`` for dag.js.
    Only ids, names and kinds leave the server: configs may hold secrets."""
    nodes: list[dict[str, str]] = []
    edges: list[dict[str, str]] = []
    for index, workflow in enumerate(workflows if isinstance(workflows, list) else []):
        if not isinstance(workflow, dict):
            continue
        node_id = str(workflow.get("id") or f"#{index + 1}")
        nodes.append(
            {"id": node_id, "label": str(workflow.get("name") or node_id), "kind": str(workflow.get("workflow") or "")}
        )
        depends = workflow.get("dependsOn") or []
        for dependency in [depends] if isinstance(depends, str) else depends:
            edges.append({"from": str(dependency), "to": node_id})
    return {"nodes": nodes, "edges": edges}


def username(request: HttpRequest) -> str:
    return request.user.get_username() if request.user.is_authenticated else ""
