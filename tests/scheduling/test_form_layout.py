"""The schedule form's layout (issue 14, point 6): the Task select is not
run under the Name input, whatever the task's name and the window's width."""

from __future__ import annotations

import pytest

from orchestration import services as core
from tests.scheduling.conftest import task_definition
from tests.ui.test_browser import browser, page  # noqa: F401  (fixtures: logged-in page in Chromium)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _overlap(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])


@pytest.mark.parametrize("width", [1360, 1024, 760])
def test_the_task_select_is_not_under_the_name_input(page, live_server, width):  # noqa: F811
    core.task_create(definition=task_definition(
        "weibo-monitoring-for-the-newsroom", name="Weibo monitoring for the newsroom's morning briefing",
    ))
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(live_server.url + "/schedules/new/")
    page.select_option("#f-task", "weibo-monitoring-for-the-newsroom")
    task = page.locator("#f-task").bounding_box()
    name = page.locator("#f-name").bounding_box()
    cell = page.locator(".form-row:has(#f-task)").bounding_box()
    assert task and name and cell
    assert not _overlap(task, name), (task, name)
    # The select stays inside its own grid cell (its arrow is not hidden).
    assert task["x"] + task["width"] <= cell["x"] + cell["width"] + 0.5, (task, cell)
    # On a desktop-wide window the whole option text fits: nothing of the name is cut.
    assert width < 1024 or page.evaluate("() => { const s = document.getElementById('f-task');"
                         " const c = document.createElement('canvas').getContext('2d');"
                         " c.font = getComputedStyle(s).font;"
                         " return c.measureText(s.options[s.selectedIndex].text).width + 40 <= s.clientWidth; }")
