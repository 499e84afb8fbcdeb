"""Helpers for lock-order tests: hold row locks in another transaction, and
make waiting for a lock fail fast instead of hanging."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def held_in_another_transaction(lock: Callable[[], object]) -> Iterator[None]:
    """Run ``lock()`` in a transaction on another connection and keep it open
    (its row locks held) until the block ends."""
    taken, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold() -> None:
        try:
            with transaction.atomic():
                lock()
                taken.set()
                release.wait(30)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            taken.set()
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert taken.wait(10)
    try:
        yield
    finally:
        release.set()
        thread.join(10)
    assert not errors, errors


@contextmanager
def lock_timeout(seconds: float) -> Iterator[None]:
    """Waiting for a row lock longer than this fails (instead of hanging)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET lock_timeout = '{int(seconds * 1000)}ms'")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
