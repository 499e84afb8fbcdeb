"""Run now on the task list (issue 14, point 4): the row follows the run to
its final status, and links to the execution it started."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from orchestration import services
from orchestration.models import Execution
from tests.ui.test_browser import browser, page  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]


def test_the_row_follows_a_run_started_with_run_now_to_its_end(page, live_server, celery_worker, transactional_db):  # noqa: F811
    task = services.task_create(definition={
        "taskId": "row-follows", "name": "Row follows",
        "workflows": [
            {"id": "a", "workflow": "echo", "config": {}},
            {"id": "b", "workflow": "delay", "dependsOn": ["a"], "config": {"seconds": 2}},
        ],
    })
    page.reload()
    row = page.locator(f"#task-row-{task.pk}")
    expect(row.locator(".last-run")).to_contain_text("never run")

    row.get_by_role("button", name=re.compile("Run now")).click()
    started = page.locator(f"#task-row-{task.pk} a.started-run")
    expect(started).to_be_visible()
    execution = Execution.objects.get(task=task)
    expect(started).to_have_attribute("href", f"/executions/{execution.pk}/")

    badge = page.locator(f"#task-row-{task.pk} .last-run a.badge")
    expect(badge).to_have_text("Completed", timeout=60_000)
    expect(badge).to_have_attribute("href", f"/executions/{execution.pk}/")
    execution.refresh_from_db()
    assert execution.status == "completed"
    # The finished row stops polling.
    expect(page.locator(f"#task-row-{task.pk}[hx-trigger]")).to_have_count(0)
