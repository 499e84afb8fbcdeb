from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scheduling import services
from scheduling.models import Schedule

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client, admin_user):
    client.force_login(admin_user)
    return client


def test_pages_require_login(client):
    for url in ("/schedules/", "/schedules/new/", "/schedules/preview/?expression=*+*+*+*+*"):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_list_shows_next_fire_last_outcome_and_a_toggle(logged_in, make_task, clock):
    clock.at(datetime(2026, 6, 1, 3, 10, tzinfo=UTC))
    schedule = services.schedule_create(task=make_task("listed"), block={"type": "cron", "expression": "0 */2 * * *", "timezone": "Asia/Shanghai"})
    services.schedule_trigger(schedule=schedule, input={})
    page = logged_in.get("/schedules/").content.decode()
    assert "Every 2 hours" in page
    assert "Jun 1, 12:00:00" in page  # next fire, Shanghai wall time
    assert "fire-started" in page and " ms</div>" in page  # last outcome with its lag
    assert f'hx-post="/schedules/{schedule.pk}/toggle/"' in page


def test_the_toggle_pauses_and_resumes_and_returns_the_row(logged_in, make_task):
    schedule = services.schedule_create(task=make_task("toggled"), block={"type": "interval", "interval": 1, "unit": "h"})
    row = logged_in.post(f"/schedules/{schedule.pk}/toggle/", {"set": "1"}, HTTP_HX_REQUEST="true")
    assert row.status_code == 200 and row.content.decode().lstrip().startswith(f'<tr id="schedule-row-{schedule.pk}"')
    assert Schedule.objects.get(pk=schedule.pk).state == "paused"
    logged_in.post(f"/schedules/{schedule.pk}/toggle/", {"set": "1", "enabled": "on"}, HTTP_HX_REQUEST="true")
    assert Schedule.objects.get(pk=schedule.pk).state == "active"


def test_the_live_preview_describes_the_cron_and_lists_five_times_in_the_timezone(logged_in, clock):
    clock.at(datetime(2026, 3, 7, 12, tzinfo=UTC))
    html = logged_in.get("/schedules/preview/", {"expression": "30 2 * * *", "timezone": "America/New_York"}).content.decode()
    assert "At 02:30" in html
    assert html.count("<li>") == 5
    assert "Sun 2026-03-08 03:00" in html  # the nonexistent 02:30 runs at 03:00
    bad = logged_in.get("/schedules/preview/", {"expression": "99 * * * *", "timezone": "UTC"}).content.decode()
    assert "not a valid cron expression" in bad


def test_creating_through_the_form(logged_in, make_task):
    make_task("formed")
    response = logged_in.post("/schedules/new/", {
        "taskId": "formed", "type": "cron", "expression": "15 9 * * 1-5", "timezone": "Europe/Berlin",
        "concurrent": "replace", "misfirePolicy": "skip", "misfireGraceSeconds": "30", "enabled": "on",
        "maxRuns": "10", "input": '{"k": 1}', "startDate": "2026-07-01T08:00",
    })
    schedule = Schedule.objects.get(task__task_id="formed")
    assert response.status_code == 302 and response["Location"] == f"/schedules/{schedule.pk}/"
    assert (schedule.expression, schedule.overlap, schedule.misfire_policy, schedule.max_runs, schedule.input) == (
        "15 9 * * 1-5", "replace", "skip", 10, {"k": 1},
    )
    assert schedule.start_at == datetime(2026, 7, 1, 6, 0, tzinfo=UTC)  # 08:00 in Berlin


def test_form_errors_are_shown_with_their_paths(logged_in, make_task):
    make_task("bad-form")
    html = logged_in.post("/schedules/new/", {
        "taskId": "bad-form", "type": "interval", "interval": "0", "unit": "s", "input": "{oops",
    }).content.decode()
    assert "<code>input</code>" in html and "not valid JSON" in html
    html = logged_in.post("/schedules/new/", {"taskId": "bad-form", "type": "interval", "interval": "0", "unit": "s"}).content.decode()
    assert "<code>interval</code>: interval must be a positive whole number" in html
    assert not Schedule.objects.exists()


def test_the_edit_form_round_trips_and_the_history_page_shows_lag(logged_in, make_task):
    schedule = services.schedule_create(task=make_task("edited"), block={"type": "manual", "trigger": "api", "timezone": "Asia/Tokyo", "startDate": "2099-07-01T09:00:00+09:00"})
    form = logged_in.get(f"/schedules/{schedule.pk}/edit/").content.decode()
    assert 'value="2099-07-01T09:00"' in form
    services.schedule_trigger(schedule=schedule, input={})
    html = logged_in.get(f"/schedules/{schedule.pk}/").content.decode()
    # Fired before its startDate: recorded, with the reason, and no run.
    assert "History" in html and "fire-skipped-window" in html and "outside startDate/endDate" in html
    partial = logged_in.get(f"/schedules/{schedule.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith('<div id="history"')


def test_detail_actions_pause_resume_run_and_unschedule(logged_in, make_task):
    schedule = services.schedule_create(task=make_task("acted"), block={"type": "interval", "interval": 1, "unit": "h", "concurrent": True})
    logged_in.post(f"/schedules/{schedule.pk}/pause/")
    assert Schedule.objects.get(pk=schedule.pk).state == "paused"
    logged_in.post(f"/schedules/{schedule.pk}/resume/")
    assert Schedule.objects.get(pk=schedule.pk).state == "active"
    logged_in.post(f"/schedules/{schedule.pk}/run/")
    assert schedule.fires.get().outcome == "started"
    assert logged_in.post(f"/schedules/{schedule.pk}/explode/").status_code == 404
    logged_in.post(f"/schedules/{schedule.pk}/delete/")
    assert not Schedule.objects.filter(pk=schedule.pk).exists()


def test_the_htmx_preview_warns_when_both_day_fields_are_restricted(logged_in, clock):
    clock.at(datetime(2026, 11, 30, 12, tzinfo=UTC))
    html = logged_in.get(
        "/schedules/preview/", {"expression": "0 9 1-7 * 1", "timezone": "UTC"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "between day 1 and 7 of the month, or on Monday" in html
    assert 'class="warning cron-warning"' in html and "EITHER" in html
    plain = logged_in.get("/schedules/preview/", {"expression": "0 9 * * 1"}, HTTP_HX_REQUEST="true").content.decode()
    assert "cron-warning" not in plain


def test_the_htmx_preview_explains_an_expression_that_never_fires(logged_in):
    html = logged_in.get("/schedules/preview/", {"expression": "0 0 31 2 *"}, HTTP_HX_REQUEST="true")
    assert html.status_code == 200 and "never fires" in html.content.decode()


def test_a_schedule_from_a_definition_offers_pause_not_unschedule(logged_in, make_task):
    task = make_task("from-definition", schedule={"type": "cron", "expression": "0 * * * *"})
    schedule = Schedule.objects.get(task=task)
    page = logged_in.get(f"/schedules/{schedule.pk}/").content.decode()
    assert f"/schedules/{schedule.pk}/delete/" not in page and 'id="unschedule-hint"' in page
    response = logged_in.post(f"/schedules/{schedule.pk}/delete/", follow=True)
    assert Schedule.objects.filter(pk=schedule.pk).exists()
    assert "cannot be deleted on its own" in response.content.decode()
