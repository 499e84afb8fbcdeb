"""Adversarial check (review of issue 13, point 8: bad client input is a
clear JSON error naming what is wrong). A well-formed date-time whose UTC
instant lies past year 9999 parses, then overflows in the database: the
answer is a 400, but it names no parameter ("a value is out of range or not
valid here", path "")."""

from __future__ import annotations

import pytest


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["since", "until"])
def test_a_date_past_year_9999_in_utc_is_a_400_naming_the_parameter(api_client, name):
    response = api_client.get("/api/v1/events/", {name: "9999-12-31T23:59:59-23:59"})
    assert response.status_code == 400
    assert name in response.json()["errors"][0]["path"], response.json()
