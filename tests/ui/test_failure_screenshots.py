"""A browser step that fails on a real worker keeps a screenshot; the
execution page shows it as an image served only to signed-in users, from
MEDIA_ROOT only."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from orchestration import services
from orchestration.models import Task
from tests.webflows.pages import Page, page_server  # noqa: F401 (fixture)
from tests.webflows.test_seed_end_to_end import finished_execution, node_runs_by_id
from webflows.services import step_workflow_import

pytestmark = [
    pytest.mark.integration,
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


def test_a_failure_screenshot_is_shown_as_an_image_to_signed_in_users_only(
    page_server, celery_worker, client, admin_user  # noqa: F811
):
    page_server.pages["/form/"] = Page(b"<html><body><h1>No button here</h1></body></html>")
    step_workflow_import(
        definition={
            "name": "click-missing",
            "steps": [
                {"op": "goto", "url": page_server.url("/form/")},
                {"op": "click", "selector": "#missing", "timeout": 1},
            ],
        }
    )
    Task.objects.filter(task_id="screenshot-check").delete()
    task = services.task_create(
        definition={
            "taskId": "screenshot-check",
            "name": "screenshot check",
            "priority": "normal",
            "workflows": [{"id": "click", "name": "click", "workflow": "click-missing", "config": {}}],
        }
    )
    execution = finished_execution(services.execution_create(task=task))
    node = node_runs_by_id(execution)["click"]
    assert node.status == "failed"
    relative = re.search(r"\(screenshot: ([^)]+)\)", node.error).group(1)
    assert not relative.startswith("/")  # no server path in the error
    assert relative.startswith("tasks/screenshot-check/click/failures/")

    page_url = reverse("ui:execution-detail", args=[execution.pk])
    image_url = reverse("ui:media-file", args=[relative])
    assert client.get(image_url).status_code == 302  # signed-out: to the login page

    client.force_login(admin_user)
    page = client.get(page_url).content.decode()
    assert f'<img src="{image_url}"' in page
    image = client.get(image_url)
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert b"".join(image.streaming_content).startswith(b"\x89PNG")

    # Only files under MEDIA_ROOT: traversal and outside paths are 404s.
    prefix = image_url[: image_url.index("tasks/")]
    for bad in ("../settings.py", "tasks/../../../etc/passwd", "/etc/passwd", "%2e%2e/%2e%2e/etc/passwd",
                "tasks/no-such.png", "tasks"):
        assert client.get(f"{prefix}{bad}").status_code == 404, bad
