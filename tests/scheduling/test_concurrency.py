"""Two deliveries of the same fire at the same moment (two beats, or a broker
redelivery) start one run: the row lock and the unique fire key decide."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from orchestration.models import Execution, NodeRun
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


def broker_messages(task_name: str) -> list[dict]:
    """The messages of ``task_name`` waiting in the broker's priority-0 list (consumed)."""
    import base64
    import json

    from webauto.celery import app

    out = []
    with app.connection_for_read() as conn:
        client = conn.default_channel.client
        for raw in client.lrange("celery", 0, -1):
            message = json.loads(raw)
            if message["headers"]["task"] == task_name:
                args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
                out.append({"args": args, "kwargs": kwargs, "priority": message["properties"]["priority"]})
        client.delete("celery")
    return out


def test_overlapping_batches_from_two_beats_fire_each_instant_once_and_start_each_run(make_task):
    from resources import services as resources

    resources.worker_heartbeat(beat=resources.Heartbeat(
        name="capacity@test", host="test", pid=1, slots=4, cores=64, cpu_percent=0, load_1m=0,
        memory_total_bytes=64 * 2**30, memory_available_bytes=64 * 2**30, disk_free_bytes=2**40, rss_bytes=0,
    ))
    broker_messages("orchestration.run_node")  # an empty list to start with
    schedules = [
        services.schedule_create(task=make_task(f"batched-{n}"), block={"type": "interval", "interval": 1, "unit": "h", "concurrent": True})
        for n in range(6)
    ]
    due = timezone.now() - timedelta(seconds=1)
    ids = [s.pk for s in schedules]
    Schedule.objects.filter(pk__in=ids).update(anchor_at=due, next_fire_at=due)
    # Two beats send overlapping batches, and the watchdog fires one schedule on its own, all at once.
    deliveries = [ids[:4], ids[2:], ids[3:4]]
    barrier = threading.Barrier(len(deliveries))
    results: list[int] = []

    def deliver(batch: list[int]) -> None:
        try:
            barrier.wait()
            if len(batch) == 1:
                results.append(len(services.schedule_fire_due(schedule_id=batch[0])))
            else:
                results.append(len(services.schedule_fire_batch(schedule_ids=batch)))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(batch,)) for batch in deliveries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sum(results) == len(ids)
    for schedule in schedules:
        [fire] = Fire.objects.filter(schedule=schedule)
        assert fire.scheduled_at == due and fire.outcome == "started"
        schedule.refresh_from_db()
        assert schedule.next_fire_at == due + timedelta(hours=1)
    runs = Execution.objects.filter(task__task_id__startswith="batched-")
    assert runs.count() == len(ids)
    assert set(runs.values_list("status", flat=True)) == {"running"}  # admitted in the batch's one pass
    # Each run's first node went to the broker once, at the top priority (0), before later fires (1).
    sent = broker_messages("orchestration.run_node")
    assert sorted(m["args"][0] for m in sent) == sorted(
        NodeRun.objects.filter(execution__in=runs).values_list("pk", flat=True)
    )
    assert {m["priority"] for m in sent} == {0}
