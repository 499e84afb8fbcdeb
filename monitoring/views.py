"""Operator pages: the dashboard (home page), alerts and channels; and the
Prometheus endpoint."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling
from django_htmx.middleware import HtmxDetails

from monitoring import dashboard_selectors, selectors
from monitoring.alerting import alert_acknowledge, alert_resolve
from monitoring.models import Alert, AlertRule, AlertStatus, Channel, Delivery
from monitoring.outbox import delivery_destination, outbox_enabled
from monitoring.prometheus import metrics_text
from monitoring.services import channel_send_test
from orchestration.access.decorators import role_required
from orchestration.access.roles import Role

DASHBOARD_PARTIALS = ("summary", "running", "failures", "alerts")


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def login_required_polling(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """``login_required``; but a live table polling from a session that has
    expired gets 286 (stop polling) and a full reload to the login page,
    instead of the login page swapped into the table every few seconds."""
    protected = login_required(view)

    @wraps(view)
    def wrapper(request: HtmxHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.htmx and not request.user.is_authenticated:
            response = HttpResponseStopPolling()
            response["HX-Refresh"] = "true"
            return response
        return protected(request, *args, **kwargs)

    return wrapper


def _range_key(request: HttpRequest) -> str:
    key = request.GET.get("range") or "24h"
    return key if key in selectors.RANGES else "24h"


@login_required_polling
@role_required(Role.VIEWER)
@require_GET
def dashboard(request: HtmxHttpRequest) -> HttpResponse:
    range_key = _range_key(request)
    since = timezone.now() - selectors.RANGES[range_key].span
    summary = selectors.metrics_summary(range_key=range_key)
    context = {
        "range": range_key,
        "ranges": list(selectors.RANGES),
        "summary": summary,
        "outcomes": dashboard_selectors.outcome_counts(summary),
        "running": selectors.executions_running(),
        "failures": dashboard_selectors.executions_recent_problems(since=since),
        "alerts": selectors.alerts_active(limit=10),
    }
    partial = request.GET.get("partial")
    if request.htmx and partial in DASHBOARD_PARTIALS:
        return render(request, f"monitoring/dashboard.html#{partial}", context)
    return render(request, "monitoring/dashboard.html", context)


@role_required(Role.VIEWER)
@require_GET
def alerts_page(request: HtmxHttpRequest) -> HttpResponse:
    status = request.GET.get("status") or "active"
    alerts = Alert.objects.select_related("task").order_by("-last_seen_at", "-id")
    if status == "active":
        alerts = alerts.exclude(status=AlertStatus.RESOLVED)
    elif status in AlertStatus.values:
        alerts = alerts.filter(status=status)
    rule = request.GET.get("rule") or ""
    if rule in AlertRule.values:
        alerts = alerts.filter(rule=rule)
    context = {
        "alerts": alerts[:200],
        "status": status,
        "statuses": ["active", *AlertStatus.values, "all"],
        "rule": rule,
        "rules": AlertRule.choices,
        "selected": request.GET.get("alert"),
    }
    if request.htmx and request.GET.get("partial") == "rows":
        return render(request, "monitoring/alerts.html#rows", context)
    return render(request, "monitoring/alerts.html", context)


@role_required(Role.OPERATOR)
@require_POST
def alert_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=pk)
    if action == "ack":
        alert = alert_acknowledge(alert_id=alert.pk, user=request.user)
    elif action == "resolve":
        alert = alert_resolve(alert_id=alert.pk, user=request.user, resolution=f"Resolved by {request.user}")
    else:
        return HttpResponseBadRequest("unknown action")
    template = "monitoring/_alert_row.html"
    return render(request, template, {"alert": alert, "compact": request.POST.get("compact") == "1"})


@role_required(Role.VIEWER)
@require_GET
def channels_page(request: HttpRequest) -> HttpResponse:
    context = {
        "channels": Channel.objects.select_related("task").order_by("task__task_id", "position", "name"),
        "deliveries": Delivery.objects.order_by("-created_at", "-id")[:30],
    }
    return render(request, "monitoring/channels.html", context)


@role_required(Role.ADMIN)
@require_POST
def channel_test(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = channel_send_test(channel=get_object_or_404(Channel, pk=pk))
    return render(request, "monitoring/channels.html#delivery-status", _delivery_context(delivery))


def _delivery_context(delivery: Delivery) -> dict[str, Any]:
    """A test delivery and where its message goes (outbox, SMTP server, URL)."""
    return {
        "delivery": delivery,
        "destination": delivery_destination(delivery=delivery),
        "to_outbox": delivery.channel_kind == "email" and outbox_enabled(),
    }


@login_required_polling
@role_required(Role.VIEWER)
@require_GET
def delivery_status(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = get_object_or_404(Delivery, pk=pk)
    response = render(request, "monitoring/channels.html#delivery-status", _delivery_context(delivery))
    if delivery.is_final:
        # 286 tells htmx to stop polling: the delivery will not change any more.
        stop = HttpResponseStopPolling()
        stop.content = response.content
        return stop
    return response


def _metrics_refusal(request: HttpRequest) -> str:
    """Why a /metrics request is refused ("" when it is allowed).

    A bearer token, when the request gives one, decides alone: it must be the
    configured token, whatever address the request comes from (a wrong token
    from loopback is refused). Without one, the client address must be in
    WEBAUTO_METRICS_ALLOWED_IPS. Other Authorization schemes (Basic, from a
    proxy in front) are ignored. Compared as bytes: a header may hold any
    character, and hmac.compare_digest raises on non-ASCII str."""
    scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer":
        token = settings.WEBAUTO_METRICS_TOKEN
        if not token:
            return "forbidden: this server has no metrics token; scrape without one from an allowed address"
        if hmac.compare_digest(given.strip().encode("utf-8", "replace"), token.encode()):
            return ""
        return "forbidden: wrong metrics token"
    try:
        client = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        client = None
    for entry in settings.WEBAUTO_METRICS_ALLOWED_IPS:
        try:
            if client is not None and client in ipaddress.ip_network(entry, strict=False):
                return ""
        except ValueError:
            continue
    return "forbidden: metrics need a token or an allowed address"


@require_GET
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    refusal = _metrics_refusal(request)
    if refusal:
        return HttpResponse(refusal + "\n", status=403, content_type="text/plain")
    return HttpResponse(metrics_text(), content_type="text/plain; version=0.0.4; charset=utf-8")
