"""Shared fixtures: users, API clients, and real Celery workers.

Integration tests use ``celery_worker`` (one real worker process on the real
broker, talking to the test database) together with ``transactional_db`` so
that what the test writes is committed and visible to the worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings

import tests.support.kinds  # noqa: F401  (registers the test kinds here too)

ROOT = Path(__file__).resolve().parent.parent
EXTRA_KINDS = "tests.support.kinds"


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("admin", "admin@example.com", "pw-admin-123")


@pytest.fixture
def api_client(admin_user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(admin_user)
    return client


@pytest.fixture
def role_user(django_user_model):
    """Factory: ``role_user("operator")`` is an account holding that role
    (``None``: an account with no role), password ``pw-<username>-123``."""

    def make(role: str | None, username: str | None = None):
        from orchestration.access.roles import Role, grant_role

        name = username or f"{role or 'norole'}-user"
        user = django_user_model.objects.create_user(name, f"{name}@example.com", f"pw-{name}-123")
        grant_role(user=user, role=Role.parse(role) if role else None)
        return django_user_model.objects.get(pk=user.pk)  # no cached permissions

    return make


def database_url() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "WEBAUTO_EXTRA_KIND_MODULES": EXTRA_KINDS,
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "PYTHONPATH": str(ROOT),
            # Tests empty the database between them, workers included: a quick
            # heartbeat puts the worker (and its capacity) back at once.
            "WEBAUTO_WORKER_HEARTBEAT_SECONDS": "0.5",
        }
    )
    env.update(extra or {})
    return env


class WorkerProcess:
    def __init__(self, proc: subprocess.Popen[bytes], ready_file: Path, log_file: Path) -> None:
        self.proc = proc
        self.ready_file = ready_file
        self.log_file = log_file

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready_file.exists():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_file.read_text()[-4000:]}")
            time.sleep(0.1)
        raise TimeoutError(f"worker not ready in {timeout}s:\n{self.log_file.read_text()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once (a crash)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(scope="session")
def _worker_base(django_db_setup, tmp_path_factory) -> Path:
    """A folder for worker logs; also drops broker messages left by an earlier run."""
    from webauto.celery import app

    with app.connection_for_write() as conn:
        client = getattr(conn.default_channel, "client", None)
        if client is not None:
            client.flushdb()
    return tmp_path_factory.mktemp("workers")


_worker_count = 0


def start_worker(
    base: Path, *, concurrency: int = 4, env: dict[str, str] | None = None, wait: bool = True
) -> WorkerProcess:
    """Start a real ``celery worker`` process against the test database."""
    global _worker_count
    _worker_count += 1
    n = _worker_count
    ready = base / f"ready-{n}"
    log = base / f"worker-{n}.log"
    cmd = [
        sys.executable, "-m", "celery", "-A", "webauto", "worker", "-P", "prefork",
        "-c", str(concurrency), "-n", f"test{n}-{os.getpid()}@%h", "--loglevel", "INFO",
        "--without-mingle", "--without-gossip",
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=worker_env({"WEBAUTO_WORKER_READY_FILE": str(ready), **(env or {})}),
        stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    worker = WorkerProcess(proc, ready, log)
    if wait:
        worker.wait_ready()
    return worker


@pytest.fixture
def worker_factory(_worker_base: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Starts real workers for one test (stopped when the test ends). Do not
    combine with ``celery_worker``: workers started here should be the only
    ones consuming while the test runs."""
    workers: list[WorkerProcess] = []

    def start(**kwargs: object) -> WorkerProcess:
        worker = start_worker(_worker_base, **kwargs)  # type: ignore[arg-type]
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


# Module-scoped fixtures whose real worker outlives each test: what a test set
# in motion may still be running on it when the test database is flushed.
SHARED_WORKER_FIXTURES = ("celery_worker", "resource_worker")
QUIESCE_SECONDS = 30


def _broker_busy() -> bool:
    """True while a message waits in a queue or is unacknowledged. Tasks are
    acknowledged late (``CELERY_TASK_ACKS_LATE``), so a task still running,
    or held for its countdown, counts too, if it was delivered in the last
    ``QUIESCE_SECONDS``. False when the broker is not Redis
    (nothing to inspect)."""
    from webauto.celery import app

    with app.connection_for_write() as conn:
        client = getattr(conn.default_channel, "client", None)
        if client is None:
            return False
        # A message a live worker holds was delivered moments ago; one a
        # killed worker held (a test that SIGKILLs its worker) stays in
        # "unacked" until the visibility timeout, and must not keep every
        # later test waiting. kombu scores "unacked_index" by delivery time.
        if client.zcount("unacked_index", time.time() - QUIESCE_SECONDS, "+inf"):
            return True
        return any(client.llen(key) for key in client.scan_iter("celery*", count=100) if client.type(key) == b"list")


