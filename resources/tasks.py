"""Celery tasks of the resource manager: thin interfaces over services."""

from __future__ import annotations

import logging

from celery import shared_task

from resources import services, usage

log = logging.getLogger(__name__)


@shared_task(name="resources.dispatch", ignore_result=True)
def dispatch(seen_seq: int | None = None) -> int:
    return services.admission_dispatch(seen_seq=seen_seq)


@shared_task(name="resources.reconcile", ignore_result=True)
def reconcile() -> dict[str, int]:
    counts = services.admission_reconcile()
    if any(counts.values()):
        log.info("resource reconciliation: %s", counts)
    return counts


@shared_task(name="resources.sample_system", ignore_result=True)
def sample_system() -> None:
    usage.system_sample_record()
    usage.system_samples_prune()
