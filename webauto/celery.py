"""The Celery application shared by web, worker and beat."""

from __future__ import annotations

import gc
import os
from typing import Any

from celery import Celery
from celery.signals import worker_init
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webauto.settings")
# Celery's Django fix-up runs Django's system checks when a worker or beat
# loads its tasks; the URL checks import every view, DRF's renderers, the
# OpenAPI generator (which imports django.test and unittest) and the
# Prometheus client: about 13 MB in the worker and in each of its pool
# processes, for modules they never use. `manage.py migrate`, which every
# deployment runs first, performs the same checks.
os.environ.setdefault("CELERY_SKIP_CHECKS", "1")
# redis:// and rediss:// URLs use our transport, which survives a broker restart
# (see webauto/broker.py).
TRANSPORT_ALIASES["redis"] = TRANSPORT_ALIASES["rediss"] = "webauto.broker:Transport"

app = Celery("webauto")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _freeze_before_fork(**kwargs: Any) -> None:
    """Move every object the worker's main process holds so far (the imported
    code of Django and the apps) out of the garbage collector's reach just
    before the prefork pool forks: a pool process's collections then never
    write to those objects' headers, so their pages stay shared with the main
    process instead of being copied into each pool process (about 30 MB each,
    measured by tests/performance/bench_memory.py). Python's gc.freeze()
    documentation recommends exactly this before fork().

    httpx, which the web process does not import until it sends a request,
    is imported here, so that the pool processes running HTTP nodes share
    its 16 MB instead of each importing its own copy."""
    import httpx  # noqa: F401

    gc.collect()
    gc.freeze()
