"""The Events page: the event log filtered by type, task and time, with new
events appearing live (htmx polling of the rows)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from monitoring import selectors
from orchestration.access.decorators import role_required
from orchestration.access.roles import Role
from orchestration.instants import InstantField
from orchestration.models import Event, Task
from orchestration.ui.selectors import masked, secret_values

EVENTS_SHOWN = 200
# Families offered as "<family>.*" (a prefix match, as in the API's ?type=).
FAMILIES = ("execution", "workflow", "schedule", "alert", "resource", "template")


class EventFilterForm(forms.Form):
    """The page's filters; every field optional. Times are read in the site's
    time zone (``TIME_ZONE``)."""

    type = forms.ChoiceField(required=False, label="Type")
    task = forms.ChoiceField(required=False, label="Task")
    since = InstantField(
        required=False, label="From", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )
    until = InstantField(
        required=False, label="Until", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        types = sorted(Event.objects.values_list("type", flat=True).distinct())
        families = [f"{f}.*" for f in FAMILIES if any(t.startswith(f"{f}.") for t in types)]
        cast(forms.ChoiceField, self.fields["type"]).choices = [("", "any type"), *[(f, f"{f} (all)") for f in families], *[(t, t) for t in types]]
        task_ids = Task.objects.order_by("task_id").values_list("task_id", flat=True)
        cast(forms.ChoiceField, self.fields["task"]).choices = [("", "any task"), *[(t, t) for t in task_ids]]

    def filters(self) -> dict[str, Any]:
        """Keyword arguments for ``monitoring.selectors.events_list`` (invalid
        fields are left out and shown as errors next to them)."""
        if not self.is_bound:
            return {}
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        since: datetime | None = data.get("since")
        until: datetime | None = data.get("until")
        return {
            "types": [data["type"]] if data.get("type") else [],
            "task_id": data.get("task") or None,
            "since": since,
            "until": until,
        }


def _rows(filters: dict[str, Any]) -> list[dict[str, Any]]:
    secrets = secret_values()
    events = selectors.events_list(**filters).select_related("task")[:EVENTS_SHOWN]
    return [
        {
            "event": event,
            "data": json.dumps(masked(event.data, secrets), ensure_ascii=False, sort_keys=True, default=str),
        }
        for event in events
    ]


@role_required(Role.VIEWER)
@require_GET
def events_page(request: HttpRequest) -> HttpResponse:
    """The filtered event log; ``?partial=rows`` renders only the rows (polled)."""
    form = EventFilterForm(request.GET or None)
    context = {"form": form, "rows": _rows(form.filters()), "shown": EVENTS_SHOWN}
    if request.GET.get("partial") == "rows":
        return render(request, "monitoring/events.html#event-rows", context)
    return render(request, "monitoring/events.html", context)
