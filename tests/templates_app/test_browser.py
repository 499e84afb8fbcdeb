"""A user creates a task from a predefined template in a real browser."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command

from orchestration.models import Task

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def page(live_server, transactional_db, django_user_model, monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls
    # the test makes between page actions are still plain synchronous calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    call_command("load_templates", verbosity=0)
    from orchestration.access.roles import Role, grant_role

    user = django_user_model.objects.create_user("operator", "op@example.com", "pw-operator-123")
    grant_role(user=user, role=Role.EDITOR)  # creates tasks from templates
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(15000)
        page.goto(f"{live_server.url}/accounts/login/?next=/templates/")
        page.fill("#id_username", "operator")
        page.fill("#id_password", "pw-operator-123")
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r".*/templates/$"))
        yield page
        browser.close()


def test_it_creates_a_task_from_the_gallery_after_fixing_a_field_error(page, live_server):
    assert page.locator(".tpl-card").count() == 5

    page.fill("input[name=q]", "website")
    page.wait_for_function("document.querySelectorAll('.tpl-card').length === 1")
    card = page.locator(".tpl-card", has_text="Website change monitor")
    card.get_by_role("link", name="Use this template").click()
    page.wait_for_url(re.compile(r".*/templates/website-change-monitor-template/use/$"))

    assert page.input_value("select[name=param-mode]") == "http"
    assert page.input_value("input[name=param-changeThreshold]") == "0.05"
    page.fill("input[name=param-url]", "https://example.com/pricing")
    page.fill("input[name=param-recipient]", "not an address")
    page.fill("input[name=task_id]", "pricing-watch")
    page.select_option("select[name=priority]", "high")
    page.click("button:has-text('Create task')")

    errors = page.locator("#param-recipient-errors")
    assert errors.inner_text() == 'must be an email address (got "not an address")'
    assert page.locator(".tpl-field-invalid").count() == 1
    assert page.input_value("input[name=param-url]") == "https://example.com/pricing"
    assert not Task.objects.filter(task_id="pricing-watch").exists()

    page.fill("input[name=param-recipient]", "ops@example.com")
    page.select_option("select[name=schedule_type]", "interval")
    page.fill("input[name=schedule_interval]", "15")
    page.click("button:has-text('Create task')")
    page.wait_for_url(re.compile(r".*/tasks/pricing-watch/$"))
    assert "pricing-watch" in page.content()

    task = Task.objects.get(task_id="pricing-watch")
    assert (task.template_id, task.template_version) == ("website-change-monitor-template", "1.1.0")
    assert task.priority == "high"
    assert task.schedule["type"] == "interval" and task.schedule["interval"] == 15
    assert task.workflows[0]["config"]["url"] == "https://example.com/pricing"
    assert task.notification_channels[0]["config"]["recipients"] == ["ops@example.com"]
