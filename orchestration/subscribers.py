"""In-process caches of event subscribers, invalidated on change across processes.

Every recorded event is matched against its subscribers (event schedules,
auto-pausing schedules). Reading them from the database for every event cost
one query per event on the engine's hot path; instead each process keeps them
in memory (``SubscriberCache``) and reloads them only when they changed:

- Whoever changes subscribers calls ``bump(name)`` inside the changing
  transaction: it writes a fresh random token into the ``SubscriberGeneration``
  row ``name`` (committed, or rolled back, with the change itself).
- A cache reads that token at most once per ``WEBAUTO_SUBSCRIBER_CACHE_SECONDS``
  (one primary-key read) and reloads when it differs from the token it loaded
  with. A change made in another process therefore takes effect within that
  bound; a change made in this process takes effect at once (``bump``
  marks this process's caches stale when its transaction commits).
- The token is read *before* the subscribers are loaded, so a change that
  commits in between is seen by the next check (at worst one spare reload),
  never lost.

Rule source: issue 11 (no query per event; invalidation across processes).
"""

from __future__ import annotations

import functools
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Generic, TypeVar

from django.conf import settings
from django.db import IntegrityError, connection, transaction

T = TypeVar("T")

# Changes committed by this process, per subscriber name (a cache compares
# the count it loaded at with the current one).
_local_changes: dict[str, int] = {}
_lock = threading.Lock()


def _mark_changed(name: str) -> None:
    with _lock:
        _local_changes[name] = _local_changes.get(name, 0) + 1


def bump(name: str) -> None:
    """Record that the subscribers called ``name`` changed. Call it inside the
    transaction that changes them: the new token commits with the change,
    and this process's caches drop their copy once it has committed."""
    from orchestration.models import SubscriberGeneration

    token = uuid.uuid4()
    if not SubscriberGeneration.objects.filter(name=name).update(token=token):
        try:
            with transaction.atomic():
                SubscriberGeneration.objects.create(name=name, token=token)
        except IntegrityError:  # created by a concurrent transaction meanwhile
            SubscriberGeneration.objects.filter(name=name).update(token=token)
    transaction.on_commit(lambda: _mark_changed(name))


def current_token(name: str) -> uuid.UUID | None:
    """The committed token of ``name`` (None before its first change). One
    primary-key read in raw SQL: the alert rules read it after every
    successful run, and the ORM's query building was a third of its cost."""
    with connection.cursor() as cursor:
        cursor.execute(_token_sql(), [name])
        row = cursor.fetchone()
    if row is None or row[0] is None:
        return None
    token = row[0]
    return token if isinstance(token, uuid.UUID) else uuid.UUID(str(token))


@functools.cache
def _token_sql() -> str:
    from orchestration.models import SubscriberGeneration

    meta = SubscriberGeneration._meta
    q = connection.ops.quote_name
    return (f"SELECT {q(str(meta.get_field('token').column))} FROM {q(meta.db_table)}"
            f" WHERE {q(str(meta.get_field('name').column))} = %s")


_UNSET = object()


class SubscriberCache(Generic[T]):
    """The value ``load()`` returns, kept in this process and loaded again
    when the subscribers called ``name`` changed (see the module docstring).

    ``max_age`` (seconds; default ``WEBAUTO_SUBSCRIBER_CACHE_SECONDS``) bounds
    how long a change made by another process may go unseen; 0 checks the
    token on every ``get()``. ``load`` must return a value that is never
    mutated afterwards (a tuple or frozenset, say): callers share it."""

    def __init__(self, name: str, load: Callable[[], T], *, max_age: float | None = None) -> None:
        self.name = name
        self.load = load
        self.max_age = max_age
        self._value: object = _UNSET
        self._token: uuid.UUID | None = None
        self._local = -1
        self._checked = 0.0
        self._pid = 0

    def _fresh_for(self) -> float:
        if self.max_age is not None:
            return self.max_age
        return float(settings.WEBAUTO_SUBSCRIBER_CACHE_SECONDS)

    def get(self) -> T:
        """The subscribers, from memory when they are known not to have changed."""
        now = time.monotonic()
        local = _local_changes.get(self.name, 0)
        loaded = self._value is not _UNSET and self._pid == os.getpid() and self._local == local
        if loaded and now - self._checked < self._fresh_for():
            return self._value  # type: ignore[return-value]
        token = current_token(self.name)
        if loaded and token == self._token:
            self._checked = now
            return self._value  # type: ignore[return-value]
        value = self.load()
        self._value, self._token, self._local, self._checked, self._pid = value, token, local, now, os.getpid()
        return value

    def clear(self) -> None:
        """Forget the value (the next ``get()`` loads it)."""
        self._value = _UNSET


__all__ = ["SubscriberCache", "bump", "current_token"]
