from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine

from orchestration import services as core
from orchestration.models import Execution, ExecutionStatus, Task
from tests.conftest import ROOT, worker_env


def task_definition(task_id: str, *, schedule: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "taskId": task_id,
        "name": task_id,
        "workflows": [{"id": "only", "name": "only", "workflow": "echo", "config": {"output": {"ok": True}}}],
        **extra,
    }
    if schedule is not None:
        doc["schedule"] = schedule
    return doc


@pytest.fixture
def make_task(db):
    def make(task_id: str = "sched-task", **kwargs: Any) -> Task:
        return core.task_create(definition=task_definition(task_id, **kwargs))

    return make


@pytest.fixture
def clock() -> Iterator[Any]:
    """Time under test control: ``clock.at(datetime)`` moves to an instant."""

    class Clock:
        traveller: Any = None

        def at(self, when: datetime) -> None:
            if self.traveller is not None:
                self.traveller.stop()
            self.traveller = time_machine.travel(when, tick=False)
            self.traveller.start()

    c = Clock()
    yield c
    if c.traveller is not None:
        c.traveller.stop()


def finish(execution: Execution, status: str = ExecutionStatus.COMPLETED) -> None:
    """Mark an execution finished (the engine's workers are not part of these tests)."""
    Execution.objects.filter(pk=execution.pk).update(status=status)


class Beat:
    """A real ``celery beat`` process (our DatabaseScheduler) on the test
    database, its log in ``folder/<name>.log``."""

    def __init__(self, folder: Path, name: str) -> None:
        self.log = folder / f"{name}.log"
        cmd = [
            sys.executable, "-m", "celery", "-A", "webauto", "beat", "--loglevel", "INFO",
            "--pidfile", str(folder / f"{name}.pid"), "--schedule", str(folder / f"{name}-schedule"),
        ]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=worker_env(), stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(20)


@pytest.fixture
def beats(tmp_path: Path) -> Iterator[Callable[[str], Beat]]:
    """Starts real beats for one test: ``beats("beat-1")``; killed when it ends."""
    started: list[Beat] = []

    def start(name: str) -> Beat:
        beat = Beat(tmp_path, name)
        started.append(beat)
        return beat

    yield start
    for beat in started:
        beat.stop(signal.SIGKILL)


def logs(*paths: Path) -> str:
    """The tails of these log files, for a failure message."""
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in paths if p.exists())


def assert_contiguous_once(fires: Sequence[Any], step: timedelta) -> None:
    """The fires (ordered by ``scheduled_at``) cover one instant each, every
    ``step``, with neither a duplicate nor a gap."""
    instants = [f.scheduled_at for f in fires]
    assert len(instants) == len(set(instants))
    gaps = [b - a for a, b in zip(instants, instants[1:], strict=False)]
    assert gaps and all(gap == step for gap in gaps), gaps
