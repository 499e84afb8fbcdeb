"""Adversarial check (review of issue 13, point 8: a refusal names what is
wrong). ``start``/``end`` with a UTC offset beyond PostgreSQL's +/-15:59
(legal in ISO 8601 and Python, up to +/-23:59) are parsed, reach the
database and come back as a 400 naming no parameter ("a value is out of
range or not valid here", path ""), although ``time_range`` promises "a bad
value is a 400 naming the parameter". A fix may convert to UTC first or
refuse on the parameter; both pass."""

from __future__ import annotations

import pytest

FAR = "2026-11-30T00:00:00+20:00"


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ["history", "analysis"])
@pytest.mark.parametrize("name", ["start", "end"])
def test_a_far_offset_is_answered_or_refused_on_its_parameter(api_client, endpoint, name):
    response = api_client.get(f"/api/v1/resources/{endpoint}/", {name: FAR})
    if response.status_code != 200:
        assert response.status_code == 400
        assert [e["path"] for e in response.json()["errors"]] == [name], response.json()
