"""What a workflow's ``run`` receives besides its config and input."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings


class NodeCancelled(Exception):
    """Raised inside a workflow when its node was cancelled or timed out."""


class NodeError(Exception):
    """A failure a node kind reports on purpose while running a node, with a
    message for the operator (called "workflow" in the seed's JSON).

    ``retryable=False`` tells the engine that retrying cannot help (bad config,
    expired session), so remaining retry attempts are not spent.
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass
class RunContext:
    task_id: str
    task_pk: int
    execution_id: int
    node_id: str
    attempt: int
    parameters: dict[str, Any] = field(default_factory=dict)
    cancel_event: threading.Event = field(default_factory=threading.Event)
    logs: list[str] = field(default_factory=list)

    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check_cancelled(self) -> None:
        """Raise NodeCancelled if the node was cancelled or ran out of time.
        Long-running workflows call this between units of work."""
        if self.cancel_event.is_set():
            raise NodeCancelled("the node was stopped")

    def sleep(self, seconds: float) -> None:
        """Sleep, waking early (and raising NodeCancelled) if the node is stopped."""
        if self.cancel_event.wait(seconds):
            raise NodeCancelled("the node was stopped")

    def log(self, message: str) -> None:
        self.logs.append(message)

    @property
    def workdir(self) -> Path:
        """A per-task folder under the media root for files this node produces."""
        path = Path(settings.MEDIA_ROOT) / "tasks" / self.task_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def state_get(self, key: str, default: Any = None) -> Any:
        """State this node kept for its task in an earlier run (or ``default``)."""
        from orchestration.models import NodeState

        row = NodeState.objects.filter(task_id=self.task_pk, node_id=self.node_id, key=key).first()
        return default if row is None else row.data

    def state_set(self, key: str, value: Any) -> None:
        from orchestration.models import NodeState

        NodeState.objects.update_or_create(
            task_id=self.task_pk, node_id=self.node_id, key=key, defaults={"data": value}
        )
