"""The words of notifications: alert messages and reports, rendered from
templates under ``templates/monitoring/``."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.utils import timezone

from monitoring.models import Alert
from monitoring.transports import Message

REPORT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")


class ReportTemplateMissing(LookupError):
    pass


def alert_payload(alert: Alert) -> dict[str, Any]:
    task = alert.task
    return {
        "id": alert.pk,
        "rule": alert.rule,
        "status": alert.status,
        "level": alert.level,
        "occurrences": alert.occurrences,
        "title": alert.title,
        "message": alert.message,
        "taskId": task.task_id if task else None,
        "taskName": task.name if task else None,
        "executionId": alert.last_execution_id,
        "firstSeenAt": alert.first_seen_at.isoformat() if alert.first_seen_at else None,
        "lastSeenAt": alert.last_seen_at.isoformat() if alert.last_seen_at else None,
        "resolvedAt": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "resolution": alert.resolution,
        "details": alert.details,
        "url": f"{settings.WEBAUTO_BASE_URL}/alerts/?alert={alert.pk}",
    }


def alert_message(*, alert: Alert, event: str, action: str = "") -> Message:
    """The message for ``event`` (alert.triggered, alert.escalated, alert.resolved)."""
    payload = alert_payload(alert)
    context = {"event": event, "alert": payload, "action": action, "now": timezone.now()}
    subject = " ".join(render_to_string("monitoring/messages/alert_subject.txt", context).split())
    text = render_to_string("monitoring/messages/alert.txt", context)
    html = render_to_string("monitoring/messages/alert.html", context)
    data = {"event": event, "action": action, "alert": payload, "subject": subject, "text": text}
    return Message(purpose=event, subject=subject, text=text, html=html, data=data)


def report_message(*, template: str, context: dict[str, Any], subject: str = "") -> Message:
    """A report rendered from ``templates/monitoring/reports/<template>.txt``
    (and ``.html`` when present). Raises ReportTemplateMissing."""
    if not REPORT_NAME.match(template):
        raise ReportTemplateMissing(f"report template name {template!r} is not valid (use letters, digits, - and _)")
    try:
        text = render_to_string(f"monitoring/reports/{template}.txt", context)
    except TemplateDoesNotExist:
        raise ReportTemplateMissing(f"there is no report template called {template!r}") from None
    html: str
    try:
        html = render_to_string(f"monitoring/reports/{template}.html", context)
    except TemplateDoesNotExist:
        html = ""
    if not subject:
        subject = " ".join(render_to_string("monitoring/reports/subject.txt", context).split())
    data = {
        "event": "report",
        "template": template,
        "subject": subject,
        "text": text,
        "taskId": context.get("task_id"),
        "executionId": context.get("execution_id"),
        "nodeId": context.get("node_id"),
        "data": context.get("input"),
    }
    return Message(purpose="report", subject=subject, text=text, html=html, data=data)
