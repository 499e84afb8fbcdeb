"""The "Running and queued executions" chart shows real values (issue 14,
point 7): a sample counts the executions that ran or waited at any moment
since the previous sample, so runs shorter than the sampling period show."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from orchestration import services
from resources.models import SystemSample
from resources.usage import system_sample_record
from tests.monitoring.factories import execution

pytestmark = pytest.mark.django_db


def _sample_at(when) -> SystemSample:
    return SystemSample.objects.create(
        host=socket.gethostname(), taken_at=when, cpu_percent=1, cores=1, memory_used_bytes=1,
        memory_total_bytes=2, disk_used_bytes=1, disk_total_bytes=2, load_1m=0, load_5m=0, load_15m=0,
    )


def test_runs_that_finished_between_two_samples_are_counted(settings):
    settings.WEBAUTO_RESOURCES_SAMPLE_SECONDS = 30
    task = services.task_create(definition={"taskId": "short-runs", "name": "Short runs",
                                            "workflows": [{"id": "a", "workflow": "echo", "config": {}}]})
    now = timezone.now()
    _sample_at(now - timedelta(seconds=30))
    # Three 5-second runs since the last sample, each after 1 s in the queue;
    # one that ended before it, and one still waiting in the queue.
    for seconds_ago in (25, 18, 9):
        execution(task, "completed", created=now - timedelta(seconds=seconds_ago), wait=1, duration=5)
    execution(task, "completed", created=now - timedelta(minutes=5), wait=1, duration=5)
    execution(task, "queued", created=now - timedelta(seconds=3))

    sample = system_sample_record(cpu_interval=0.05)
    assert (sample.running_executions, sample.queued_executions) == (3, 4)
