"""Hooks into the core: channels follow task definitions, and recorded events
are evaluated against the alert rules on a worker."""

from __future__ import annotations

from typing import Any

from django.db import transaction


def on_task_definition_saved(sender: Any, *, task: Any, created: bool, definition: dict[str, Any], **kwargs: Any) -> None:
    from monitoring.services import channels_sync_from_definition

    channels_sync_from_definition(task=task, definition=definition)


def on_event_recorded(sender: Any, *, event: Any, **kwargs: Any) -> None:
    from monitoring.alerting import EVALUATED_EVENTS
    from monitoring.tasks import evaluate_event

    if event.type in EVALUATED_EVENTS:
        event_id = event.pk
        # robust: a broker hiccup is logged and must not break the engine's
        # own after-commit work that runs next to this receiver.
        transaction.on_commit(lambda: evaluate_event.delay(event_id), robust=True)


def on_execution_finished(sender: Any, *, execution: Any, **kwargs: Any) -> None:
    """Runs inside the transaction that finished the execution: counts it in
    the Prometheus running totals and adds it to its day's rollup, so both
    commit or roll back with the finish."""
    from monitoring.counters import execution_count_finished
    from monitoring.rollups import rollup_add_execution

    execution_count_finished(execution=execution)
    rollup_add_execution(execution=execution)
