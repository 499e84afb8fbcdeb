"""The Celery application shared by web, worker and beat."""

from __future__ import annotations

import gc
import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, worker_init
from django.conf import settings
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


_tasks_since_full_collection = 0


@task_postrun.connect
def _full_collection_between_tasks(**kwargs: Any) -> None:
    """Run a full garbage collection, gc.collect(), in a pool process after
    every ``WEBAUTO_WORKER_GC_EVERY_TASKS`` tasks (0: never), between two
    tasks, so that the process's memory stays flat.

    After the freeze above, CPython hardly ever runs a full collection by
    itself in a pool process: it starts one only once the objects promoted to
    the oldest generation since the last one number a quarter of those the
    last one found alive (``long_lived_pending < long_lived_total / 4`` in
    Modules/gcmodule.c), and the last one is the collection just before the
    freeze, which counted the ~125,000 objects now frozen (none ran from
    the 50th to the 200th task of a pool process in
    tests/performance/bench_memory.py). What only a full collection
    frees then piles up, chiefly the interpreter's free lists: CPython 3.11
    keeps up to 2,000 freed tuples of each length below 20 for reuse, and
    tuple() of an iterator without a length starts at 10 slots and shrinks
    in place, so tuples of 8 or 9 items are freed onto their lists faster
    than taken back. Measured in that benchmark (sys._debugmallocstats()),
    a pool process added ~20 freed tuples per task, in fresh pymalloc
    memory: +0.5 MB RSS per process over 250 tasks, the glibc heap unchanged
    (so malloc_trim(3) does not help). With a collection every 10 tasks RSS
    stayed within 4 kB from the 25th task to the 250th. A collection walks
    only what the pool process created (about 4,000 objects; the frozen ones
    are skipped): 0.3-0.5 ms of CPU with nothing to free, 1.5 ms on average
    in the benchmark, where it frees what the young collections would have."""
    global _tasks_since_full_collection
    every = settings.WEBAUTO_WORKER_GC_EVERY_TASKS
    if not every:
        return
    _tasks_since_full_collection += 1
    if _tasks_since_full_collection >= every:
        _tasks_since_full_collection = 0
        gc.collect()
