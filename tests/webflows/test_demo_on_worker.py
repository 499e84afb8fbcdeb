"""The quick start's sandbox demo on a real worker: a page monitor, a step
workflow in headless Chromium and a conditional download."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from orchestration import services
from orchestration.models import Task
from tests.webflows.test_seed_end_to_end import finished_execution, node_runs_by_id
from webflows.sandbox.state import sandbox_advance

pytestmark = [
    pytest.mark.integration,
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


def test_the_news_demo_passes_run_after_run_on_a_worker(live_server, celery_worker):
    call_command("load_demo", "--base-url", live_server.url)
    task = Task.objects.get(task_id="sandbox-news-demo")
    task_dir = Path(settings.MEDIA_ROOT) / "tasks" / task.task_id
    shutil.rmtree(task_dir, ignore_errors=True)
    try:
        _run_three_times(task, task_dir)
    finally:
        shutil.rmtree(task_dir, ignore_errors=True)


def _statuses(execution) -> dict[str, str]:
    return {k: n.status for k, n in node_runs_by_id(execution).items()}


def _login_steps(members: dict) -> list[bool]:
    """Whether each of the demo's three login steps (fill, fill, click) was skipped."""
    return [bool(step["result"].get("skipped")) for step in members["steps"][1:4]]


def _run_three_times(task: Task, task_dir: Path) -> None:
    first = finished_execution(services.execution_create(task=task))
    nodes = node_runs_by_id(first)
    assert first.status == "completed", {k: (n.status, n.error) for k, n in nodes.items()}
    assert _statuses(first) == {"news": "completed", "members": "completed", "pictures": "completed"}
    assert nodes["news"].output["firstRun"] is True
    members = nodes["members"].output
    assert _login_steps(members) == [False, False, False]  # no session yet: it signs in
    assert {f["name"] for f in members["results"]["downloaded"]["files"]} == {"photo-1.png", "photo-2.png", "report.csv"}
    assert (task_dir / "members" / "members.png").exists()
    assert nodes["pictures"].output["downloaded"] == 3  # the banner and two pictures

    # From the second run on the saved session is signed in: the login form is
    # not there, and the login steps are skipped instead of timing out.
    sandbox_advance()
    second = finished_execution(services.execution_create(task=task))
    nodes = node_runs_by_id(second)
    assert second.status == "completed", {k: (n.status, n.error) for k, n in nodes.items()}
    assert _statuses(second) == {"news": "completed", "members": "completed", "pictures": "completed"}
    assert _login_steps(nodes["members"].output) == [True, True, True]
    assert nodes["news"].output["added"] == ["Sandbox update number 1"]
    pictures = nodes["pictures"].output
    assert (pictures["downloaded"], pictures["skipped"]) == (1, 2)
    assert pictures["files"][0]["url"].endswith("/sandbox/images/banner.png?r=1")

    third = finished_execution(services.execution_create(task=task))
    nodes = node_runs_by_id(third)
    assert third.status == "completed", {k: (n.status, n.error) for k, n in nodes.items()}
    # Nothing new on the news page: the pictures node's condition is false.
    assert _statuses(third) == {"news": "completed", "members": "completed", "pictures": "skipped"}
    assert nodes["news"].output["hasChanges"] is False
    assert _login_steps(nodes["members"].output) == [True, True, True]
    files = nodes["members"].output["results"]["downloaded"]["files"]
    assert {f["url"].rsplit("/", 1)[1] for f in files} >= {"photo-1.png", "photo-2.png", "report.csv"}
