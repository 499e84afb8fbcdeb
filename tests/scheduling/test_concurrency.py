"""Two deliveries of the same fire at the same moment (two beats, or a broker
redelivery) start one run: the row lock and the unique fire key decide."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from orchestration.models import Execution
from scheduling import services
from scheduling.models import Fire, Schedule

pytestmark = pytest.mark.django_db(transaction=True)


def test_simultaneous_deliveries_of_one_fire_start_one_run(make_task):
    schedule = services.schedule_create(task=make_task(), block={"type": "interval", "interval": 1, "unit": "h", "concurrent": True})
    due = timezone.now() - timedelta(seconds=1)
    Schedule.objects.filter(pk=schedule.pk).update(anchor_at=due, next_fire_at=due)
    barrier = threading.Barrier(4)
    results: list[int] = []

    def deliver() -> None:
        try:
            barrier.wait()
            results.append(len(services.schedule_fire_due(schedule_id=schedule.pk)))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [0, 0, 0, 1]
    assert Fire.objects.filter(schedule=schedule).count() == 1
    assert Fire.objects.get(schedule=schedule).scheduled_at == due
    assert Execution.objects.filter(task=schedule.task).count() == 1
