"""The task page shows the task's real schedules (issue 14, point 5): each
with its next fire time in its own time zone, whether it comes from the
definition or was made on the Schedules page."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from orchestration import services
from scheduling import services as scheduling
from scheduling.models import Schedule
from tests.scheduling.conftest import clock, task_definition  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def test_the_task_page_lists_its_schedules_with_next_fire_time_and_time_zone(user_client, clock):  # noqa: F811
    clock.at(datetime(2026, 6, 1, 3, 10, tzinfo=UTC))  # 11:10 in Shanghai
    task = services.task_create(definition=task_definition(
        "scheduled", schedule={"type": "cron", "expression": "0 */2 * * *", "timezone": "Asia/Shanghai"},
    ))
    every_minute = scheduling.schedule_create(task=task, block={"type": "interval", "interval": 1, "unit": "m"})
    page = user_client.get(f"/tasks/{task.task_id}/").content.decode()

    assert "manual only" not in page
    assert '<time datetime="2026-06-01T04:00:00+00:00">2026-06-01 12:00 Asia/Shanghai</time>' in page
    fire = every_minute.next_fire_at
    assert fire is not None
    local = fire.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M")
    assert f'<time datetime="{fire.isoformat()}">{local} UTC</time>' in page
    assert page.count('class="task-schedule"') == 2


def test_a_paused_schedule_has_no_next_run_and_no_schedule_means_manual(user_client):
    task = services.task_create(definition=task_definition("paused-one"))
    assert "manual only (no schedules)" in user_client.get(f"/tasks/{task.task_id}/").content.decode()
    schedule = scheduling.schedule_create(task=task, block={"type": "interval", "interval": 5, "unit": "m"})
    scheduling.schedule_pause(schedule=Schedule.objects.get(pk=schedule.pk))
    page = user_client.get(f"/tasks/{task.task_id}/").content.decode()
    assert "schedule-paused" in page and "no next run" in page and "<time" not in page
