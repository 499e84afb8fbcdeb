"""Query parameters of the resources API that a client fills with anything:
a 400 naming the parameter, never a 500."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", ["/api/v1/resources/history/", "/api/v1/resources/analysis/"])
@pytest.mark.parametrize("name", ["start", "end"])
def test_an_impossible_date_is_a_400_on_the_parameter(api_client, url, name):
    response = api_client.get(url, {name: "2026-13-45T10:00:00"})
    assert response.status_code == 400
    assert name in response.json()["errors"][0]["path"]


def test_an_allocation_filter_that_is_not_ascii_digits_is_a_400(api_client):
    response = api_client.get("/api/v1/resources/allocations/", {"execution": "\u00b2"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "execution"
