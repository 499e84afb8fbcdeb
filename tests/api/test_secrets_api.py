from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from orchestration.models import Event, Secret

pytestmark = pytest.mark.django_db

SECRETS = "/api/v1/secrets/"
VALUE = "very-secret-value-42"


def send(client, method, url, body):
    return getattr(client, method)(url, data=json.dumps(body), content_type="application/json")


def test_anonymous_requests_are_refused():
    client = APIClient()
    assert client.get(SECRETS).status_code == 401
    assert send(client, "post", SECRETS, {"name": "x", "value": "y"}).status_code == 401
    assert Secret.objects.count() == 0


def test_the_value_is_write_only(api_client):
    created = send(
        api_client, "post", SECRETS, {"name": "apiKey", "value": VALUE, "description": "CDN"}
    )
    assert created.status_code == 201
    assert set(created.json()) == {"name", "description", "allowedHosts", "createdAt", "updatedAt"}
    assert Secret.objects.get().value == VALUE
    responses = [
        created,
        api_client.get(SECRETS),
        api_client.get(f"{SECRETS}apiKey/"),
        send(api_client, "patch", f"{SECRETS}apiKey/", {"description": "CDN key"}),
        send(api_client, "put", f"{SECRETS}apiKey/", {"value": VALUE + "-2"}),
    ]
    for response in responses:
        assert response.status_code in (200, 201)
        assert VALUE not in response.content.decode()
    assert Secret.objects.get().value == VALUE + "-2"
    assert Secret.objects.get().description == "CDN key"
    assert api_client.get(SECRETS).json()["results"][0]["name"] == "apiKey"
    assert all(VALUE not in json.dumps(e.data) for e in Event.objects.all())
    assert [e.type for e in Event.objects.order_by("id")] == [
        "secret.created",
        "secret.updated",
        "secret.updated",
    ]


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ({"name": "has space", "value": "x"}, "name", "name must start with a letter"),
        ({"name": "ok"}, "value", "This field is required."),
        ({"value": "x"}, "name", "This field is required."),
        ({"name": "ok", "value": ""}, "value", "This field may not be blank."),
    ],
)
def test_bad_secrets_are_rejected(api_client, body, path, message):
    response = send(api_client, "post", SECRETS, body)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["path"] == path and error["message"].startswith(message)
    assert Secret.objects.count() == 0


def test_names_are_unique(api_client):
    send(api_client, "post", SECRETS, {"name": "apiKey", "value": "value-a-long"})
    response = send(api_client, "post", SECRETS, {"name": "apiKey", "value": "value-b-long"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "name"
    assert Secret.objects.get().value == "value-a-long"


def test_put_needs_a_value_and_the_name_cannot_change(api_client):
    send(api_client, "post", SECRETS, {"name": "apiKey", "value": "value-a-long"})
    response = send(api_client, "put", f"{SECRETS}apiKey/", {"description": "only"})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"path": "value", "message": "value is required (use PATCH to change only the description)"}
    ]
    send(api_client, "patch", f"{SECRETS}apiKey/", {"name": "renamed", "value": "value-b-long"})
    assert list(Secret.objects.values_list("name", "value")) == [("apiKey", "value-b-long")]


def test_delete(api_client):
    send(api_client, "post", SECRETS, {"name": "apiKey", "value": "value-a-long"})
    assert api_client.delete(f"{SECRETS}apiKey/").status_code == 204
    assert Secret.objects.count() == 0
    assert api_client.delete(f"{SECRETS}apiKey/").status_code == 404


def test_a_stored_secret_makes_a_task_reference_valid(api_client, make_definition):
    doc = make_definition()
    doc["workflows"][0]["config"] = {"output": {"auth": "Bearer ${cdnToken}"}}
    response = send(api_client, "post", "/api/v1/tasks/validate/", doc)
    assert response.json()["valid"] is True
    assert [w["path"] for w in response.json()["warnings"]] == ["workflows[0].config.output.auth"]
    send(api_client, "post", SECRETS, {"name": "cdnToken", "value": VALUE})
    response = send(api_client, "post", "/api/v1/tasks/", doc)
    assert response.status_code == 201
    assert "warnings" not in response.json()
    assert VALUE not in response.content.decode()
