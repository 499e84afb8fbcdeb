"""Alert rules and the alert life cycle.

Rules: ``failure`` (a task whose errorHandling asks for it:
``notificationOnFailure`` and/or ``escalationPolicy``), escalation of that
alert by consecutive failures, ``slow`` runs, ``schedule`` (missed or late
fires) and ``stuck`` runs (see monitoring.watchdog). Each rule keeps at most
one unresolved alert per task; repeats raise its occurrence count. A
successful run resolves the task's alerts and sends a recovery message to
every channel the alert had notified.

Success means ``completed`` or ``completed_with_errors`` (the task's own
error strategy accepted the partial failure); failure means ``failed`` or
``timed_out``; ``cancelled`` counts as neither.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from monitoring.messages import alert_message
from monitoring.models import Alert, AlertRule, AlertStatus, Channel
from monitoring.services import (
    DEFAULT_ACTION,
    channels_for_action,
    deliveries_enqueue,
    delivery_create,
)

logger = logging.getLogger(__name__)

FAILURE_STATUSES = frozenset({"failed", "timed_out"})
SUCCESS_STATUSES = frozenset({"completed", "completed_with_errors"})
EXECUTION_FINAL_EVENTS = frozenset(
    {"execution.completed", "execution.completed_with_errors", "execution.failed", "execution.timed_out"}
)
EVALUATED_EVENTS = EXECUTION_FINAL_EVENTS | {"schedule.missed", "schedule.failed_to_start", "schedule.fired"}


@dataclass(frozen=True)
class EscalationLevel:
    number: int
    threshold: int
    action: str


def escalation_levels(error_handling: dict[str, Any] | None) -> list[EscalationLevel]:
    """The levels of ``escalationPolicy`` ordered by threshold, numbered 1..n."""
    policy = (error_handling or {}).get("escalationPolicy") or {}
    raw = []
    for key, level in policy.items() if isinstance(policy, dict) else []:
        if isinstance(level, dict) and isinstance(level.get("threshold"), int) and level.get("action"):
            raw.append((level["threshold"], str(key), str(level["action"])))
    raw.sort()
    return [EscalationLevel(number=i + 1, threshold=t, action=a) for i, (t, _, a) in enumerate(raw)]


def notify_on_failure(task: Any) -> bool:
    """Whether the task's definition asks for notifications when it fails
    (``errorHandling.notificationOnFailure``); alerts of the task carry it."""
    return bool((task.error_handling or {}).get("notificationOnFailure"))


def consecutive_failures(*, task: Any, limit: int = 200) -> int:
    """How many of the task's latest finished executions failed in a row.

    Executions that a task-level retry superseded are left out, so one
    failing run and its retries count as one failure once the retry exists.
    """
    from orchestration.models import Execution

    statuses = (
        Execution.objects.filter(task=task, status__in=FAILURE_STATUSES | SUCCESS_STATUSES)
        .filter(retries__isnull=True)
        .order_by("-finished_at", "-id")
        .values_list("status", flat=True)[:limit]
    )
    count = 0
    for status in statuses:
        if status not in FAILURE_STATUSES:
            break
        count += 1
    return count


# --- Alert life cycle -----------------------------------------------------------


def _fingerprint(rule: str, task: Any, key: str = "") -> str:
    return f"{rule}:{task.pk if task is not None else '-'}:{key}"


def _open_alert(
    *, rule: str, task: Any, title: str, message: str, details: dict[str, Any], execution: Any = None, key: str = ""
) -> tuple[Alert, bool]:
    """The unresolved alert for rule+task, locked, created when missing.
    Returns (alert, created)."""
    fingerprint = _fingerprint(rule, task, key)
    existing = Alert.objects.select_for_update().exclude(status=AlertStatus.RESOLVED).filter(fingerprint=fingerprint).first()
    if existing is not None:
        return existing, False
    try:
        # The partial unique constraint settles a race between two evaluators
        # that both saw no open alert: the loser re-reads the winner's row.
        with transaction.atomic():
            alert = Alert.objects.create(
                rule=rule, task=task, fingerprint=fingerprint, title=title[:500], message=message,
                details=details, last_execution=execution,
            )
    except IntegrityError:
        alert = Alert.objects.select_for_update().exclude(status=AlertStatus.RESOLVED).get(fingerprint=fingerprint)
        return alert, False
    return alert, True


def _notify(alert: Alert, *, event: str, channels: list[Channel], action: str = "") -> list[int]:
    message = alert_message(alert=alert, event=event, action=action)
    ids = [delivery_create(channel=c, message=message, alert=alert, execution_id=alert.last_execution_id).pk for c in channels]
    deliveries_enqueue(delivery_ids=ids)
    return ids


def _emit(event_type: str, alert: Alert, **extra: Any) -> None:
    from orchestration.events import emit

    emit(
        event_type,
        task=alert.task,
        execution=alert.last_execution,
        data={"alertId": alert.pk, "rule": alert.rule, "title": alert.title, "level": alert.level,
              "occurrences": alert.occurrences, **extra},
        source="monitoring",
    )


def alert_trigger(
    *, rule: str, task: Any, title: str, message: str = "", details: dict[str, Any] | None = None,
    execution: Any = None, notify: bool = True, key: str = "",
) -> tuple[Alert, bool]:
    """Open an alert for rule+task or count one more occurrence of the open
    one. Notifies the task's channels only when the alert is new."""
    with transaction.atomic():
        alert, created = _open_alert(
            rule=rule, task=task, title=title, message=message, details=details or {}, execution=execution, key=key
        )
        if not created:
            if execution is not None and alert.last_execution_id == execution.pk:
                return alert, False  # the same run evaluated twice (a redelivered message)
            alert.occurrences += 1
            alert.last_seen_at = timezone.now()
            alert.title = title[:500]
            alert.message = message
            alert.details = {**alert.details, **(details or {})}
            if execution is not None:
                alert.last_execution = execution
            alert.save()
            return alert, False
        _emit("alert.triggered", alert)
        if notify:
            _notify(alert, event="alert.triggered", channels=channels_for_action(task=task, action=DEFAULT_ACTION))
    return alert, True


