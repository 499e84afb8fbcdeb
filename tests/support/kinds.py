"""Workflow kinds used only by the tests (registered in the test process and,
through WEBAUTO_EXTRA_KIND_MODULES, in the workers the tests start)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from orchestration.context import NodeError, RunContext
from orchestration.registry import NodeKind, register


def _fail_until(config: dict[str, Any], input: Any, context: RunContext) -> dict[str, Any]:
    """Fails on attempts before ``succeedOnAttempt`` (never succeeds when 0)."""
    succeed_on = int(config.get("succeedOnAttempt", 0))
    if succeed_on == 0 or context.attempt < succeed_on:
        raise NodeError(config.get("message", f"planned failure on attempt {context.attempt}"))
    return {"attempt": context.attempt}


def _stubborn_sleep(config: dict[str, Any], input: Any, context: RunContext) -> dict[str, Any]:
    """Sleeps without looking at cancellation: only a hard stop ends it early."""
    time.sleep(float(config["seconds"]))
    return {"slept": float(config["seconds"])}


def _marker(config: dict[str, Any], input: Any, context: RunContext) -> dict[str, Any]:
    """Appends a line to a file (to count real runs), then optionally sleeps."""
    path = Path(config["file"])
    with path.open("a") as fh:
        fh.write(f"{context.execution_id}:{context.node_id}:{os.getpid()}\n")
    if config.get("seconds"):
        context.sleep(float(config["seconds"]))
    return {"marked": True, "input": input}


CHILD_SCRIPT = """
import sys, time
size = int(sys.argv[1]) * 2**20
block = bytearray(size)
for i in range(0, size, 4096):
    block[i] = 1  # touch every page: untouched zero pages are not resident
end = time.process_time() + float(sys.argv[2])
while time.process_time() < end:
    pass
time.sleep(float(sys.argv[3]))
"""


def _child_process(config: dict[str, Any], input: Any, context: RunContext) -> dict[str, Any]:
    """Runs a child process (as a browser node does) that holds ``megabytes``
    of memory and burns ``cpuSeconds`` of CPU, then waits ``holdSeconds``."""
    args = [str(config.get("megabytes", 64)), str(config.get("cpuSeconds", 0.5)), str(config.get("holdSeconds", 1))]
    subprocess.run([sys.executable, "-c", CHILD_SCRIPT, *args], check=True, timeout=60)
    return {"child": "done"}


register(NodeKind(name="test-fail-until", run=_fail_until))
register(NodeKind(name="test-child-process", run=_child_process))
register(NodeKind(name="test-stubborn-sleep", run=_stubborn_sleep))
register(NodeKind(name="test-marker", run=_marker))


def _lease_marker(config: dict[str, Any], input: Any, context: RunContext) -> dict[str, Any]:
    """Appends ``start`` and, however the node ends (stopped included), ``end``
    lines with wall-clock times, so a test can tell whether two copies overlapped."""
    path = Path(config["file"])

    def mark(what: str) -> None:
        with path.open("a") as fh:
            fh.write(f"{what}:{context.execution_id}:{context.node_id}:{os.getpid()}:{time.time():.3f}\n")

    mark("start")
    try:
        context.sleep(float(config.get("seconds", 0)))
    finally:
        mark("end")
    return {"marked": True}


register(NodeKind(name="test-lease-marker", run=_lease_marker))


def _process_facts(config: dict[str, Any], input: Any, context: RunContext) -> dict[str, Any]:
    """What the pool process running it holds: objects frozen out of the
    garbage collector's reach, how many full collections it has run, and
    which of ``config["modules"]`` it has imported."""
    import gc

    return {
        "pid": os.getpid(),
        "frozen": gc.get_freeze_count(),
        "full_collections": gc.get_stats()[2]["collections"],
        "imported": sorted(name for name in config.get("modules", []) if name in sys.modules),
        "preloaded": sorted(name for name in ("httpx",) if name in sys.modules),
    }


register(NodeKind(name="test-process-facts", run=_process_facts))
