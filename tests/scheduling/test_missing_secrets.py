"""A scheduled fire of a task whose secret was never stored is recorded as
failed-to-start with the reason, and starts once the secret exists."""

from __future__ import annotations

from datetime import UTC, datetime

from orchestration import services as core
from orchestration.models import Execution, Secret
from orchestration.scheduling import services
from tests.scheduling.conftest import task_definition


def test_a_fire_without_its_secret_fails_to_start_with_the_reason(db, clock):
    clock.at(datetime(2026, 6, 1, 0, 0, tzinfo=UTC))
    definition = task_definition("needs-token")
    definition["workflows"][0]["config"] = {"output": {"auth": "Bearer ${deployToken}"}}
    task = core.task_create(definition=definition)
    schedule = services.schedule_create(task=task, block={"type": "interval", "interval": 10, "unit": "m"})
    clock.at(schedule.next_fire_at)
    [fire] = services.schedule_fire_due(schedule_id=schedule.pk)
    assert fire.outcome == "failed-to-start"
    assert "SecretsMissing" in fire.detail and "deployToken" in fire.detail
    assert not Execution.objects.exists()

    Secret.objects.create(name="deployToken", value="a-long-enough-token")
    schedule.refresh_from_db()
    clock.at(schedule.next_fire_at)
    [fire] = services.schedule_fire_due(schedule_id=schedule.pk)
    assert fire.outcome == "started" and fire.execution_id is not None
