"""Celery tasks of the engine: thin interfaces that take ids and call services."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from celery import shared_task
from celery.signals import worker_ready

from orchestration import engine, recovery, runner

log = logging.getLogger(__name__)


@shared_task(name="orchestration.run_node", acks_late=True, reject_on_worker_lost=True)
def run_node(node_run_id: int, dispatch_id: str) -> None:
    runner.run_node(node_run_id=node_run_id, dispatch_id=dispatch_id)


@shared_task(name="orchestration.start_delayed_execution")
def start_delayed_execution(execution_id: int) -> None:
    engine.execution_start_if_due(execution_id=execution_id)


@shared_task(name="orchestration.maintenance", ignore_result=True)
def maintenance() -> dict[str, int]:
    counts = recovery.maintenance()
    if any(counts.values()):
        log.info("maintenance: %s", counts)
    return counts


@worker_ready.connect
def _on_worker_ready(sender: Any = None, **kwargs: Any) -> None:
    # Recover what a crashed worker left behind as soon as a worker is back.
    maintenance.delay()
    ready_file = os.environ.get("WEBAUTO_WORKER_READY_FILE")
    if ready_file:
        Path(ready_file).write_text(str(os.getpid()))


@shared_task(name="orchestration.ping", ignore_result=False)
def ping(value: Any = None) -> Any:
    """Returns its argument: a health check, and the no-op of the benchmark's Celery canvases."""
    return value
