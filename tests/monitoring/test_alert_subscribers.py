"""A successful run costs the alert rules nothing unless they can act on it
(monitoring.receivers.success_needs_evaluation): the tasks with open alerts
and with slow thresholds come from a per-process cache whose change marker is
read on every success, so an alert opened or resolved by another process is
seen at once."""

from __future__ import annotations

import subprocess
import sys

import pytest

from monitoring.models import Alert
from monitoring.receivers import fired_needs_evaluation, success_needs_evaluation
from orchestration import services
from orchestration.models import EXECUTION_FINAL, Event, Execution, Task
from tests.conftest import ROOT, wait_for, worker_env
from tests.monitoring.conftest import task_definition

pytestmark = pytest.mark.django_db(transaction=True)


def in_another_process(code: str) -> None:
    """Run ``code`` (Django set up, against the test database) in a fresh Python process."""
    subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code], cwd=ROOT, check=True, timeout=120,
        env={**worker_env(), "DJANGO_SETTINGS_MODULE": "webauto.settings"},
    )


def success(task: Task, *, definition: dict | None = None, duration: float = 2.0) -> Event:
    execution = Execution.objects.create(task=task, status="completed", definition=definition or {})
    return Event(pk=10**9, type="execution.completed", task_id=task.pk, execution_id=execution.pk,
                 data={"status": "completed", "durationSeconds": duration})


def test_a_success_with_nothing_to_resolve_and_no_slow_threshold_needs_no_evaluation():
    task = services.task_create(definition=task_definition("quiet"))
    assert success_needs_evaluation(success(task)) is False


def test_an_alert_opened_and_resolved_in_another_process_is_seen_by_the_next_success():
    task = services.task_create(definition=task_definition("flaky"))
    assert success_needs_evaluation(success(task)) is False  # loads the cache: no open alert
    in_another_process(
        "from monitoring.models import Alert\n"
        "from orchestration.models import Task\n"
        "Alert.objects.create(rule='failure', task=Task.objects.get(task_id='flaky'),"
        " fingerprint='failure:x:', title='flaky failed')\n"
    )
    assert success_needs_evaluation(success(task)) is True
    in_another_process(
        "from monitoring.models import Alert\n"
        "Alert.objects.filter(task__task_id='flaky').get().delete()\n"
    )
    assert success_needs_evaluation(success(task)) is False


def test_slow_thresholds_decide_from_the_runs_definition_or_else_the_tasks_settings(settings):
    settings.WEBAUTO_ALERT_SLOW_RATIO = 0.5
    task = services.task_create(definition=task_definition("timed"))
    with_timeout = {"timeout": 10_000, "errorHandling": {"strategy": "continue"}}
    assert success_needs_evaluation(success(task, definition=with_timeout, duration=4.0)) is False
    assert success_needs_evaluation(success(task, definition=with_timeout, duration=6.0)) is True
    explicit = {"timeout": 10_000, "errorHandling": {"slowExecutionThreshold": 1_000}}
    assert success_needs_evaluation(success(task, definition=explicit, duration=1.5)) is True
    # A definition without its own settings falls back to the task's: the task now has a timeout.
    Task.objects.filter(pk=task.pk).update(timeout_ms=1_000)
    Task.objects.get(pk=task.pk).save()  # a save, as task edits do, marks the subscribers changed
    assert success_needs_evaluation(success(task, definition={}, duration=0.1)) is True


@pytest.mark.integration
def test_the_worker_resolves_an_alert_opened_elsewhere_after_it_cached_none(celery_worker):
    task = services.task_create(definition=task_definition("recovering"))

    def run_to_end() -> Execution:
        execution = services.execution_create(task=task)
        return wait_for(
            lambda: Execution.objects.filter(pk=execution.pk, status__in=list(EXECUTION_FINAL)).first(), timeout=60
        )

    assert run_to_end().status == "completed"  # the worker's cache: no open alert
    alert = Alert.objects.create(rule="failure", task=task, fingerprint=f"failure:{task.pk}:", title="was failing")
    assert run_to_end().status == "completed"
    wait_for(lambda: Alert.objects.filter(pk=alert.pk, status="resolved").exists(), timeout=60)


def fired(task: Task, lag_ms: float | None) -> Event:
    return Event(pk=10**9, type="schedule.fired", task_id=task.pk,
                 data={} if lag_ms is None else {"lagMs": lag_ms})


def test_a_fire_on_time_with_no_open_alert_needs_no_evaluation(settings):
    settings.WEBAUTO_ALERT_SCHEDULE_LAG_SECONDS = 60
    task = services.task_create(definition=task_definition("ticking"))
    assert fired_needs_evaluation(fired(task, 400)) is False  # on time, nothing to resolve
    assert fired_needs_evaluation(fired(task, None)) is False  # no lag: the rule ignores it
    assert fired_needs_evaluation(fired(task, 61_000)) is True  # late: raise the lag alert
    Alert.objects.create(rule="schedule", task=task, fingerprint="schedule:x:", title="late")
    assert fired_needs_evaluation(fired(task, 400)) is True  # on time again: resolve it
