"""Headers and query parameters a client fills with anything: /metrics
tokens, API tokens and the event API's filters are refused with 4xx, never 500,
and a bearer token that is given must be right wherever it comes from."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db


def wire(text: str) -> str:
    """A header as a WSGI server hands it over: UTF-8 bytes read as Latin-1."""
    return text.encode().decode("latin-1")


@pytest.fixture
def anyone():
    return Client(raise_request_exception=False)


@pytest.fixture
def metrics_token(settings):
    settings.WEBAUTO_METRICS_TOKEN = "scrape-token"
    settings.WEBAUTO_METRICS_ALLOWED_IPS = ["127.0.0.1", "::1"]
    return "scrape-token"


def test_a_wrong_bearer_token_from_loopback_is_refused(anyone, metrics_token):
    response = anyone.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 403
    assert response.content == b"forbidden: wrong metrics token\n"
    assert anyone.get("/metrics", HTTP_AUTHORIZATION="Bearer ", REMOTE_ADDR="::1").status_code == 403


def test_the_right_token_from_anywhere_and_no_token_from_loopback_are_allowed(anyone, metrics_token):
    assert anyone.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token", REMOTE_ADDR="10.9.8.7").status_code == 200
    assert anyone.get("/metrics", HTTP_AUTHORIZATION="bearer scrape-token", REMOTE_ADDR="10.9.8.7").status_code == 200
    assert anyone.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    # Basic credentials belong to a proxy in front, not to us.
    assert anyone.get("/metrics", HTTP_AUTHORIZATION="Basic dTpw", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert anyone.get("/metrics", REMOTE_ADDR="10.9.8.7").status_code == 403


@pytest.mark.parametrize("value", ["Bearer scrape-tokén", wire("Bearer scrape-tokén"), wire("Bearer \u4e2d\u6587"), "Bearer a\x00b"])
def test_a_non_ascii_bearer_token_is_a_403_not_a_500(anyone, metrics_token, value):
    assert anyone.get("/metrics", HTTP_AUTHORIZATION=value, REMOTE_ADDR="10.9.8.7").status_code == 403
    assert anyone.get("/metrics", HTTP_AUTHORIZATION=value, REMOTE_ADDR="127.0.0.1").status_code == 403


def test_a_bearer_token_is_refused_when_the_server_has_none(anyone, settings):
    settings.WEBAUTO_METRICS_TOKEN = ""
    response = anyone.get("/metrics", HTTP_AUTHORIZATION="Bearer guess", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 403
    assert b"no metrics token" in response.content


@pytest.mark.parametrize(
    "value", ["Token a\x00b", "Token " + "a" * 41, wire("Token é"), wire("Token \u4e2d"), "Token a\tb", "Bearer x"]
)
def test_an_impossible_api_token_is_a_401(anyone, admin_user, value):
    Token.objects.create(user=admin_user)
    for url in ("/api/v1/events/", "/api/v1/tasks/"):
        assert anyone.get(url, HTTP_AUTHORIZATION=value).status_code == 401
    assert anyone.post("/api/v1/events/", data={}, HTTP_AUTHORIZATION=value).status_code == 401


def test_a_real_api_token_still_works(anyone, admin_user):
    token = Token.objects.create(user=admin_user)
    assert anyone.get("/api/v1/events/", HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 200


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("since", "2026-13-45T10:00:00"),
        ("until", "2026-02-30T10:00:00"),
        ("since", "not a date"),
        ("execution", "\u00b2"),
        ("execution", "-1"),
        ("range", "\u00e9"),
    ],
)
def test_bad_event_filters_are_a_400_naming_the_parameter(api_client, name, value):
    response = api_client.get("/api/v1/events/", {name: value})
    assert response.status_code == 400
    assert name in response.json()["errors"][0]["path"]
