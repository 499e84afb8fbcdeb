"""The schedule form in a real browser: the live cron preview says "or" and
warns while both day fields are restricted, and says when an expression never
fires."""

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