def alert_acknowledge(*, alert_id: int, user: Any = None) -> Alert:
    """Acknowledge an open alert (stops further escalation)."""
    # Conditional update: an ack racing a resolve must not reopen it.
    Alert.objects.filter(pk=alert_id, status=AlertStatus.OPEN).update(
        status=AlertStatus.ACKNOWLEDGED, acknowledged_at=timezone.now(), acknowledged_by=user
    )
    return Alert.objects.get(pk=alert_id)


def alert_resolve(*, alert_id: int, user: Any = None, resolution: str = "", notify: bool = True) -> Alert:
    """Resolve an alert and send a recovery message to the channels it notified."""
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=alert_id)
        if alert.status == AlertStatus.RESOLVED:
            return alert
        alert.status = AlertStatus.RESOLVED
        alert.resolved_at = timezone.now()
        alert.resolved_by = user
        alert.resolution = resolution or (f"Resolved by {user}" if user else "Resolved")
        alert.save()
        _emit("alert.resolved", alert, resolution=alert.resolution)
        if notify:
            from monitoring.models import Delivery

            notified_ids = set(Delivery.objects.filter(alert=alert).values_list("channel_id", flat=True))
            notified = list(Channel.objects.filter(pk__in=notified_ids, enabled=True))
            _notify(alert, event="alert.resolved", channels=notified)
    return alert


# --- Rule evaluation -------------------------------------------------------------


def alert_evaluate_event(*, event_id: int) -> None:
    """Apply the alert rules to one recorded event."""
    from orchestration.models import Event

    event = Event.objects.select_related("task", "execution").filter(pk=event_id).first()
    if event is None or event.type not in EVALUATED_EVENTS:
        return
    if event.type in EXECUTION_FINAL_EVENTS and event.execution_id:
        alert_evaluate_execution(execution_id=event.execution_id)
    elif event.type in ("schedule.missed", "schedule.failed_to_start") and event.task_id:
        _schedule_missed(event)
    elif event.type == "schedule.fired" and event.task_id:
        _schedule_fired(event)


def alert_evaluate_execution(*, execution_id: int) -> None:
    """Apply the failure, escalation, slow and recovery rules to a finished execution."""
    from orchestration.models import Execution, Task

    with transaction.atomic():
        execution = Execution.objects.get(pk=execution_id)
        # Lock the task row: evaluations of two runs of one task (on two
        # workers) must not both open an alert or both send one escalation level.
        task = Task.objects.select_for_update(no_key=True).get(pk=execution.task_id)
        if execution.status in FAILURE_STATUSES:
            _failure(task, execution)
        elif execution.status in SUCCESS_STATUSES:
            for alert in Alert.objects.filter(
                task=task, rule__in=[AlertRule.FAILURE, AlertRule.STUCK, AlertRule.SCHEDULE]
            ).exclude(status=AlertStatus.RESOLVED):
                alert_resolve(alert_id=alert.pk, resolution=f"Execution #{execution.pk} succeeded")
        _slow(task, execution)


