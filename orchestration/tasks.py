"""Celery tasks of the engine: thin interfaces that take ids and call services."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import connection

from orchestration import engine, recovery, runner

log = logging.getLogger(__name__)


@shared_task(name="orchestration.run_node", acks_late=True, reject_on_worker_lost=True)
def run_node(node_run_id: int, dispatch_id: str, execution_id: int | None = None, node_id: str = "") -> None:
    """Run a dispatched node. ``execution_id`` and ``node_id`` (sent by the
    engine since the claim reads upstream outputs in one statement) are hints
    the claim checks; messages without them (still in a broker from before)
    run as well, with a claim of two round trips."""
    runner.run_node(node_run_id=node_run_id, dispatch_id=dispatch_id, execution_id=execution_id, node_id=node_id)


@shared_task(name="orchestration.start_delayed_execution")
def start_delayed_execution(execution_id: int) -> None:
    engine.execution_start_if_due(execution_id=execution_id)


@shared_task(name="orchestration.maintenance", ignore_result=True)
def maintenance() -> dict[str, int]:
    counts = recovery.maintenance()
    if any(counts.values()):
        log.info("maintenance: %s", counts)
    return counts


class Sweeper(threading.Thread):
    """The maintenance sweep on a timer in the worker's main process, so that
    lost messages, overdue retries and dead workers' nodes are recovered
    whenever any worker is up (beat's ``orchestration.maintenance`` entry does
    the same; concurrent sweeps are safe). A failing pass (database or broker
    down) is logged and the next one tries again."""

    def __init__(self, interval: float) -> None:
        super().__init__(name="webauto-engine-sweeper", daemon=True)
        self.interval = interval
        self.stopping = threading.Event()

    def sweep(self) -> None:
        try:
            counts = recovery.maintenance()
            if any(counts.values()):
                log.info("maintenance: %s", counts)
        except Exception:
            log.exception("maintenance sweep failed; retrying in %ss", self.interval)
        finally:
            connection.close()

    def run(self) -> None:
        self.sweep()  # recover what a crashed worker left behind as soon as a worker is back
        while not self.stopping.wait(self.interval):
            self.sweep()

    def stop(self) -> None:
        self.stopping.set()
        self.join(self.interval + 10)


_sweeper: Sweeper | None = None


@worker_ready.connect
def _on_worker_ready(sender: Any = None, **kwargs: Any) -> None:
    global _sweeper
    if settings.WEBAUTO_WORKER_SWEEP_SECONDS > 0 and _sweeper is None:
        _sweeper = Sweeper(settings.WEBAUTO_WORKER_SWEEP_SECONDS)
        _sweeper.start()
    else:
        maintenance.delay()
    ready_file = os.environ.get("WEBAUTO_WORKER_READY_FILE")
    if ready_file:
        Path(ready_file).write_text(str(os.getpid()))


@worker_shutdown.connect
def _on_worker_shutdown(sender: Any = None, **kwargs: Any) -> None:
    global _sweeper
    if _sweeper is not None:
        _sweeper.stop()
        _sweeper = None


@shared_task(name="orchestration.ping", ignore_result=False)
def ping(value: Any = None) -> Any:
    """Returns its argument: a health check, and the no-op of the benchmark's Celery canvases."""
    return value
