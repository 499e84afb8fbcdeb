"""Admission control: the hook that decides when a queued execution starts.

The backend named by ``settings.WEBAUTO_ADMISSION_BACKEND`` is asked, inside
the transaction that queues an execution, whether it may start now. A backend
that says no must later call ``orchestration.services.execution_begin`` for it
when capacity frees up, and is told through ``release`` when an execution no
longer needs its share (finished, cancelled or preempted).

Batches. Inside ``batched()`` (the scheduler fires a tick's schedules in one
transaction), requests are not decided one by one: each execution stays
queued, and when the block ends, still in the caller's transaction, the
backend decides them all in one pass (``request_many``: one lock of the
shared state, one look at the capacity) and the admitted ones are started.
A backend without ``request_many`` is asked once per execution.

Deciding after commit. A backend whose decision locks shared state (the
resource manager locks its pool row) would hold that lock until the caller's
transaction commits, so concurrent creators queue behind each other for the
whole rest of their transactions (a convoy). Such a backend offers
``enqueue(execution)`` and ``admit_queued()``: ``request`` then only
records the request in the caller's transaction (the execution stays queued,
in the backend's queue) and, once it commits, calls ``admit_queued``, which
decides the queue in order under its lock, in a short transaction of its
own, and starts what it admitted (``execution_begin``). Should that step
fail, the execution waits in the queue for the backend's next pass, which
its reconciliation runs periodically.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterator
from functools import cache
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from orchestration.models import Execution

log = logging.getLogger(__name__)


class AdmissionBackend(Protocol):
    def request(self, execution_id: int) -> bool: ...

    def release(self, execution_id: int) -> None: ...


class AdmitAll:
    """Starts every execution at once (no capacity accounting)."""

    def request(self, execution_id: int) -> bool:
        return True

    def request_many(self, execution_ids: list[int]) -> list[int]:
        return list(execution_ids)

    def release(self, execution_id: int) -> None:
        return None


class _Deferring:
    """The backend seen inside ``batched()``: requests are collected and
    answered "not now" (the execution stays queued) until the batch decides
    them together; releases go straight to the configured backend."""

    def __init__(self, backend: AdmissionBackend) -> None:
        self.backend = backend
        self.pending: list[int] = []
        self.enqueue = getattr(backend, "enqueue", None)
        self.admit_queued = getattr(backend, "admit_queued", None)

    def request(self, execution_id: int) -> bool:
        self.pending.append(execution_id)
        return False

    def enqueue_request(self, execution: Execution) -> None:
        """``request`` for a backend that decides after commit: in the queue
        now, and one pass after the batch's commit decides them all."""
        assert self.enqueue is not None
        self.enqueue(execution)
        self.pending.append(execution.pk)

    def release(self, execution_id: int) -> None:
        self.backend.release(execution_id)


_batch: contextvars.ContextVar[_Deferring | None] = contextvars.ContextVar("admission_batch", default=None)


@cache
def _configured_backend() -> AdmissionBackend:
    backend: AdmissionBackend = import_string(settings.WEBAUTO_ADMISSION_BACKEND)()
    return backend


class _BackendGetter:
    """``get_backend()``: the configured backend, or inside ``batched()`` the
    collecting one. ``get_backend.cache_clear()`` forgets the configured one
    (tests that change the setting)."""

    def __call__(self) -> AdmissionBackend:
        batch = _batch.get()
        if batch is not None:
            return batch
        return _configured_backend()

    def cache_clear(self) -> None:
        _configured_backend.cache_clear()


get_backend = _BackendGetter()


def request(execution: Execution) -> bool:
    """Ask admission control whether the queued ``execution`` may start now,
    inside the caller's transaction (which holds the execution's row).

    True: start it in this transaction. False: it stays queued; the backend
    starts it later through ``execution_begin``. Inside ``batched()`` the
    request is collected for the batch's pass; with a backend that offers
    ``enqueue`` (see the module docstring) the request is recorded now and
    decided right after the caller commits, so this returns False."""
    backend = get_backend()
    if isinstance(backend, _Deferring):
        if backend.enqueue is not None and backend.admit_queued is not None:
            backend.enqueue_request(execution)
            return False
        return backend.request(execution.pk)
    enqueue = getattr(backend, "enqueue", None)
    admit_queued = getattr(backend, "admit_queued", None)
    if enqueue is None or admit_queued is None:
        return backend.request(execution.pk)
    enqueue(execution)
    _admit_after_commit(admit_queued, [execution.pk])
    return False


def _admit_after_commit(admit_queued: Callable[[], object], execution_ids: list[int]) -> None:
    """Once the caller commits, run the backend's ``admit_queued()`` (the
    deferred decision) at the caller's broker priority, so that the
    executions it starts send their first nodes as the caller asked
    (``dispatch_priority``: a clock fire's go first). A failure leaves
    the executions to the backend's next pass: logged, never raised into a
    caller that has already committed."""
    from orchestration import services

    floor = services.dispatch_priority_floor()

    def admit() -> None:
        try:
            if floor is None:
                admit_queued()
            else:
                with services.dispatch_priority(floor):
                    admit_queued()
        except Exception:
            log.warning(
                "admission of execution(s) %s after commit failed; they wait for the next pass",
                ", ".join(map(str, execution_ids)),
                exc_info=True,
            )

    transaction.on_commit(admit, robust=True)


def decide_many(execution_ids: list[int]) -> list[int]:
    """Ask the configured backend about several queued executions at once;
    returns the admitted ids (the others stay queued with their reason)."""
    backend = _configured_backend()
    many = getattr(backend, "request_many", None)
    if many is not None:
        return list(many(execution_ids))
    return [pk for pk in execution_ids if backend.request(pk)]


@contextlib.contextmanager
def batched() -> Iterator[list[int]]:
    """Collect the admission requests made inside the block and decide them in
    one pass when it ends without an error, then start the admitted
    executions (``execution_begin``). Must run inside the caller's
    transaction, so the queued executions, their admission and their first
    nodes commit together. Yields the list that receives the started ids.
    Nested blocks join the outer one.

    With a backend that decides after commit (``enqueue``/``admit_queued``)
    each request is put in the queue as it is made and one ``admit_queued``
    runs once the caller commits; the started ids are not known in the block
    then, and the list stays empty."""
    if _batch.get() is not None:
        yield []
        return
    batch = _Deferring(_configured_backend())
    token = _batch.set(batch)
    started: list[int] = []
    try:
        yield started
    finally:
        _batch.reset(token)
    if batch.pending and batch.enqueue is not None and batch.admit_queued is not None:
        _admit_after_commit(batch.admit_queued, batch.pending)
    elif batch.pending:
        from orchestration import services

        for execution_id in decide_many(batch.pending):
            if services.execution_begin(execution_id=execution_id):
                started.append(execution_id)

