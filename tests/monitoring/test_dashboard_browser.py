"""The dashboard in headless Chromium: charts render from live data and an
alert is acknowledged without a reload."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.models import Alert
from monitoring.selectors import metrics_series
from tests.monitoring.factories import execution

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


@pytest.fixture
def browser_page(live_server, admin_user, client, monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the
    # test's own ORM reads are still plain synchronous calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    client.force_login(admin_user)
    session = client.cookies["sessionid"].value
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context()
        context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.problems = problems  # type: ignore[attr-defined]
        try:
            yield page
        finally:
            browser.close()


def test_the_dashboard_draws_its_charts_and_acknowledges_an_alert(browser_page, live_server, make_task):
    task = make_task("dash")
    now = timezone.now()
    for minutes, status in ((50, "completed"), (30, "failed"), (10, "completed"), (5, "completed_with_errors")):
        execution(task, status, created=now - timedelta(minutes=minutes), duration=minutes)
    execution(task, "running")
    alert = Alert.objects.create(rule="failure", task=task, fingerprint="failure:dash:", title="Dash is failing")

    page = browser_page
    page.goto(live_server.url + "/?range=1h")
    assert page.title().startswith("Dashboard")
    for chart in ("executions", "success", "duration", "lag", "system"):
        page.wait_for_selector(f"canvas#chart-{chart}", state="attached")
    # Chart.js has drawn each chart with the series fetched from the API.
    page.wait_for_function(
        "() => ['executions','success','duration','lag','system'].every(id => {"
        " const c = Chart.getChart(document.getElementById('chart-' + id));"
        " return c && c.data.labels.length > 0; })"
    )
    executions_total = page.evaluate(
        "() => Chart.getChart(document.getElementById('chart-executions')).data.datasets"
        ".reduce((n, ds) => n + ds.data.reduce((a, b) => a + b, 0), 0)"
    )
    assert executions_total == 5
    assert page.locator("#running").inner_text().count("dash") == 1

    page.locator(f"#alert-{alert.pk} button", has_text="Ack").click()
    page.wait_for_selector(f"#alert-{alert.pk} .alert-status-acknowledged")
    alert.refresh_from_db()
    assert alert.status == "acknowledged"

    first_of_1h = page.evaluate("Chart.getChart(document.getElementById('chart-executions')).data.labels[0]")
    page.locator(".range-selector [data-range='7d']").click()
    # 7d starts at midnight UTC 7 days back: 56 three-hour buckets plus today's so far (0 to 8;
    # a count the 1h chart's 60 or 61 may share, hence the first label too).
    expected = len(metrics_series(range_key="7d")["buckets"])
    assert 56 <= expected <= 64
    page.wait_for_function(  # a 3-hour boundary may pass between the two reads
        "([n, before]) => { const c = Chart.getChart(document.getElementById('chart-executions'));"
        " return c.data.labels[0] !== before && [n, n + 1].includes(c.data.labels.length); }",
        arg=[expected, first_of_1h],
    )
    assert page.url.endswith("?range=7d")
    assert page.problems == []  # type: ignore[attr-defined]
