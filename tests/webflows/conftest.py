"""Fixtures for the web workflows: the sandbox served by a real live server,
a Task row (node state needs one) and RunContexts whose files go to a
temporary media root."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestration.context import RunContext
from orchestration.models import Task

SANDBOX_UID = "1671109627"


@pytest.fixture
def media_root(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def task_row(db) -> Task:
    return Task.objects.create(task_id="webflows-test-task", name="webflows test", workflows=[])


@pytest.fixture
def make_context(task_row: Task, media_root: Path) -> Callable[..., RunContext]:
    counter = iter(range(1, 10_000))

    def make(node_id: str = "node", **kwargs) -> RunContext:
        return RunContext(
            task_id=task_row.task_id,
            task_pk=task_row.pk,
            execution_id=next(counter),
            node_id=node_id,
            attempt=1,
            **kwargs,
        )

    return make


@pytest.fixture
def sandbox(live_server) -> str:
    """Base URL of the sandbox site (…/sandbox) on a real local server (the
    live server makes the test's database transactional, so its thread sees our rows)."""
    return f"{live_server.url}/sandbox"


def closed_port() -> int:
    """A local port nothing listens on (bound and released; Chromium refuses well-known ones like 9)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())
