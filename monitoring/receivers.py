"""Hooks into the core: channels follow task definitions, and recorded events
are evaluated against the alert rules on a worker."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from django.db import connection, transaction

from orchestration import subscribers
from orchestration.subscribers import SubscriberCache


def on_task_definition_saved(sender: Any, *, task: Any, created: bool, definition: dict[str, Any], **kwargs: Any) -> None:
    from monitoring.services import channels_sync_from_definition

    channels_sync_from_definition(task=task, definition=definition)


# The alert rules' subscribers, cached per process (orchestration/subscribers.py):
# which tasks have unresolved alerts, and which tasks' own settings may give a
# run a slow threshold. Checked on every successful run (max_age 0: one
# primary-key read of the change marker), so a run's success never skips an
# alert committed before it; reloaded only when an alert or task changed.
ALERT_SUBSCRIBERS = "monitoring.alert_rules"
SUCCESS_EVENTS = frozenset({"execution.completed", "execution.completed_with_errors"})


@dataclass(frozen=True)
class AlertSubscribers:
    """``open_alert_task_ids``: tasks with an alert not resolved;
    ``slow_task_ids``: tasks whose own ``timeout`` or
    ``errorHandling.slowExecutionThreshold`` may give a run a slow threshold."""

    open_alert_task_ids: frozenset[int]
    slow_task_ids: frozenset[int]


def load_alert_subscribers() -> AlertSubscribers:
    from django.db.models import Q

    from monitoring.models import Alert, AlertStatus
    from orchestration.models import Task

    open_ids = Alert.objects.exclude(status=AlertStatus.RESOLVED).filter(task__isnull=False)
    slow = Task.objects.filter(Q(timeout_ms__gt=0) | Q(error_handling__has_key="slowExecutionThreshold"))
    return AlertSubscribers(
        open_alert_task_ids=frozenset(open_ids.values_list("task_id", flat=True).distinct()),
        slow_task_ids=frozenset(slow.values_list("pk", flat=True)),
    )


alert_subscribers: SubscriberCache[AlertSubscribers] = SubscriberCache(
    ALERT_SUBSCRIBERS, load_alert_subscribers, max_age=0
)


def on_alert_rules_changed(sender: Any, **kwargs: Any) -> None:
    """An alert or a task was saved or deleted: the cached subscribers may be stale."""
    subscribers.bump(ALERT_SUBSCRIBERS)


def success_needs_evaluation(event: Any) -> bool:
    """Whether the alert rules can do anything with a successful run's final
    event: resolve the task's open alerts, or raise (or resolve) a slow-run
    alert. False for the common case (no open alert, not slow), which then
    costs no task message and no evaluation. Same rules as
    ``alerting.alert_evaluate_execution``."""
    from monitoring.alerting import slow_threshold_seconds
    from orchestration.engine import frozen

    current = alert_subscribers.get()
    if event.task_id is None or event.execution_id is None or event.task_id in current.open_alert_task_ids:
        return True
    from orchestration.models import Execution

    try:
        # Announced after the commit: a final event's execution has just been
        # forgotten by this process's cache, and must not be cached again.
        definition = frozen(event.execution_id, keep=False).definition
    except Execution.DoesNotExist:  # deleted meanwhile: the evaluation finds out
        return True
    if (not definition.get("errorHandling") or not definition.get("timeout")) and event.task_id in current.slow_task_ids:
        return True  # the task's own settings decide: let the evaluation read them
    no_task_settings = SimpleNamespace(error_handling=None, timeout_ms=None)
    threshold = slow_threshold_seconds(no_task_settings, SimpleNamespace(definition=definition))
    duration = (event.data or {}).get("durationSeconds") if isinstance(event.data, dict) else None
    return threshold is not None and isinstance(duration, int | float) and duration > threshold


def fired_needs_evaluation(event: Any) -> bool:
    """Whether the schedule-lag rule can do anything with a ``schedule.fired``
    event: raise a lag alert (lag over ``WEBAUTO_ALERT_SCHEDULE_LAG_SECONDS``)
    or resolve the task's open one. False for the common case (on time, no
    open alert), which then costs no task message: a one-second schedule
    used to send one a second. Same rules as ``alerting._schedule_fired``."""
    from django.conf import settings

    from monitoring.alerting import fire_lag_seconds

    lag = fire_lag_seconds(event.data) if isinstance(event.data, dict) else None
    if lag is None or event.task_id is None:
        return False
    if lag > settings.WEBAUTO_ALERT_SCHEDULE_LAG_SECONDS:
        return True
    return event.task_id in alert_subscribers.get().open_alert_task_ids


def on_event_recorded(sender: Any, *, event: Any, **kwargs: Any) -> None:
    from monitoring.alerting import EVALUATED_EVENTS
    from monitoring.tasks import evaluate_event

    if event.type in EVALUATED_EVENTS:
        if event.type in SUCCESS_EVENTS and not success_needs_evaluation(event):
            return
        if event.type == "schedule.fired" and not fired_needs_evaluation(event):
            return
        event_id = event.pk
        # robust: a broker hiccup is logged and must not break the engine's
        # own after-commit work that runs next to this receiver.
        transaction.on_commit(lambda: evaluate_event.delay(event_id), robust=True)


def on_execution_finished(sender: Any, *, execution: Any, **kwargs: Any) -> None:
    """Runs inside the transaction that finished the execution: counts it in
    the Prometheus running totals and adds it to its day's rollup, so both
    commit or roll back with the finish. On PostgreSQL both are one
    statement (the count a CTE of the rollup's upsert): one round trip of
    the last node's finish instead of two."""
    from monitoring import counters
    from monitoring.rollups import rollup_add_execution, upsert_one_sql

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"WITH tally AS ({counters.tally_upsert_one_sql()}) {upsert_one_sql()}",
                           [*counters.tally_upsert_one_params(execution=execution), execution.pk, execution.pk])
        return
    counters.execution_count_finished(execution=execution)
    rollup_add_execution(execution=execution)
