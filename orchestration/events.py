"""Recording events, and telling other parts of the product about them.

``emit`` writes the Event row inside the caller's transaction; subscribers are
told through the ``event_recorded`` signal only after that transaction commits,
so they never see an event whose state change was rolled back. Subscribers
must be quick: enqueue a Celery task for anything slow. A subscriber that
fails (the broker is down, say) is logged and does not fail the caller: the
state change is committed by then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.dispatch import Signal

if TYPE_CHECKING:
    from orchestration.models import Event, Execution, Task

# sender=Event class, event=the Event instance
event_recorded = Signal()


def emit(
    type: str,
    *,
    task: Task | None = None,
    execution: Execution | None = None,
    node_id: str = "",
    data: dict[str, Any] | None = None,
    source: str = "system",
) -> Event:
    from orchestration.models import Event

    if task is None and execution is not None:
        task = execution.task
    event = Event.objects.create(
        type=type, task=task, execution=execution, node_id=node_id, data=data or {}, source=source
    )
    transaction.on_commit(lambda: event_recorded.send(sender=Event, event=event), robust=True)
    return event
