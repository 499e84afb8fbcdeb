"""The order of the admission queue: priority (critical > high > normal > low),
raised by one step for every ``ageing_seconds`` spent waiting so that low
priority work never starves, then age (oldest first)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orchestration.models import PRIORITY_RANK

TOP_RANK = max(PRIORITY_RANK.values())


def effective_rank(priority: str, waited_seconds: float, ageing_seconds: float) -> int:
    base = PRIORITY_RANK.get(priority, PRIORITY_RANK["normal"])
    if ageing_seconds <= 0 or waited_seconds <= 0:
        return base
    return min(TOP_RANK, base + int(waited_seconds // ageing_seconds))


@dataclass(frozen=True)
class Waiting:
    request_id: int
    execution_id: int
    priority: str
    first_requested_at: datetime


def queue_order(items: list[Waiting], *, now: datetime, ageing_seconds: float) -> list[Waiting]:
    def key(item: Waiting) -> tuple[int, datetime, int]:
        waited = (now - item.first_requested_at).total_seconds()
        return (-effective_rank(item.priority, waited, ageing_seconds), item.first_requested_at, item.request_id)

    return sorted(items, key=key)
