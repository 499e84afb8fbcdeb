"""Small things people notice (issue 14, point 13), checked over every page
in Chromium: /favicon.ico is served, no form carries two CSRF tokens, and
every input has an accessible label."""

from __future__ import annotations

import re
from urllib.parse import parse_qs

import pytest
from django.core.management import call_command

from orchestration import services
from orchestration.models import Execution
from scheduling import services as scheduling
from tests.ui.test_browser import browser, page  # noqa: F401  (fixtures: logged-in page in Chromium)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Per form: the number of CSRF tokens; per field: whether it has a label
# (<label for>, a wrapping <label>, aria-label or aria-labelledby).
AUDIT = """() => {
  const forms = [...document.querySelectorAll('form')].map(f =>
    [f.getAttribute('action') || '(this page)', f.querySelectorAll('input[name=csrfmiddlewaretoken]').length]);
  const fields = [...document.querySelectorAll('input, select, textarea')]
    .filter(el => !['hidden', 'submit', 'button', 'reset', 'image'].includes(el.type))
    .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                  && !(el.getAttribute('aria-labelledby') || '').split(' ').some(id => id && document.getElementById(id)))
    .map(el => el.outerHTML.slice(0, 160));
  return {forms, unlabelled: fields};
}"""


def _pages(live_server) -> list[str]:
    call_command("load_templates", verbosity=0)
    task = services.task_create(definition={
        "taskId": "audited", "name": "Audited",
        "parameters": {"greeting": "hi"},
        "workflows": [
            {"id": "a", "workflow": "echo", "config": {}},
            {"id": "b", "workflow": "page-monitor", "dependsOn": ["a"], "config": {"url": "https://example.com/"}},
        ],
    })
    schedule = scheduling.schedule_create(task=task, block={"type": "interval", "interval": 5, "unit": "m"})
    execution = Execution.objects.create(task=task, status="completed", definition={"workflows": task.workflows})
    return [
        "/", "/tasks/", "/tasks/new/", "/tasks/audited/", "/tasks/audited/edit/", "/executions/",
        f"/executions/{execution.pk}/", "/templates/", "/templates/website-change-monitor-template/",
        "/templates/website-change-monitor-template/use/", "/workflows/", "/schedules/", "/schedules/new/",
        f"/schedules/{schedule.pk}/", f"/schedules/{schedule.pk}/edit/", "/events/", "/alerts/", "/channels/",
        "/outbox/", "/resources/", "/secrets/", "/admin/", "/admin/orchestration/task/",
    ]


def test_every_page_has_one_csrf_token_per_form_and_labelled_inputs(page, live_server):  # noqa: F811
    problems: dict[str, object] = {}
    for path in _pages(live_server):
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
        found = page.evaluate(AUDIT)
        doubled = [action for action, tokens in found["forms"] if tokens > 1]
        if doubled or found["unlabelled"]:
            problems[path] = {"forms with more than one CSRF token": doubled, "inputs without a label": found["unlabelled"]}
    assert problems == {}


def test_the_favicon_is_served_where_pages_do_not_name_one(client, page, live_server):  # noqa: F811
    for path in ("/admin/", "/api/docs/"):
        page.goto(live_server.url + path)
        icon = page.request.get(live_server.url + "/favicon.ico")
        assert icon.status == 200, path
        assert icon.headers["content-type"].startswith("image/")


def test_htmx_posts_send_one_csrf_token(page, live_server):  # noqa: F811
    services.task_create(definition={"taskId": "posted", "name": "Posted",
                                     "workflows": [{"id": "a", "workflow": "echo", "config": {}}]})
    bodies: list[str] = []
    page.on("request", lambda r: bodies.append(r.post_data or "") if r.method == "POST" else None)
    page.goto(live_server.url + "/tasks/")
    page.get_by_role("button", name=re.compile("Run now")).click()
    page.wait_for_selector("a.started-run")
    page.locator(".switch .slider").first.click()
    page.goto(live_server.url + "/tasks/posted/edit/")
    page.wait_for_selector("#field-name")
    page.fill("#field-name", "Posted again")
    page.wait_for_function("() => document.getElementById('validation') !== null")
    page.wait_for_load_state("networkidle")
    assert len(bodies) >= 2
    tokens = [parse_qs(body).get("csrfmiddlewaretoken", []) for body in bodies if "=" in body]
    assert tokens and all(len(t) <= 1 for t in tokens), tokens
