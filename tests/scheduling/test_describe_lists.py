"""Adversarial check (review of issue 13, point 3: "Check L, #, ? and 7
for the same kind of disagreement" between description and fires). In a
list, ``#`` loses its ordinal and ``L`` is shown raw:

- ``0 0 * * 0#1,6#1`` fires on the first Sunday and the first Saturday of
  each month, but is described "on the  Sunday and Saturday of the month"
  (every Sunday and Saturday, with a hole where "first" should be);
- ``0 0 L,15 * *`` and ``0 0 1-5,L * *`` are described "on day L and 15"
  and "on day 1 through 5 and L": the user must know cron to read "L"."""

from __future__ import annotations

import pytest

from scheduling import timing


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("0 0 * * 0#1,6#1", ["first Sunday", "first Saturday"]),
        ("0 0 * * 1#2,5#4", ["second Monday", "fourth Friday"]),
    ],
)
def test_nth_weekdays_in_a_list_keep_their_ordinals(expression, words):
    description = timing.describe_cron(expression)
    assert "  " not in description, description
    for word in words:
        assert word in description, description


@pytest.mark.parametrize("expression", ["0 0 L,15 * *", "0 0 1-5,L * *"])
def test_last_day_in_a_list_is_described_in_words(expression):
    description = timing.describe_cron(expression)
    assert "last day" in description, description
    assert " L " not in f"{description} ", description


@pytest.mark.django_db
def test_the_preview_api_describes_what_fires(api_client):
    body = api_client.get("/api/v1/schedules/preview/",
                          {"expression": "0 0 * * 0#1,6#1", "timezone": "UTC", "count": 4}).json()
    # Two fires a month (first Saturday, first Sunday): the description must not read "every".
    assert len({t[:7] for t in body["fireTimes"]}) == 2
    assert "first" in body["description"], body
