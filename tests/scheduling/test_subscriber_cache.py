"""Event schedules are matched from a per-process cache (scheduling.receivers,
orchestration/subscribers.py): no query per event, and a schedule created,
changed or deleted by another process takes effect there too."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from django.conf import settings

from orchestration import services as core
from orchestration.events import emit
from orchestration.models import Event, Execution, ExecutionStatus
from orchestration.subscribers import SubscriberCache
from scheduling import receivers, services
from scheduling.models import Fire, Schedule
from tests.conftest import ROOT, wait_for, worker_env

pytestmark = pytest.mark.django_db(transaction=True)


def in_another_process(code: str) -> None:
    """Run ``code`` (Django set up, against the test database) in a fresh
    Python process, as another web process or worker would."""
    script = "import django; django.setup()\n" + code
    subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, check=True, timeout=120,
        env={**worker_env(), "DJANGO_SETTINGS_MODULE": "webauto.settings"},
    )


def event_cache() -> SubscriberCache[receivers.EventSubscribers]:
    """A cache like the one every process keeps, checking the change marker
    on every read (max_age 0) so the test need not wait."""
    return SubscriberCache(receivers.SUBSCRIBERS, receivers.load_event_subscribers, max_age=0)


def test_a_schedule_created_changed_and_deleted_in_another_process_reaches_this_processs_cache(make_task):
    watched = make_task("watched")
    make_task("listener")
    cache = event_cache()
    assert cache.get().event_schedules == ()

    in_another_process(
        "from orchestration.models import Task\n"
        "from scheduling import services\n"
        "services.schedule_create(task=Task.objects.get(task_id='listener'),"
        " block={'type': 'event', 'event': 'workflow.completed'})\n"
    )
    (created,) = cache.get().event_schedules
    schedule = Schedule.objects.get(task__task_id="listener")
    assert created[0] == schedule.pk and created[2] == "workflow.completed"

    in_another_process(
        "from scheduling import services\n"
        "from scheduling.models import Schedule\n"
        "s = Schedule.objects.get(task__task_id='listener')\n"
        "services.schedule_update(schedule=s, block={'type': 'event', 'event': 'execution.failed',"
        " 'pauseAfterFailures': 3})\n"
    )
    (changed,) = cache.get().event_schedules
    assert changed[2] == "execution.failed"
    assert cache.get().pausing_task_ids == frozenset({schedule.task_id})
    assert watched.pk not in cache.get().pausing_task_ids

    in_another_process(
        "from scheduling import services\n"
        "from scheduling.models import Schedule\n"
        "services.schedule_delete(schedule=Schedule.objects.get(task__task_id='listener'))\n"
    )
    assert cache.get().event_schedules == ()
    assert cache.get().pausing_task_ids == frozenset()


def test_events_are_matched_without_a_query_while_nothing_changed(make_task, django_assert_num_queries, settings):
    settings.WEBAUTO_SUBSCRIBER_CACHE_SECONDS = 3600
    listener = services.schedule_create(task=make_task("listener"), block={"type": "event", "event": "deploy.*"})
    watched = make_task("watched")
    cache = SubscriberCache(receivers.SUBSCRIBERS, receivers.load_event_subscribers)
    assert [s[0] for s in cache.get().event_schedules] == [listener.pk]
    with django_assert_num_queries(0):
        assert [s[0] for s in cache.get().event_schedules] == [listener.pk]
    # The receiver's own cache: the first event may load it, later ones cost nothing.
    emit("warm.up", task=watched)
    with django_assert_num_queries(0):
        receivers.on_event_recorded(sender=None, event=Event(pk=10**9, type="other.event", task=watched, data={}))
    # A final event of a run whose task has no auto-pausing schedule needs no look-up either.
    final = Event(pk=10**9 + 1, type="execution.failed", task=watched, execution_id=10**9,
                  data={"trigger": "api", "status": "failed"})
    with django_assert_num_queries(0):
        receivers.on_event_recorded(sender=None, event=final)


def test_a_change_in_this_process_takes_effect_at_once_even_with_a_long_max_age(make_task):
    make_task("listener")
    cache = SubscriberCache(receivers.SUBSCRIBERS, receivers.load_event_subscribers, max_age=3600)
    assert cache.get().event_schedules == ()
    schedule = services.schedule_create(task=make_task("l2"), block={"type": "event", "event": "x.y"})
    assert [s[0] for s in cache.get().event_schedules] == [schedule.pk]


@pytest.mark.integration
def test_a_worker_fires_an_event_schedule_created_by_another_process_after_it_cached_none(
    celery_worker, make_task
):
    """The worker records the node events and matches them from its cache,
    loaded (empty) by the first run; the schedule created here afterwards
    must reach it."""
    watched = make_task("watched")
    first = core.execution_create(task=watched)
    wait_for(lambda: Execution.objects.filter(pk=first.pk, status=ExecutionStatus.COMPLETED).exists(), timeout=60)

    listener = services.schedule_create(
        task=make_task("listener"),
        block={"type": "event", "event": "workflow.completed", "filter": {"nodeId": "only"}},
    )
    time.sleep(settings.WEBAUTO_SUBSCRIBER_CACHE_SECONDS + 0.5)  # the bound the worker may lag by
    second = core.execution_create(task=watched)
    fire = wait_for(lambda: Fire.objects.filter(schedule=listener, outcome="started").first(), timeout=60)
    event_execution = fire.event.execution_id if fire.event else None
    assert event_execution == second.pk
    assert not Fire.objects.filter(schedule=listener).exclude(pk=fire.pk).exists()
