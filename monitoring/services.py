"""Writes for channels and deliveries: keeping a task's channels in step with
its definition, queuing messages, and sending them with retries."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from monitoring.channels import parse_channels
from monitoring.models import Channel, ChannelKind, ChannelSource, Delivery, DeliveryStatus
from monitoring.transports import Message, TransportError, transport_for
from monitoring.transports.templating import redact_headers

logger = logging.getLogger(__name__)

DEFAULT_ACTION = "notify"


# --- Channels ---------------------------------------------------------------


def channels_sync_from_definition(*, task: Any, definition: dict[str, Any]) -> list[Channel]:
    """Make the task's definition channels match ``notificationChannels``.

    Raises DefinitionInvalid listing every bad channel (the task save then
    rolls back with it, since this runs inside its transaction).
    """
    from orchestration.errors import DefinitionInvalid

    parameters = definition.get("parameters") if isinstance(definition.get("parameters"), dict) else {}
    parsed = parse_channels(definition.get("notificationChannels") or [], parameters=parameters)
    if parsed.errors:
        raise DefinitionInvalid(parsed.errors)

    existing = {c.position: c for c in Channel.objects.filter(task=task, source=ChannelSource.DEFINITION)}
    kept: list[Channel] = []
    for i, entry in enumerate(parsed.channels):
        channel = existing.pop(i, None) or Channel(task=task, source=ChannelSource.DEFINITION, position=i)
        if channel.kind != entry.kind or channel.config != entry.config:
            # A changed destination gets a fresh start: old errors were about the old one.
            channel.failing_permanently = False
            channel.last_error = ""
        channel.kind = entry.kind
        channel.config = entry.config
        channel.actions = entry.actions
        channel.name = (entry.name or f"{task.task_id} {entry.kind} #{i + 1}")[:200]
        channel.save()
        kept.append(channel)
    Channel.objects.filter(pk__in=[c.pk for c in existing.values()]).delete()
    return kept


def channels_for_action(*, task: Any, action: str = DEFAULT_ACTION) -> list[Channel]:
    """The enabled channels an alert action goes to.

    ``notify`` (plain alerts and recoveries): the task's own channels, or the
    shared channels that list ``notify`` when the task has none. Any other
    action (an escalation level's ``notify-team``, ``escalate-to-manager``,
    ...): the task's and the shared channels listing that action; when no
    channel lists it, the task's own channels, so an escalation is never lost.
    """
    candidates = list(Channel.objects.filter(Q(task=task) | Q(task__isnull=True), enabled=True))
    own = [c for c in candidates if c.task_id is not None and c.task_id == getattr(task, "pk", None)]
    if action == DEFAULT_ACTION:
        if own:
            return own
        return [c for c in candidates if c.task_id is None and c.has_action(action)]
    listed = [c for c in candidates if c.has_action(action)]
    if listed:
        return listed
    logger.warning("no channel lists action %r; sending it to the task's own channels", action)
    return channels_for_action(task=task, action=DEFAULT_ACTION)


# --- Deliveries ---------------------------------------------------------------


def delivery_create(
    *,
    channel: Channel,
    message: Message,
    alert: Any = None,
    execution_id: int | None = None,
    node_id: str = "",
) -> Delivery:
    """Record a queued delivery. Call ``deliveries_enqueue`` to send it."""
    headers = redact_headers({str(k): str(v) for k, v in (channel.config.get("headers") or {}).items()})
    return Delivery.objects.create(
        channel=channel,
        channel_name=channel.name,
        channel_kind=channel.kind,
        alert=alert,
        purpose=message.purpose,
        execution_id=execution_id,
        node_id=node_id,
        subject=message.subject[:500],
        text=message.text,
        html=message.html,
        payload=message.data,
        headers=headers if channel.kind == ChannelKind.WEBHOOK else {},
    )


def deliveries_enqueue(*, delivery_ids: list[int], countdown: float = 0) -> None:
    """Send the deliveries on a worker once the current transaction commits."""
    from monitoring.tasks import deliver

    def send() -> None:
        for delivery_id in delivery_ids:
            deliver.apply_async((delivery_id,), countdown=countdown or None)

    if delivery_ids:
        # robust: if the broker is unreachable the rows stay queued and the
        # periodic sweeper sends them; the caller's work is not undone.
        transaction.on_commit(send, robust=True)


def _retry_delay(attempt: int) -> float:
    """Seconds from attempt ``attempt`` (numbered from 1) to the next."""
    return settings.WEBAUTO_DELIVERY_RETRY_BASE_SECONDS * (3 ** (attempt - 1))


def delivery_attempt(*, delivery_id: int, retry_in_background: bool = True) -> Delivery | None:
    """Try to send a delivery once; return it, or None when it was not due or
    another worker has it. A temporary failure schedules a retry unless
    ``retry_in_background`` is off (the caller retries on its own)."""
    now = timezone.now()
    # Conditional claim: a redelivered Celery message and the periodic sweeper
    # may both reach the same delivery; only the one that flips the status sends.
    claimed = (
        Delivery.objects.filter(pk=delivery_id, status__in=[DeliveryStatus.QUEUED, DeliveryStatus.RETRYING])
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(status=DeliveryStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    )
    if claimed != 1:
        return None
    delivery = Delivery.objects.select_related("channel").get(pk=delivery_id)
    message = Message(
        purpose=delivery.purpose, subject=delivery.subject, text=delivery.text, html=delivery.html,
        data=delivery.payload,
    )
    started = time.monotonic()
    error: TransportError | None = None
    response_code: int | None = None
    try:
        if delivery.channel is None:
            raise TransportError("the channel was deleted", permanent=True)
        result = transport_for(delivery.channel).send(message, delivery_id=delivery.pk)
        response_code = result.response_code
    except TransportError as exc:
        error = exc
        response_code = exc.response_code
    except Exception as exc:  # a bug in a transport must not leave the delivery "sending"
        logger.exception("delivery %s: unexpected error", delivery_id)
        error = TransportError(f"unexpected error: {type(exc).__name__}")
    duration_ms = round((time.monotonic() - started) * 1000, 1)
    _record_attempt(
        delivery, error=error, response_code=response_code, duration_ms=duration_ms, retry=retry_in_background
    )
    return delivery


def _record_attempt(
    delivery: Delivery, *, error: TransportError | None, response_code: int | None, duration_ms: float, retry: bool
) -> None:
    now = timezone.now()
    delivery.response_code = response_code
    delivery.duration_ms = duration_ms
    delivery.claimed_at = None
    delivery.attempt_log = [
        *delivery.attempt_log,
        {
            "attempt": delivery.attempts,
            "at": now.isoformat(),
            "ok": error is None,
            "responseCode": response_code,
            "error": error.message if error else "",
            "permanent": bool(error and error.permanent),
            "durationMs": duration_ms,
        },
    ]
    channel_qs = Channel.objects.filter(pk=delivery.channel_id or 0)
    if error is None:
        delivery.status = DeliveryStatus.SENT
        delivery.sent_at = now
        delivery.error = ""
        delivery.next_attempt_at = None
        delivery.save()
        channel_qs.update(last_success_at=now, failing_permanently=False)
        return
    delivery.error = error.message
    delivery.permanent_error = error.permanent
    if retry and not error.permanent and delivery.attempts <= settings.WEBAUTO_DELIVERY_MAX_RETRIES:
        delay = _retry_delay(delivery.attempts)
        delivery.status = DeliveryStatus.RETRYING
        delivery.next_attempt_at = now + timedelta(seconds=delay)
        delivery.save()
        # Short waits ride on the broker; longer ones stay parked in the
        # database for the periodic sweeper, since Redis would redeliver an
        # unacknowledged long countdown after its visibility timeout.
        if delay <= settings.WEBAUTO_MAX_COUNTDOWN_SECONDS:
            deliveries_enqueue(delivery_ids=[delivery.pk], countdown=delay)
    else:
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None
        delivery.save()
    logger.warning(
        "delivery %s to channel %r failed (attempt %s, %s): %s",
        delivery.pk, delivery.channel_name, delivery.attempts,
        "permanent" if error.permanent else "temporary", error.message,
    )
    updates: dict[str, Any] = {"last_error": error.message, "last_error_at": now}
    if error.permanent:
        updates["failing_permanently"] = True
    channel_qs.update(**updates)


def deliveries_process_due(*, now: Any = None) -> list[int]:
    """Queue deliveries whose retry time has come, and take back ones whose
    worker died mid-send. Returns the ids queued."""
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.WEBAUTO_WEBHOOK_TIMEOUT_SECONDS + settings.EMAIL_TIMEOUT + 60)
    # A worker killed while sending leaves the row "sending"; hand it back.
    Delivery.objects.filter(status=DeliveryStatus.SENDING, claimed_at__lt=stale_before).update(
        status=DeliveryStatus.RETRYING, next_attempt_at=now, claimed_at=None
    )
    # Queued rows younger than this are normally still in the broker.
    queued_grace = now - timedelta(seconds=30)
    due = list(
        Delivery.objects.filter(
            Q(status=DeliveryStatus.RETRYING, next_attempt_at__lte=now)
            | Q(status=DeliveryStatus.QUEUED, created_at__lt=queued_grace)
        ).values_list("pk", flat=True)[:500]
    )
    deliveries_enqueue(delivery_ids=due)
    return due


def channel_send_test(*, channel: Channel) -> Delivery:
    """Queue a test notification to ``channel``."""
    now = timezone.now()
    text = (
        f"This is a test notification from WebAuto Orchestrator for channel {channel.name!r}, "
        f"sent at {now:%Y-%m-%d %H:%M:%S %Z}. If you can read it, the channel works."
    )
    message = Message(
        purpose="test",
        subject=f"Test notification for {channel.name}",
        text=text,
        data={"event": "test", "channel": channel.name, "text": text, "sentAt": now.isoformat()},
    )
    with transaction.atomic():
        delivery = delivery_create(channel=channel, message=message)
        deliveries_enqueue(delivery_ids=[delivery.pk])
    return delivery
