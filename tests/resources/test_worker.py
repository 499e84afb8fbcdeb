"""The heartbeat a worker sends about itself."""

from __future__ import annotations

import os
import socket

import psutil
import pytest

from resources.models import Worker, WorkerStatus
from resources.worker import HeartbeatThread, read_figures
from tests.conftest import wait_for


def test_figures_describe_this_machine_and_process_tree(settings):
    settings.WEBAUTO_WORKER_CPU_LIMIT_MILLICORES = 1500
    beat = read_figures(name="celery@here", slots=3)
    assert beat.host == socket.gethostname() and beat.pid == os.getpid() and beat.slots == 3
    assert beat.cores == psutil.cpu_count()
    assert beat.memory_total_bytes == psutil.virtual_memory().total
    assert 0 < beat.memory_available_bytes <= beat.memory_total_bytes
    assert beat.disk_free_bytes > 0
    assert beat.rss_bytes >= psutil.Process().memory_info().rss // 2
    assert beat.cpu_limit_millicores == 1500


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_thread_keeps_the_worker_alive_until_stopped():
    thread = HeartbeatThread(name="celery@thread-test", slots=2, interval=0.2)
    thread.start()
    try:
        worker = wait_for(lambda: Worker.objects.filter(name="celery@thread-test").first(), timeout=10)
        first = worker.last_heartbeat_at
        wait_for(lambda: Worker.objects.get(pk=worker.pk).last_heartbeat_at > first, timeout=10)
    finally:
        thread.stop()
    worker.refresh_from_db()
    assert worker.status == WorkerStatus.ALIVE and worker.slots == 2 and worker.cores >= 1
    assert not thread.is_alive()