def _failure(task: Any, execution: Any) -> None:
    levels = escalation_levels(task.error_handling)
    notify = notify_on_failure(task)
    if not notify and not levels:
        return
    streak = consecutive_failures(task=task)
    if streak == 0:
        # A later run already succeeded (its evaluation ran first, on another
        # worker) or a retry superseded this run: nothing is failing now.
        return
    name = task.name or task.task_id
    title = f"{name} failed {streak} time{'s' if streak != 1 else ''} in a row"
    reason = execution.error or execution.status_reason or execution.status
    alert, created = alert_trigger(
        rule=AlertRule.FAILURE, task=task, title=title,
        message=f"Execution #{execution.pk} ended {execution.status}: {reason}",
        details={"consecutiveFailures": streak, "lastStatus": execution.status}, execution=execution,
        notify=notify,
    )
    if alert.status != AlertStatus.OPEN:
        return  # acknowledged: someone is on it, no further escalation
    crossed = [level for level in levels if level.threshold <= streak and level.number > alert.level]
    if not crossed:
        return
    alert.level = crossed[-1].number
    alert.save(update_fields=["level"])
    for level in crossed:
        _emit("alert.escalated", alert, action=level.action, threshold=level.threshold)
        _notify(alert, event="alert.escalated", action=level.action,
                channels=channels_for_action(task=task, action=level.action))


def slow_threshold_seconds(task: Any, execution: Any) -> float | None:
    definition = execution.definition or {}
    handling = definition.get("errorHandling") or task.error_handling or {}
    explicit = handling.get("slowExecutionThreshold")
    if isinstance(explicit, int | float) and explicit > 0:
        return explicit / 1000
    timeout_ms = definition.get("timeout") or task.timeout_ms
    if isinstance(timeout_ms, int | float) and timeout_ms > 0:
        return timeout_ms / 1000 * settings.WEBAUTO_ALERT_SLOW_RATIO
    return None


def _slow(task: Any, execution: Any) -> None:
    duration = execution.duration_seconds
    threshold = slow_threshold_seconds(task, execution)
    if duration is None or threshold is None:
        return
    if duration > threshold:
        alert_trigger(
            rule=AlertRule.SLOW, task=task, execution=execution, notify=notify_on_failure(task),
            title=f"{task.name or task.task_id} ran slowly ({duration:.1f}s, threshold {threshold:.1f}s)",
            message=f"Execution #{execution.pk} took {duration:.1f}s.",
            details={"durationSeconds": duration, "thresholdSeconds": threshold},
        )
        return
    for alert in Alert.objects.filter(task=task, rule=AlertRule.SLOW).exclude(status=AlertStatus.RESOLVED):
        alert_resolve(alert_id=alert.pk, resolution=f"Execution #{execution.pk} took {duration:.1f}s")


def fire_lag_seconds(data: dict[str, Any]) -> float | None:
    """A ``schedule.fired`` event's lag in seconds (None when it has none):
    the scheduler sends ``lagMs``; ``lagSeconds`` is accepted too."""
    if isinstance(data.get("lagMs"), int | float):
        return float(data["lagMs"]) / 1000
    if isinstance(data.get("lagSeconds"), int | float):
        return float(data["lagSeconds"])
    return None


def _schedule_missed(event: Any) -> None:
    """``schedule.missed`` (fires the scheduler could not make in time: data
    count, first, last, policy) or ``schedule.failed_to_start`` (data
    scheduledTime, detail)."""
    task = event.task
    data = event.data or {}
    name = task.name or task.task_id
    if event.type == "schedule.failed_to_start":
        when = data.get("scheduledTime")
        title = f"Scheduled run of {name} failed to start"
        message = f"The run due at {when or 'an earlier time'} did not start: {data.get('detail') or 'unknown error'}"
    else:
        count = data.get("count") or 1
        when = data.get("last") or data.get("first")
        title = f"{count} scheduled run{'s' if count != 1 else ''} of {name} missed"
        message = (
            f"Runs due from {data.get('first') or '?'} to {data.get('last') or '?'} were missed "
            f"(misfire policy {data.get('policy') or '?'})."
        )
    alert_trigger(
        rule=AlertRule.SCHEDULE, task=task, notify=notify_on_failure(task), title=title, message=message,
        details={"missedAt": when, "eventId": event.pk, "eventType": event.type},
    )


def _schedule_fired(event: Any) -> None:
    task = event.task
    lag = fire_lag_seconds(event.data)
    if lag is None:
        return
    if lag > settings.WEBAUTO_ALERT_SCHEDULE_LAG_SECONDS:
        alert_trigger(
            rule=AlertRule.SCHEDULE, task=task, notify=notify_on_failure(task),
            title=f"Scheduled run of {task.name or task.task_id} started {lag:.0f}s late",
            message=f"The run fired {lag:.1f}s after its scheduled time.",
            details={"lagSeconds": lag, "eventId": event.pk},
        )
        return
    for alert in Alert.objects.filter(task=task, rule=AlertRule.SCHEDULE).exclude(status=AlertStatus.RESOLVED):
        alert_resolve(alert_id=alert.pk, resolution=f"The schedule fired on time (lag {lag:.1f}s)")