def _database_busy() -> bool:
    """True while another session of the test database is running a statement
    or sits inside a transaction (a worker between two writes)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND state <> 'idle'"
        )
        return bool(cursor.fetchone()[0])


def _worker_busy() -> str | None:
    """What a shared worker may still be doing for the test that just ended
    (None: nothing): an execution not final (a preempted run waiting to
    resume, a cancelled one whose node is stopping), a node queued or running,
    a message not yet processed (a dispatch pass, an event's evaluation), a
    transaction open."""
    from orchestration.models import EXECUTION_ACTIVE, Execution, NodeRun, NodeStatus

    if Execution.objects.filter(status__in=EXECUTION_ACTIVE).exists():
        return "an execution is still active"
    if NodeRun.objects.filter(status__in=[NodeStatus.QUEUED, NodeStatus.RUNNING]).exists():
        return "a node is queued or running"
    if _broker_busy():
        return "a broker message is queued or being processed"
    if _database_busy():
        return "a worker is inside a transaction"
    return None


@pytest.fixture(autouse=True)
def _quiesce_worker_activity(request: pytest.FixtureRequest) -> Iterator[None]:
    """For tests that share a module's worker (``SHARED_WORKER_FIXTURES``):
    before the test database is flushed, cancel what is still active and wait
    until the worker has nothing left to do for this test (``_worker_busy``),
    twice in a row, so that no task of this test writes into the next one and
    the flush rarely has to wait. The flush itself cannot deadlock with a
    worker anyway (``_flush_without_deadlock``). Workers from
    ``worker_factory`` are stopped before the flush."""
    if not any(name in request.fixturenames for name in SHARED_WORKER_FIXTURES):
        yield
        return
    request.getfixturevalue("transactional_db")  # set up first, so torn down after us
    yield
    from orchestration import services
    from orchestration.models import EXECUTION_ACTIVE, Execution

    for execution_id in Execution.objects.filter(status__in=EXECUTION_ACTIVE).values_list("pk", flat=True):
        try:
            services.execution_cancel(execution_id=execution_id, reason="test finished")
        except services.ExecutionStateError:
            pass
    deadline = time.monotonic() + QUIESCE_SECONDS
    quiet = 0
    busy: str | None = "not checked yet"
    while quiet < 2 and time.monotonic() < deadline:
        busy = _worker_busy()
        quiet = quiet + 1 if busy is None else 0
        time.sleep(0.1)
    if quiet < 2:
        # Not fatal: the flush stays safe. Say why, for a test that fails next.
        print(f"worker not quiet after {QUIESCE_SECONDS}s: {busy}", file=sys.stderr)


# How many times a flush found a table locked and started again (see below).
flush_lock_retries = 0


@pytest.fixture(scope="session", autouse=True)
def _flush_without_deadlock() -> Iterator[None]:
    """Makes the test database flush (``TRUNCATE`` of every table, between
    transactional tests) unable to deadlock with a worker still writing.

    ``TRUNCATE`` locks its tables one after the other; holding some while it
    waits for one a worker transaction holds, which then asks for one the
    flush holds, is a deadlock, and PostgreSQL may pick the flush to abort (a
    teardown error). Here the flush first takes every lock at once with
    ``NOWAIT``: if one is held it waits for nothing, rolls back (holding
    nothing) and tries again, so it never holds a lock while waiting."""
    from django.db import OperationalError, transaction
    from django.db.backends.postgresql.operations import DatabaseOperations

    def execute_sql_flush(self: DatabaseOperations, sql_list: list[str]) -> None:
        global flush_lock_retries
        tables = self.connection.introspection.django_table_names(only_existing=True, include_views=False)
        lock = f"LOCK TABLE {', '.join(self.quote_name(t) for t in tables)} IN ACCESS EXCLUSIVE MODE NOWAIT"
        deadline = time.monotonic() + 60
        while True:
            try:
                with transaction.atomic(using=self.connection.alias), self.connection.cursor() as cursor:
                    cursor.execute(lock)
                    for sql in sql_list:
                        cursor.execute(sql)
                return
            except OperationalError as exc:
                lock_not_available = getattr(exc.__cause__, "sqlstate", None) == "55P03"
                if not lock_not_available or time.monotonic() > deadline:
                    raise
                flush_lock_retries += 1
            time.sleep(0.05)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "execute_sql_flush", execute_sql_flush)
        yield


@pytest.fixture(scope="module")
def celery_worker(_worker_base: Path) -> Iterator[WorkerProcess]:
    """One real worker shared by a test module (use with ``transactional_db``)."""
    worker = start_worker(_worker_base, env={"WEBAUTO_CANCEL_GRACE_SECONDS": "1"})
    yield worker
    worker.stop()


def wait_for(predicate: Callable[[], object], timeout: float = 60, interval: float = 0.2) -> object:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")
