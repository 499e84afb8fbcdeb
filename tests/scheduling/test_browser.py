"""The schedule form in a real browser: the live cron preview says "or" and
warns while both day fields are restricted (BOTH when one starts with "*"),
says when an expression never fires, and the edit form of a schedule from a
task's definition refuses a new timing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


@pytest.fixture
def page(live_server, transactional_db, admin_user) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(live_server.url + "/schedules/new/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", "pw-admin-123")
        page.click("button[type=submit]")
        page.wait_for_url("**/schedules/new/")
        yield page
        # Let the last preview request finish before the server goes away.
        page.wait_for_load_state("networkidle")
        browser.close()
        assert errors == [], f"JavaScript errors on the page: {errors}"


def test_the_form_preview_warns_while_both_day_fields_are_restricted(page):
    page.fill("#f-expression", "0 9 1-7 * 1")
    expect(page.locator("#cron-preview .cron-description")).to_have_text(
        "At 09:00, between day 1 and 7 of the month, or on Monday"
    )
    expect(page.locator("#cron-preview .cron-warning")).to_contain_text("EITHER")
    page.fill("#f-expression", "0 9 * * 1")
    expect(page.locator("#cron-preview .cron-description")).to_have_text("At 09:00, only on Monday")
    expect(page.locator("#cron-preview .cron-warning")).to_have_count(0)
    page.fill("#f-expression", "0 0 31 2 *")
    expect(page.locator("#cron-preview .errors")).to_contain_text("never fires")


def test_the_form_preview_says_both_when_a_day_field_starts_with_a_star(page):
    page.fill("#f-expression", "0 9 */2 * 1")
    expect(page.locator("#cron-preview .cron-description")).to_have_text(
        "At 09:00, every 2 days, only if it is Monday"
    )
    expect(page.locator("#cron-preview .cron-warning")).to_contain_text("BOTH")
    page.fill("#f-expression", "0 9 1 * 0-7")
    expect(page.locator("#cron-preview .cron-description")).to_have_text("At 09:00")
    expect(page.locator("#cron-preview .cron-warning")).to_have_count(0)


def test_the_edit_form_of_a_definition_schedule_refuses_a_new_timing(page, live_server):
    from orchestration import services as core
    from scheduling.models import Schedule
    from tests.scheduling.conftest import task_definition

    task = core.task_create(definition=task_definition("browser-def", schedule={"type": "cron", "expression": "0 * * * *"}))
    schedule = Schedule.objects.get(task=task)
    page.goto(f"{live_server.url}/schedules/{schedule.pk}/edit/")
    expect(page.locator("#definition-hint")).to_contain_text("editing the task's definition")
    page.fill("#f-expression", "0 3 * * *")
    page.click("form.schedule-form button[type=submit]")
    expect(page.locator(".form-errors")).to_contain_text("change its settings by editing the task's definition")
    schedule.refresh_from_db()
    assert schedule.expression == "0 * * * *"
