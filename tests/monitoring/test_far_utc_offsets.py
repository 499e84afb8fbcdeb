"""Adversarial check (review of issue 13, point 8: client input never
causes a 500, and a refusal names what is wrong). ISO 8601 and Python
accept UTC offsets up to +/-23:59; PostgreSQL's timestamptz only up to
+/-15:59. An events filter such as ``since=2027-01-01T00:00:00+20:00`` is
parsed, handed to the database as is and fails there (``time zone
displacement out of range``): a 500 on the events page, and on the events
API a 400 that names no parameter ("a value is out of range or not valid
here", path ""). A fix may convert to UTC first (the offset is legal) or
refuse it on the parameter; both pass."""

from __future__ import annotations

import pytest

FAR = "2027-01-01T00:00:00+20:00"


@pytest.fixture
def logged_in(client, admin_user):
    client.force_login(admin_user)
    return client


def _accepted_or_named(response, path: str) -> bool:
    if response.status_code == 200:
        return True
    return response.status_code == 400 and any(e["path"] == path for e in response.json()["errors"])


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["since", "until"])
def test_the_events_page_with_a_far_offset_is_not_a_500(logged_in, name):
    response = logged_in.get("/events/", {name: FAR})
    assert response.status_code in (200, 400)


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["since", "until"])
def test_the_events_api_with_a_far_offset_answers_or_names_the_parameter(api_client, name):
    response = api_client.get("/api/v1/events/", {name: FAR})
    assert _accepted_or_named(response, name), response.json()
