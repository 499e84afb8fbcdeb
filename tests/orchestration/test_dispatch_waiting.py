"""``dispatch.waiting_before``: whether the broker (the test's real Redis)
holds messages that it serves before a given priority, the check a
continuing worker makes before it runs its execution's next node itself."""

from __future__ import annotations

from orchestration import dispatch
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

