"""``dispatch.waiting_before``: whether the broker (the test's real Redis)
holds messages that it serves before a given priority, the check a
continuing worker makes before it runs its execution's next node itself."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from orchestration import dispatch
from tests.conftest import wait_for
from tests.support.brokers import RedisServer, use_broker
from webauto.celery import app


def _send(priority: int) -> None:
    # A message no worker takes here (no worker runs in these tests).
    app.send_task("orchestration.ping", args=[0], priority=priority)


def test_only_messages_served_before_the_priority_count(empty_broker, monkeypatch):
    monkeypatch.setattr(dispatch, "WAITING_RECHECK_SECONDS", 0)
    assert dispatch.waiting_before(6) is False  # nothing at all

    _send(6)  # the same priority (normal): not before it
    _send(9)  # low: after it
    assert dispatch.waiting_before(6) is False

    _send(3)  # high: served before normal, not before high or critical
    assert dispatch.waiting_before(6) is True
    assert dispatch.waiting_before(3) is False
    assert dispatch.waiting_before(0) is False  # nothing is served before critical


def test_a_clear_answer_is_trusted_for_the_recheck_interval_only(empty_broker, monkeypatch):
    monkeypatch.setattr(dispatch, "WAITING_RECHECK_SECONDS", 60)
    assert dispatch.waiting_before(6) is False
    _send(0)
    assert dispatch.waiting_before(6) is False  # the clear answer of a moment ago holds

    monkeypatch.setattr(dispatch, "WAITING_RECHECK_SECONDS", 0)
    assert dispatch.waiting_before(6) is True
    assert dispatch.waiting_before(6) is True  # a "waiting" answer is never kept


def test_a_clear_answer_one_forked_process_heard_serves_the_others_for_the_interval(empty_broker, monkeypatch):
    """A prefork worker's pool processes share the answer: the child asks the
    broker (nothing waits), then a high-priority message arrives, and the
    parent, within the interval, trusts the child's answer instead of asking."""
    monkeypatch.setattr(dispatch, "WAITING_RECHECK_SECONDS", 60)
    dispatch._clear_at.clear()
    child = os.fork()
    if child == 0:  # pragma: no cover (runs in the child)
        code = 1
        try:
            code = 0 if dispatch.waiting_before(6) is False else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    _send(3)

    assert dispatch.waiting_before(6) is False  # the child's clear answer holds here too
    assert dispatch.waiting_before(9) is True  # another priority's answer was never heard
    monkeypatch.setattr(dispatch, "WAITING_RECHECK_SECONDS", 0)
    assert dispatch.waiting_before(6) is True


def test_a_clear_answer_from_the_future_is_not_trusted(empty_broker, monkeypatch):
    monkeypatch.setattr(dispatch, "WAITING_RECHECK_SECONDS", 60)
    _send(3)
    dispatch._clear_at[6] = time.monotonic() + 3600  # e.g. a torn write
    assert dispatch.waiting_before(6) is True


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[RedisServer]:
    """A throw-away redis-server this process's Celery app points at (the
    test stops or suspends it), the suite's broker restored afterwards."""
    server = RedisServer(tmp_path)
    server.start()
    shared = os.environ.get("CELERY_BROKER_URL")
    use_broker(server.url)
    dispatch._clear_at.clear()
    dispatch._probe_failed_at = -1e9
    try:
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            os.kill(server.proc.pid, signal.SIGCONT)
        server.stop()
        use_broker(settings.CELERY_BROKER_URL)
        if shared is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        dispatch._clear_at.clear()
        dispatch._probe_failed_at = -1e9


def _timed_check(priority: int = 6) -> tuple[bool, float]:
    """One check, neither answer of a moment ago trusted (a clear one, a
    failed one), and how long it took."""
    dispatch._clear_at.clear()
    dispatch._probe_failed_at = -1e9
    started = time.monotonic()
    answer = dispatch.waiting_before(priority)
    return answer, time.monotonic() - started


def test_a_broker_down_before_the_first_check_answers_at_once(own_broker):
    """A pool process that never reached the broker (fresh after a fork, or
    one that only ever continued) asks it for the first time while it is
    down: the answer must come at once, not after kombu's connection retries
    (6 s per node finish, measured before the fix)."""
    own_broker.stop()
    for _ in range(3):
        answer, seconds = _timed_check()
        assert answer is False
        assert seconds < 0.5, seconds


def test_a_broker_that_stops_answering_does_not_hold_the_finish(own_broker):
    """A broker that accepts no more replies (suspended, a network
    partition) must not hold a node's finish: the check gives up within a
    fraction of a second (it waited forever before the fix), and answers
    again once the broker does."""
    app.send_task("orchestration.ping", args=[0], priority=0)
    assert _timed_check()[0] is True  # connected, and it sees the message
    assert own_broker.proc is not None
    os.kill(own_broker.proc.pid, signal.SIGSTOP)
    result: list[tuple[bool, float]] = []
    thread = threading.Thread(target=lambda: result.append(_timed_check()), daemon=True)
    thread.start()
    thread.join(5)
    assert result, "the broker check still waits for a suspended broker after 5 s"
    assert result[0][0] is False and result[0][1] < 0.5, result
    os.kill(own_broker.proc.pid, signal.SIGCONT)

    def answers() -> bool:
        return _timed_check()[0]

    wait_for(answers, timeout=10)  # back: the waiting message is seen again
