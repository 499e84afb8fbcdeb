"""The ``notification`` node kind (seed: ``notification-workflow``):
sends a report rendered from a named template through the task's channels."""

from __future__ import annotations

import json
from typing import Any

from django.utils import timezone

from monitoring.messages import ReportTemplateMissing, report_message
from monitoring.models import Channel, Delivery, DeliveryStatus
from monitoring.services import delivery_attempt, delivery_create
from orchestration.context import NodeError, RunContext
from orchestration.registry import NodeKind

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "channels": {
            "type": "array",
            "items": {"enum": ["email", "webhook"]},
            "minItems": 1,
            "uniqueItems": True,
            "description": "Which of the task's notificationChannels to use, by type (default: all).",
        },
        "template": {
            "type": "string",
            "pattern": "^[a-z0-9][a-z0-9_-]*$",
            "description": "Report template: templates/monitoring/reports/<template>.txt (and .html).",
        },
        "subject": {"type": "string", "description": "Subject (default: rendered from reports/subject.txt)."},
    },
    "additionalProperties": False,
}

OUTPUT_DESCRIPTION = (
    "{template, subject, sent, failed, deliveries: [{id, channel, type, status, responseCode, error, attempts}]}"
)


def _delivery_row(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.pk,
        "channel": delivery.channel_name,
        "type": delivery.channel_kind,
        "status": delivery.status,
        "responseCode": delivery.response_code,
        "error": delivery.error,
        "attempts": delivery.attempts,
    }


def run(config: dict[str, Any], input: Any, context: RunContext) -> dict[str, Any]:
    from orchestration.models import Task

    kinds = config.get("channels") or ["email", "webhook"]
    template = config.get("template") or "monitoring-report"
    task = Task.objects.get(pk=context.task_pk)
    channels = list(Channel.objects.filter(task=task, kind__in=kinds, enabled=True))
    if not channels:
        raise NodeError(
            f"task {task.task_id!r} has no enabled notification channel of type {' or '.join(kinds)} "
            "(add one under notificationChannels)",
            retryable=False,
        )
    report_context = {
        "input": input if input is not None else {},
        "input_json": json.dumps(input, ensure_ascii=False, indent=2, default=str),
        "task": {"taskId": task.task_id, "name": task.name},
        "task_id": task.task_id,
        "parameters": context.parameters,
        "execution_id": context.execution_id,
        "node_id": context.node_id,
        "now": timezone.now(),
    }
    try:
        message = report_message(template=template, context=report_context, subject=config.get("subject", ""))
    except ReportTemplateMissing as exc:
        raise NodeError(str(exc), retryable=False) from None

    results: list[Delivery] = []
    for channel in channels:
        # A node retried (or delivered twice) must not send the report again
        # to a channel that already has it.
        done = Delivery.objects.filter(
            execution_id=context.execution_id, node_id=context.node_id, channel=channel, status=DeliveryStatus.SENT
        ).first()
        if done is not None:
            results.append(done)
            continue
        context.check_cancelled()
        delivery = delivery_create(
            channel=channel, message=message, execution_id=context.execution_id, node_id=context.node_id
        )
        # The node's own retries stand in for background retries here.
        delivery_attempt(delivery_id=delivery.pk, retry_in_background=False)
        delivery.refresh_from_db()
        results.append(delivery)
        context.log(f"report to {channel.name}: {delivery.status}{' (' + delivery.error + ')' if delivery.error else ''}")

    failed = [d for d in results if d.status != DeliveryStatus.SENT]
    if failed:
        summary = "; ".join(f"{d.channel_name}: {d.error}" for d in failed)
        raise NodeError(
            f"notification: {len(failed)} of {len(results)} deliveries failed: {summary}",
            retryable=not all(d.permanent_error for d in failed),
        )
    return {
        "template": template,
        "subject": message.subject,
        "sent": len(results),
        "failed": 0,
        "deliveries": [_delivery_row(d) for d in results],
    }


KIND = NodeKind(
    name="notification",
    run=run,
    config_schema=CONFIG_SCHEMA,
    output_description=OUTPUT_DESCRIPTION,
    description="Sends a report rendered from a named template (monitoring-report, ...) filled from its input "
    "through the task's email and webhook channels.",
    aliases=("notification-workflow",),
    example={"channels": ["email"], "template": "monitoring-report", "subject": "Daily report"},
)
