from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from orchestration import services as core
from orchestration.api.errors import DefinitionInvalid
from orchestration.models import Secret, Task
from scheduling import arming, beat, services
from scheduling.models import Schedule
from tests.scheduling.conftest import task_definition

pytestmark = pytest.mark.django_db

# The verbatim copy of the spec's example kept inside the repository, so the
# suite passes on any clone (tests/definitions/seed/).
SEED = Path(__file__).resolve().parents[1] / "definitions" / "seed" / "task-definition.json"


def test_the_seed_task_definition_creates_its_cron_schedule(clock):
    clock.at(datetime(2026, 6, 1, 3, 10, tzinfo=UTC))  # 11:10 in Shanghai
    definition = json.loads(SEED.read_text())
    Secret.objects.create(name="webhookToken", value="not-shown")
    task = core.task_create(definition=definition)
    schedule = Schedule.objects.get(task=task)
    assert (schedule.kind, schedule.expression, schedule.timezone, schedule.origin) == (
        "cron", "0 */2 * * *", "Asia/Shanghai", "definition",
    )
    assert schedule.next_fire_at == datetime(2026, 6, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
    assert arming.is_armed(schedule)


def test_updating_the_block_updates_the_schedule_and_removing_it_unschedules(make_task):
    task = make_task("defined", schedule={"type": "interval", "interval": 30, "unit": "m"})
    schedule = Schedule.objects.get(task=task)
    armed = schedule.next_fire_at
    core.task_update(task=task, definition=task_definition("defined", schedule={"type": "interval", "interval": 5, "unit": "m"}))
    schedule.refresh_from_db()
    assert schedule.interval_ms == 300_000 and arming.is_armed(schedule) and schedule.next_fire_at < armed
    core.task_update(task=task, definition=task_definition("defined"))
    assert not Schedule.objects.filter(task=task).exists()


def test_an_unchanged_block_keeps_a_pause_made_since(make_task):
    block = {"type": "cron", "expression": "0 * * * *"}
    task = make_task("kept", schedule=block)
    services.schedule_pause(schedule=Schedule.objects.get(task=task))
    core.task_update(task=task, definition=task_definition("kept", schedule=copy.deepcopy(block), description="new words"))
    assert Schedule.objects.get(task=task).state == "paused"


def test_a_deeper_schedule_problem_rejects_the_whole_definition():
    definition = task_definition("rejected", schedule={"type": "interval", "interval": 10, "unit": "ms"})
    with pytest.raises(DefinitionInvalid) as caught:
        core.task_create(definition=definition)
    assert {"path": "schedule.interval", "message": "interval must be at least 1 second"} in caught.value.errors
    assert not Task.objects.filter(task_id="rejected").exists()
    assert not Schedule.objects.exists()


def test_deleting_the_task_leaves_beat_nothing_to_fire(make_task):
    task = make_task("gone", schedule={"type": "cron", "expression": "0 * * * *"})
    pk = Schedule.objects.get(task=task).pk
    later = timezone.now() + timedelta(days=1)
    assert pk in dict(beat.due_cursors(later, timedelta(0)))
    core.task_delete(task=task)
    assert pk not in dict(beat.due_cursors(later, timedelta(0)))


def test_disabling_the_task_pauses_its_schedules_and_enabling_resumes_them(make_task):
    task = make_task("switched", schedule={"type": "cron", "expression": "0 * * * *"})
    other = services.schedule_create(task=task, block={"type": "interval", "interval": 1, "unit": "h"})
    operator_paused = services.schedule_create(task=task, block={"type": "manual"})
    services.schedule_pause(schedule=operator_paused)
    core.task_update(task=task, definition={"enabled": False}, partial=True)
    states = dict(Schedule.objects.filter(task=task).values_list("pk", "paused_reason"))
    assert states[other.pk] == "task disabled" and states[operator_paused.pk] == "paused by operator"
    core.task_update(task=task, definition={"enabled": True}, partial=True)
    assert Schedule.objects.get(pk=other.pk).state == "active"
    assert Schedule.objects.get(task=task, origin="definition").state == "active"
    assert Schedule.objects.get(pk=operator_paused.pk).state == "paused"


def test_a_webhook_secret_in_the_definition_is_kept_write_only(make_task):
    task = make_task("hooked", schedule={"type": "manual", "trigger": "webhook", "webhookSecret": "hush-123"})
    schedule = Schedule.objects.get(task=task)
    assert schedule.webhook_secret == "hush-123"
    assert "webhookSecret" not in schedule.definition_block
    # The exported definition has no secret: sending it back keeps the secret.
    core.task_update(task=task, definition=task_definition("hooked", schedule={"type": "manual", "trigger": "webhook"}, description="x"))
    assert Schedule.objects.get(pk=schedule.pk).webhook_secret == "hush-123"
    core.task_update(task=task, definition=task_definition("hooked", schedule={"type": "manual", "trigger": "webhook", "webhookSecret": "new-456"}))
    assert Schedule.objects.get(pk=schedule.pk).webhook_secret == "new-456"


def test_a_schedule_block_that_never_fires_rejects_the_definition():
    definition = task_definition("never", schedule={"type": "cron", "expression": "0 0 31 2 *", "timezone": "Europe/London"})
    with pytest.raises(DefinitionInvalid) as caught:
        core.task_create(definition=definition)
    [error] = caught.value.errors
    assert error["path"] == "schedule.expression" and "never fires" in error["message"]
    assert not Task.objects.filter(task_id="never").exists()


def test_a_refused_unschedule_leaves_one_schedule_through_later_task_saves(make_task):
    task = make_task("sticky", schedule={"type": "cron", "expression": "0 * * * *"})
    schedule = Schedule.objects.get(task=task)
    with pytest.raises(services.ScheduleFromDefinition):
        services.schedule_delete(schedule=schedule)
    core.task_update(task=task, definition={"description": "edited"}, partial=True)
    core.task_update(task=task, definition={"enabled": False}, partial=True)
    core.task_update(task=task, definition={"enabled": True}, partial=True)
    assert list(Schedule.objects.filter(task=task).values_list("pk", flat=True)) == [schedule.pk]
