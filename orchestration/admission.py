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
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from functools import cache
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


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

    def request(self, execution_id: int) -> bool:
        self.pending.append(execution_id)
        return False

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
    Nested blocks join the outer one."""
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
    if batch.pending:
        from orchestration import services

        for execution_id in decide_many(batch.pending):
            if services.execution_begin(execution_id=execution_id):
                started.append(execution_id)

