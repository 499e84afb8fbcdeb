"""What every benchmark script does first: point the environment at its own
PostgreSQL database and Redis db, set Django up, create and migrate the
database if needed, and empty the broker."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def configure(*, database: str, redis_db: int) -> None:
    """Set the environment defaults (call before importing Django code)."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{database}")
    os.environ.setdefault("REDIS_URL", f"redis://127.0.0.1:6379/{redis_db}")
    os.environ["CELERY_BROKER_URL"] = os.environ["REDIS_URL"]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webauto.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")


def ensure_database(*, fresh: bool = False) -> None:
    """Create the benchmark's database if it is missing; with ``fresh``, drop
    it first (every connection to it is closed)."""
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    with psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"] or "postgres",
                         dbname="postgres", autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{db["NAME"]}" WITH (FORCE)')
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{db["NAME"]}"')


def setup(*, fresh: bool = False) -> None:
    """django.setup(), create + migrate the database, flush the broker's Redis db.

    ``fresh`` starts from an empty database (dropped and migrated again):
    the history earlier runs leave behind (hundreds of thousands of event
    and fire rows, and their dead tuples) slows the next run, so figures
    taken one after another would not be comparable. The environment
    variable ``WEBAUTO_BENCH_KEEP_DB=1`` keeps the database instead."""
    import django

    django.setup()
    ensure_database(fresh=fresh and os.environ.get("WEBAUTO_BENCH_KEEP_DB") != "1")
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from webauto.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.client.flushdb()


def wait_broker_idle(timeout: float = 30.0) -> float:
    """Wait until the worker has taken and acknowledged every message: the
    Celery queue's lists (one per priority step) are empty and kombu's
    ``unacked`` hash too (acks are late: a message stays there until its task
    returns). So one measurement does not pay for the last one's messages
    (a fan-out leaves its continued branches' messages behind, each dropped
    as stale by the worker that takes it). Returns the seconds waited;
    raises TimeoutError after ``timeout``."""
    from webauto.celery import app

    started = time.monotonic()
    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        while True:
            queues = [key for key in client.keys("celery*") if client.type(key) in (b"list", "list")]
            if not any(client.llen(key) for key in queues) and not client.hlen("unacked"):
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise TimeoutError("the worker did not drain the broker's queue")
            time.sleep(0.002)


def print_result(figures: dict[str, Any]) -> None:
    """Print the machine-readable line every benchmark ends with:
    ``RESULT {json}`` (one line, last). NaN and infinities become null, and
    the machine's 1-minute load average is added as ``load_1m`` so a figure is
    never read without the load it was measured under."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    line = {key: clean(value) for key, value in figures.items()}
    line.setdefault("load_1m", round(os.getloadavg()[0], 2))
    print("RESULT " + json.dumps(line, sort_keys=False), flush=True)
