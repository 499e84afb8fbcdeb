"""Recording events, and telling other parts of the product about them.

``emit`` writes the Event row inside the caller's transaction; subscribers are
told through the ``event_recorded`` signal only after that transaction commits,
so they never see an event whose state change was rolled back. Subscribers
must be quick: enqueue a Celery task for anything slow. A subscriber that
fails (the broker is down, say) is logged and does not fail the caller: the
state change is committed by then.

Inside ``batch()`` (the engine's node transitions), events are collected and
written with one multi-row INSERT when the batch ends, and announced together
after the commit, in the order they were emitted.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.dispatch import Signal

if TYPE_CHECKING:
    from orchestration.models import Event, Execution, Task

log = logging.getLogger(__name__)

# sender=Event class, event=the Event instance
event_recorded = Signal()

_pending: contextvars.ContextVar[list[Event] | None] = contextvars.ContextVar("events_pending", default=None)


def emit(
    type: str,
    *,
    task: Task | None = None,
    execution: Execution | None = None,
    node_id: str = "",
    data: dict[str, Any] | None = None,
    source: str = "system",
    task_id: int | None = None,
    execution_id: int | None = None,
) -> Event:
    """Record one event (``task`` / ``execution`` as instances, or their
    primary keys as ``task_id`` / ``execution_id``; an execution's task is
    used when no task is given). Inside ``batch()`` the row is written when
    the batch ends (the returned event has no ``pk`` until then)."""
    from orchestration.models import Event

    if task is None and task_id is None and execution is not None:
        task = execution.task
    event = Event(type=type, node_id=node_id, data=data or {}, source=source)
    if task is not None:
        event.task = task
    elif task_id is not None:
        event.task_id = task_id
    if execution is not None:
        event.execution = execution
    elif execution_id is not None:
        event.execution_id = execution_id
    pending = _pending.get()
    if pending is not None:
        pending.append(event)
        return event
    event.save(force_insert=True)
    transaction.on_commit(lambda: event_recorded.send(sender=Event, event=event), robust=True)
    return event


def _announce(events: list[Event]) -> None:
    from orchestration.models import Event

    for event in events:
        try:
            event_recorded.send(sender=Event, event=event)
        except Exception:  # like on_commit(robust=True): the state change is committed
            log.exception("event %s (%s): a subscriber failed", event.pk, event.type)


@contextlib.contextmanager
def batch() -> Iterator[None]:
    """Collect the events emitted inside, insert them in one statement when
    the block ends without an exception, and announce them after the commit.
    Use it inside the transaction (``with transaction.atomic(), events.batch():``).
    Batches nest: an inner batch adds to the outer one."""
    from orchestration.models import Event

    if _pending.get() is not None:
        yield
        return
    collected: list[Event] = []
    token = _pending.set(collected)
    try:
        yield
    finally:
        _pending.reset(token)
    if collected:
        Event.objects.bulk_create(collected)
        announce_on_commit(collected)


def event_model() -> type[Event]:
    """The Event model (imported late: models import this module's callers)."""
    from orchestration.models import Event

    return Event


def take_pending() -> list[Event]:
    """Take the events collected so far by the surrounding ``batch()`` out of
    it (empty outside one): the caller inserts them itself (in its own
    statement, ``orchestration.persistence.flush``) and announces them."""
    pending = _pending.get()
    if not pending:
        return []
    taken = list(pending)
    pending.clear()
    return taken


def announce_on_commit(recorded: list[Event]) -> None:
    """Announce events already written (``event_recorded``, in order) once
    the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: _announce(recorded))
