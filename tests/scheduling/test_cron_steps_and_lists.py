"""A cron step longer than the range it walks matches only the range's first
value (cron restarts it every hour, day, month...): it is refused on
``expression`` with a message saying what it would really do, everywhere a
cron expression is checked (``timing.cron_error``). A step that fits is
kept. Lists with ``L`` in day-of-month are described day by day."""

from __future__ import annotations

from datetime import datetime

import pytest
from croniter import croniter

from scheduling import timing


@pytest.mark.parametrize(("expression", "only"), [
    ("*/90 * * * *", "minute 0"),
    ("5-10/20 * * * *", "minute 5"),
    ("0 */25 * * *", "hour 0"),
    ("0 0 */40 * *", "day 1"),
    ("0 0 * jan-mar/5 *", "month 1"),
    ("0 0 * * */8", "day-of-week 0"),
])
def test_a_step_longer_than_its_range_is_refused_saying_what_it_matches(expression, only):
    message = timing.cron_error(expression)
    assert message is not None and f"matches only {only};" in message, message
    # What the message says is what croniter (which computes the fires) does.
    field = next(i for i, text in enumerate(expression.split()) if "/" in text)
    assert len(croniter(expression).expanded[field]) == 1


@pytest.mark.parametrize("expression", ["*/60 * * * *", "0 */24 * * *", "0 9-17/2 * * 1-5", "0 0 * * 1-7/7", "0 0 */31 * *"])
def test_a_step_that_fits_its_range_is_kept(expression):
    assert timing.cron_error(expression) is None


def test_a_stepped_item_in_a_last_day_list_names_its_days():
    description = timing.describe_cron("0 0 1-10/2,L * *")
    assert "days 1, 3, 5, 7 and 9 and the last day" in description, description
    fires = croniter("0 0 1-10/2,L * *", datetime(2026, 1, 1))
    days = {fires.get_next(datetime).day for _ in range(6)}
    assert days == {3, 5, 7, 9, 31, 1}


@pytest.mark.django_db
def test_the_schedule_form_shows_the_refusal_on_expression(client, admin_user, make_task):
    make_task("steps-form")
    client.force_login(admin_user)
    response = client.post("/schedules/new/", {
        "taskId": "steps-form", "type": "cron", "expression": "*/90 * * * *", "timezone": "UTC",
        "concurrent": "forbid", "misfirePolicy": "run-once", "misfireGraceSeconds": "60", "enabled": "on",
    })
    assert response.status_code == 200
    assert "matches only minute 0" in response.content.decode()
