"""Placeholders never look like settings (issue 14, point 11): an empty
field's grey text is an example ("e.g. ..."), a default ("default: ...") or
says that nothing is set, never a bare value such as ``left.output``."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command

from orchestration import services
from tests.ui.test_browser import browser, page  # noqa: F401  (fixtures: logged-in page in Chromium)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# How a placeholder may begin: an example, a default, "nothing set", or a search hint.
EXPLAINS = re.compile(r"^(e\.g\. |default: |not set|none|no |Search |Task id or name|choose |parameter name|value \()")


def _placeholders(page) -> dict[str, str]:  # noqa: F811
    return page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('[placeholder]')]"
        ".filter(el => el.offsetParent !== null || el.closest('details'))"
        ".map((el, i) => [(el.id || el.name || el.className) + '#' + i, el.getAttribute('placeholder')]))"
    )


def test_placeholders_explain_rather_than_look_like_values(page, live_server):  # noqa: F811
    services.task_create(definition={
        "taskId": "joined", "name": "Joined",
        "workflows": [
            {"id": "left", "workflow": "echo", "config": {}},
            {"id": "right", "workflow": "page-monitor", "config": {"url": "https://example.com/"}},
            {"id": "join", "workflow": "echo", "dependsOn": ["left", "right"], "config": {}},
        ],
    })
    call_command("load_templates", verbosity=0)
    seen: dict[str, str] = {}
    for path in ("/tasks/joined/edit/", "/tasks/", "/executions/", "/schedules/new/",
                 "/templates/", "/templates/batch-download-template/use/"):
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
        if path.endswith("/edit/"):
            page.wait_for_selector(".node-inputfrom", state="attached")
            join_input = page.locator('.node-editor[data-node-index="2"] .node-inputfrom')
            assert join_input.input_value() == ""
            assert join_input.get_attribute("placeholder") == "none: the node gets {} (e.g. left.output)"
        seen.update({f"{path} {key}": text for key, text in _placeholders(page).items()})
    assert len(seen) > 10
    looks_like_a_value = {key: text for key, text in seen.items() if not EXPLAINS.match(text)}
    assert looks_like_a_value == {}
