"""The DAG builder in Chromium takes its help texts from the published
task-definition schema, including the blocks that feature apps register
(the schedule's description is the scheduling app's)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from orchestration import blocks, contract
from tests.ui.test_browser import browser, page  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]


def _field(page, path: str):  # noqa: F811
    return page.locator(f'.field:has([data-path="{path}"])').first


def test_the_builder_shows_the_schema_descriptions_as_help(page, live_server):  # noqa: F811
    page.goto(live_server.url + reverse("ui:task-create"))
    page.click("#add-node")
    served = contract.schema("task-definition")
    schedule = {b.name: b for b in blocks.registered()}.get("schedule")
    assert schedule is not None
    node_fields = served["$defs"]["node"]["properties"]
    expect(_field(page, "workflows[0].id").locator(".help:not(.bad)")).to_have_text(node_fields["id"]["description"])
    expect(_field(page, "schedule").locator(".help:not(.bad)")).to_have_text(schedule.schema["description"])
    expect(_field(page, "workflows[0].workflow").locator(".help:not(.bad)")).to_have_text(node_fields["workflow"]["description"])
    link = page.locator("#json-panel a", has_text="JSON Schema")
    assert link.get_attribute("href") == "/api/v1/schemas/task-definition.json"
