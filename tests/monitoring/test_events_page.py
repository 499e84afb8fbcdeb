"""The Events page (issue 14, point 8): filter by type, task and time; new
events appear live; the navigation links the page and the API docs."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from orchestration import events
from orchestration.models import Event, Secret
from tests.monitoring.test_dashboard_browser import browser_page  # noqa: F401  (fixture)


def _at(event: Event, when: datetime) -> Event:
    Event.objects.filter(pk=event.pk).update(created_at=when)
    return event


@pytest.mark.django_db
def test_events_are_filtered_by_type_task_and_time(client, admin_user, make_task):
    alpha, beta = make_task("alpha"), make_task("beta")
    now = timezone.now().replace(microsecond=0)
    started = _at(events.emit("execution.started", task=alpha, data={"n": 1}), now - timedelta(hours=3))
    failed = _at(events.emit("workflow.failed", task=alpha, node_id="fetch", data={"n": 2}), now - timedelta(hours=1))
    other = _at(events.emit("execution.completed", task=beta, data={"n": 3}), now - timedelta(minutes=5))
    client.force_login(admin_user)

    def shown(**query: str) -> set[int]:
        page = client.get("/events/", query).content.decode()
        return {e.pk for e in (started, failed, other) if f'id="event-{e.pk}"' in page}

    assert shown() == {started.pk, failed.pk, other.pk}
    assert shown(type="execution.*") == {started.pk, other.pk}
    assert shown(type="workflow.failed") == {failed.pk}
    assert shown(task="alpha") == {started.pk, failed.pk}
    local = timezone.localtime
    assert shown(since=local(now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")) == {failed.pk, other.pk}
    assert shown(until=local(now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"), task="alpha") == {
        started.pk, failed.pk}
    bad = client.get("/events/", {"since": "yesterday-ish"})
    assert bad.status_code == 200 and "Enter a valid date/time." in bad.content.decode()


@pytest.mark.django_db
def test_secret_values_in_event_data_are_masked_and_the_nav_links_events_and_api_docs(client, admin_user, make_task):
    Secret.objects.create(name="apiKey", value="s3cr3t-value-123")
    events.emit("workflow.failed", task=make_task("leaky"), data={"error": "401 for key s3cr3t-value-123"})
    client.force_login(admin_user)
    page = client.get("/events/").content.decode()
    assert "s3cr3t-value-123" not in page and "401 for key" in page
    assert '<a href="/events/"' in page and '<a href="/api/docs/">API docs</a>' in page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_new_event_appears_without_a_reload(browser_page, live_server, make_task):  # noqa: F811
    task = make_task("live")
    first = events.emit("execution.started", task=task)
    page = browser_page
    page.goto(live_server.url + "/events/?task=live")
    expect(page.locator(f"#event-{first.pk}")).to_be_visible()
    page.evaluate("() => { window.notReloaded = true; }")
    late = events.emit("execution.completed", task=task, data={"late": True})
    expect(page.locator(f"#event-{late.pk}")).to_be_visible(timeout=20_000)
    assert page.evaluate("() => window.notReloaded") is True
    # The filter still applies to the live rows.
    other = events.emit("execution.started", task=make_task("elsewhere"))
    last = events.emit("execution.failed", task=task)
    expect(page.locator(f"#event-{last.pk}")).to_be_visible(timeout=20_000)
    assert page.locator(f"#event-{other.pk}").count() == 0
    assert page.problems == []  # type: ignore[attr-defined]
