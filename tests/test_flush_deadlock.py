"""The test database flush between transactional tests against a worker still
writing: it must neither deadlock nor be the one PostgreSQL aborts."""

from __future__ import annotations

import threading

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

import tests.conftest as root
from tests.conftest import database_url, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_the_flush_gives_way_to_a_transaction_holding_a_table_it_needs():
    """A worker-like transaction holds the last table of the flush's TRUNCATE,
    then reads the first one: a TRUNCATE that takes its tables one by one would
    hold the first while waiting for the last, a deadlock. The flush must wait
    holding nothing, and finish once the transaction commits."""
    # The suite runs on PostgreSQL (scripts/test); the flush's locking is PostgreSQL's.
    assert connection.vendor == "postgresql", "run this test on PostgreSQL, as scripts/test does"
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    first, last = (connection.ops.quote_name(t) for t in (tables[0], tables[-1]))
    retries_before = root.flush_lock_retries
    holding = threading.Event()
    outcome: dict[str, str] = {}

    def flush() -> None:
        holding.wait(30)
        try:
            call_command("flush", verbosity=0, interactive=False)
            outcome["flush"] = "ok"
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["flush"] = repr(exc)

    flusher = threading.Thread(target=flush)
    flusher.start()
    dsn = database_url().replace("postgres://", "postgresql://", 1)
    with psycopg.connect(dsn) as worker, psycopg.connect(dsn, autocommit=True) as observer:
        worker.execute(f"LOCK TABLE {last} IN ROW EXCLUSIVE MODE")
        holding.set()

        def flush_met_the_lock() -> bool:
            # Either way the flush has run into our lock: it retried (it holds
            # nothing), or it waits for the lock (holding the tables before it).
            waiting = observer.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"
            ).fetchone()
            return root.flush_lock_retries > retries_before or bool(waiting and waiting[0])

        wait_for(flush_met_the_lock, timeout=30, interval=0.05)
        worker.execute(f"SELECT count(*) FROM {first}")
        worker.commit()
    flusher.join(60)
    assert outcome == {"flush": "ok"}
