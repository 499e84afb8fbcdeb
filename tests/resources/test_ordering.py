from __future__ import annotations

from datetime import UTC, datetime, timedelta

from resources.ordering import Waiting, effective_rank, queue_order

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def waiting(i: int, priority: str, minutes_ago: float) -> Waiting:
    return Waiting(i, i, priority, NOW - timedelta(minutes=minutes_ago))


def test_priority_comes_first_then_age():
    items = [waiting(1, "low", 3), waiting(2, "normal", 2), waiting(3, "critical", 0), waiting(4, "normal", 5),
             waiting(5, "high", 1)]
    order = queue_order(items, now=NOW, ageing_seconds=0)
    assert [w.request_id for w in order] == [3, 5, 4, 2, 1]


def test_waiting_raises_the_rank_step_by_step_up_to_critical():
    assert effective_rank("low", 0, 60) == 0
    assert effective_rank("low", 59, 60) == 0
    assert effective_rank("low", 60, 60) == 1
    assert effective_rank("low", 150, 60) == 2
    assert effective_rank("low", 10_000, 60) == 3
    assert effective_rank("critical", 10_000, 60) == 3


def test_an_old_low_priority_request_ends_up_ahead_of_new_high_ones():
    items = [waiting(1, "low", 30), waiting(2, "high", 0), waiting(3, "critical", 0)]
    order = queue_order(items, now=NOW, ageing_seconds=600)
    # 30 minutes at one step per 10 minutes: low -> critical, and older than both.
    assert [w.request_id for w in order] == [1, 3, 2]
