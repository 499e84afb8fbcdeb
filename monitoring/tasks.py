"""Celery entry points of the monitoring app: each takes ids and calls a service."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="monitoring.deliver", acks_late=True, ignore_result=True)
def deliver(delivery_id: int) -> None:
    from monitoring.services import delivery_attempt

    delivery_attempt(delivery_id=delivery_id)


@shared_task(name="monitoring.evaluate_event", acks_late=True, ignore_result=True)
def evaluate_event(event_id: int) -> None:
    from monitoring.alerting import alert_evaluate_event

    alert_evaluate_event(event_id=event_id)


@shared_task(name="monitoring.deliveries_due", ignore_result=True)
def deliveries_due() -> None:
    from monitoring.services import deliveries_process_due

    deliveries_process_due()


@shared_task(name="monitoring.watchdog", ignore_result=True)
def watchdog() -> None:
    from monitoring.watchdog import stuck_runs_check

    stuck_runs_check()


@shared_task(name="monitoring.retention", ignore_result=True)
def retention() -> None:
    from monitoring.retention import history_prune

    history_prune()
