"""The Resources page: worker cards, capacity, the admission queue, open
allocations, usage charts and the analysis. Parts refresh through htmx."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django_htmx.middleware import HtmxDetails

from orchestration.access.decorators import role_required
from orchestration.access.roles import Role
from resources import selectors
from resources.analysis import resource_analysis

RANGES = {"6h": 6, "24h": 24, "7d": 24 * 7, "30d": 24 * 30}
QUEUE_ROWS = 50  # rows of the queue and allocation tables
PARTIALS = ("summary", "workers", "queue", "allocations", "analysis")


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


@role_required(Role.VIEWER)
def resources_page(request: HtmxHttpRequest) -> HttpResponse:
    range_name = request.GET.get("range", "24h")
    if range_name not in RANGES:
        range_name = "24h"
    partial = request.GET.get("partial", "")
    wanted = partial if request.htmx and partial in PARTIALS else ""
    context: dict[str, Any] = {"range": range_name, "ranges": list(RANGES), "hours": RANGES[range_name]}
    if wanted in ("", "summary"):
        context["summary"] = selectors.capacity_summary()
    if wanted in ("", "workers"):
        context["workers"] = selectors.worker_views()
    if wanted in ("", "queue"):
        context["queue"] = selectors.queue_entries(limit=QUEUE_ROWS)
        context["queue_total"] = selectors.queue_length()
    if wanted in ("", "allocations"):
        open_allocations = selectors.allocations()
        context["allocations"] = open_allocations[:QUEUE_ROWS]
        context["allocations_total"] = open_allocations.count()
        context["preemptions"] = selectors.preemptions()[:10]
    if wanted in ("", "analysis"):
        end = timezone.now()
        context["analysis"] = resource_analysis(start=end - timedelta(hours=RANGES[range_name]), end=end)
    if wanted:
        return render(request, f"resources/index.html#{wanted}", context)
    return render(request, "resources/index.html", context)
