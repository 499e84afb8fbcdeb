"""Worker side of the resource manager: a heartbeat thread, started when a
Celery worker is ready and stopped when it shuts down, that reports the
machine's figures (psutil) and the worker's configured slots."""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

import psutil
from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import connection

from resources import services

log = logging.getLogger(__name__)


def read_figures(*, name: str, slots: int) -> services.Heartbeat:
    """This machine and this worker's process tree, as psutil sees them now."""
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage(str(settings.VAR_DIR))
    process = psutil.Process()
    rss = process.memory_info().rss
    for child in process.children(recursive=True):
        try:
            rss += child.memory_info().rss
        except psutil.Error:
            continue  # a pool child that exited meanwhile
    return services.Heartbeat(
        name=name,
        host=socket.gethostname(),
        pid=os.getpid(),
        slots=slots,
        cores=psutil.cpu_count() or 1,
        cpu_percent=psutil.cpu_percent(interval=None),
        load_1m=os.getloadavg()[0],
        memory_total_bytes=memory.total,
        memory_available_bytes=memory.available,
        disk_free_bytes=disk.free,
        rss_bytes=rss,
        cpu_limit_millicores=settings.WEBAUTO_WORKER_CPU_LIMIT_MILLICORES,
        memory_limit_bytes=settings.WEBAUTO_WORKER_MEMORY_LIMIT_BYTES,
    )


class HeartbeatThread(threading.Thread):
    def __init__(self, *, name: str, slots: int, interval: float) -> None:
        super().__init__(name="webauto-resources-heartbeat", daemon=True)
        self.worker_name = name
        self.slots = slots
        self.interval = interval
        self.stopping = threading.Event()

    def beat(self) -> None:
        try:
            services.worker_heartbeat(beat=read_figures(name=self.worker_name, slots=self.slots))
        except Exception:
            # A database hiccup must not kill the thread: the next beat retries,
            # and only a silence longer than the lost timeout matters.
            log.exception("worker heartbeat failed")
        finally:
            connection.close()

    def run(self) -> None:
        self.beat()
        while not self.stopping.wait(self.interval):
            self.beat()

    def stop(self) -> None:
        self.stopping.set()
        self.join(self.interval + 5)


_thread: HeartbeatThread | None = None


def _slots(sender: Any) -> int:
    controller = getattr(sender, "controller", None)
    concurrency = getattr(controller, "concurrency", None) or getattr(sender.app.conf, "worker_concurrency", None)
    return int(concurrency or os.cpu_count() or 1)


@worker_ready.connect
def _start_heartbeat(sender: Any = None, **kwargs: Any) -> None:
    global _thread
    if _thread is not None:
        return
    _thread = HeartbeatThread(
        name=sender.hostname, slots=_slots(sender), interval=settings.WEBAUTO_WORKER_HEARTBEAT_SECONDS
    )
    _thread.start()


@worker_shutdown.connect
def _stop_heartbeat(sender: Any = None, **kwargs: Any) -> None:
    global _thread
    if _thread is None:
        return
    _thread.stop()
    try:
        services.worker_stop(name=_thread.worker_name)
    except Exception:
        log.exception("could not record the worker's shutdown; reconciliation will mark it lost")
    finally:
        connection.close()
    _thread = None
