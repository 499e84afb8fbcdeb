"""A node's whole process tree is measured (issue 14, point 7): a browser
node's Chromium and its children count for CPU and peak memory, not only the
worker process."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from orchestration import services
from orchestration.models import EXECUTION_FINAL, Execution, NodeRun
from orchestration.process_tree import ProcessTreeMeter
from tests.conftest import wait_for
from tests.support.kinds import CHILD_SCRIPT

MB = 2**20


def test_the_meter_counts_a_child_process_cpu_and_memory():
    meter = ProcessTreeMeter(interval=0.1).start()
    subprocess.run([sys.executable, "-c", CHILD_SCRIPT, "96", "0.5", "0.6"], check=True, timeout=60)
    cpu, peak = meter.stop()
    assert cpu >= 0.45
    assert peak >= 80 * MB


def test_the_meter_counts_a_grandchild_that_is_still_running_at_the_end():
    meter = ProcessTreeMeter(interval=0.1).start()
    # A shell (child) starting Python (grandchild) in the background, like a
    # browser's helper processes; the meter stops while it still runs.
    shell = subprocess.Popen(["sh", "-c", f'"{sys.executable}" -c "$0" 128 0.4 5 & wait', CHILD_SCRIPT])
    try:
        def grandchild_holds_its_memory() -> bool:
            procs = meter.process.children(recursive=True)
            return any(p.pid != shell.pid and p.memory_info().rss >= 128 * MB for p in procs)

        wait_for(grandchild_holds_its_memory, timeout=20)
        _, peak = meter.stop()
    finally:
        for child in meter.process.children(recursive=True):
            child.kill()
        shell.wait()
    assert peak >= 100 * MB

@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_node_that_starts_a_process_is_charged_for_it_on_the_worker(celery_worker):
    task = services.task_create(definition={
        "taskId": "child-process", "name": "Child process",
        "workflows": [{"id": "spawn", "workflow": "test-child-process",
                       "config": {"megabytes": 96, "cpuSeconds": 0.5, "holdSeconds": 1}}],
    })
    execution = services.execution_create(task=task, trigger="api")
    wait_for(lambda: Execution.objects.get(pk=execution.pk).status in EXECUTION_FINAL, timeout=120)
    node = NodeRun.objects.get(execution=execution, node_id="spawn")
    assert node.status == "completed", node.error
    assert node.peak_rss_bytes is not None and node.peak_rss_bytes >= 80 * MB
    assert node.cpu_seconds is not None and node.cpu_seconds >= 0.45


def test_descendants_are_found_through_the_proc_children_files_as_psutil_finds_them():
    """The fast walk (``/proc/<pid>/task/<tid>/children``) finds the same tree
    as psutil's scan of every process: a child and its grandchild."""
    import psutil

    from orchestration.process_tree import descendant_pids

    script = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); time.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        started = psutil.Process(child.pid)
        deadline = time.monotonic() + 20
        while not started.children() and time.monotonic() < deadline:
            time.sleep(0.05)
        (grandchild,) = started.children(recursive=True)
        found = descendant_pids(child.pid)
        assert found is not None, "this kernel has no /proc/<pid>/task/<tid>/children files"
        assert found == [grandchild.pid]
        mine = descendant_pids(os.getpid())
        assert mine is not None
        assert {child.pid, grandchild.pid} <= set(mine)
    finally:
        for p in psutil.Process(child.pid).children(recursive=True):
            p.kill()
        child.kill()
        child.wait()
