"""A worker's pool processes stay lean (README, Benchmarks, "Memory"): the
code imported before the fork is frozen out of the garbage collector's reach
(so its pages stay shared with the main process), and modules a worker does
not need to run a node are not imported: Django's URL checks (views, DRF's
renderers, the OpenAPI generator, the Prometheus client) are skipped, and the
HTML and encoding libraries load only where a page is parsed. And a pool
process runs a full garbage collection every WEBAUTO_WORKER_GC_EVERY_TASKS
tasks, which CPython, after the freeze, would not run by itself."""

from __future__ import annotations

import pytest

from orchestration import services
from orchestration.models import EXECUTION_FINAL, Execution, NodeRun
from tests.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

NOT_NEEDED = [
    "webauto.urls", "drf_spectacular.views", "rest_framework.test", "unittest", "prometheus_client",
    "bs4", "lxml.etree", "soupsieve", "charset_normalizer",
]


def test_pool_processes_run_nodes_with_the_main_process_code_frozen_and_without_unneeded_modules(
    worker_factory, make_task
):
    worker_factory(concurrency=2)
    task = make_task("process-facts", [
        {"id": "facts", "workflow": "test-process-facts", "config": {"modules": NOT_NEEDED}},
    ])
    execution = services.execution_create(task=task)
    wait_for(lambda: Execution.objects.filter(pk=execution.pk, status__in=list(EXECUTION_FINAL)).exists())

    facts = NodeRun.objects.get(execution=execution, node_id="facts").output
    assert facts["imported"] == []
    assert facts["preloaded"] == ["httpx"]  # imported before the fork: shared, not one copy per pool process
    # Django, Celery and the apps: tens of thousands of objects frozen in the main process before the fork.
    assert facts["frozen"] > 10_000


def run_facts(task) -> dict:
    execution = services.execution_create(task=task)
    wait_for(lambda: Execution.objects.filter(pk=execution.pk, status__in=list(EXECUTION_FINAL)).exists())
    return NodeRun.objects.get(execution=execution, node_id="facts").output


@pytest.mark.parametrize("every", [3, 0], ids=["every-3-tasks", "off"])
def test_a_pool_process_runs_a_full_collection_every_n_tasks_and_cpython_alone_runs_none(
    worker_factory, make_task, every
):
    worker_factory(concurrency=1, env={"WEBAUTO_WORKER_GC_EVERY_TASKS": str(every)})
    task = make_task("gc-facts", [{"id": "facts", "workflow": "test-process-facts", "config": {}}])

    runs = [run_facts(task) for _ in range(8)]  # one pool process, eight tasks at least

    assert len({run["pid"] for run in runs}) == 1
    collections = runs[-1]["full_collections"] - runs[0]["full_collections"]
    if every:
        # At least seven tasks ended between the first node's read and the last one's.
        assert collections >= 7 // every
    else:
        # The frozen imports (tens of thousands of objects) still count as the
        # last full collection's survivors: CPython waits for a quarter of
        # that many promoted objects before it runs another.
        assert runs[0]["frozen"] > 10_000
        assert collections == 0
