"""The secrets page: values are stored, never shown back."""

from __future__ import annotations

import pytest

from orchestration.models import Secret

pytestmark = pytest.mark.django_db


def test_a_secret_is_saved_and_its_value_never_shown(client, admin_user):
    client.force_login(admin_user)
    response = client.post("/secrets/", {"name": "apiToken", "value": "s3cr3t-value", "description": "API"})
    assert response.status_code == 302
    assert Secret.objects.get(name="apiToken").value == "s3cr3t-value"
    page = client.get("/secrets/").content.decode()
    assert "apiToken" in page and "s3cr3t-value" not in page


def test_saving_an_existing_name_replaces_the_value(client, admin_user):
    client.force_login(admin_user)
    Secret.objects.create(name="apiToken", value="old-value-1")
    client.post("/secrets/", {"name": "apiToken", "value": "new-value-2", "description": ""})
    assert Secret.objects.get(name="apiToken").value == "new-value-2"
    assert Secret.objects.count() == 1


def test_a_bad_name_or_empty_value_is_refused_with_the_field_named(client, admin_user):
    client.force_login(admin_user)
    response = client.post("/secrets/", {"name": "1bad name", "value": "", "description": ""})
    assert response.status_code == 400
    page = response.content.decode()
    assert "name" in page and "value must not be empty" in page
    assert not Secret.objects.exists()


def test_a_secret_can_be_deleted(client, admin_user):
    client.force_login(admin_user)
    Secret.objects.create(name="gone", value="x")
    assert client.post("/secrets/gone/delete/").status_code == 302
    assert not Secret.objects.exists()


def test_the_page_requires_login(client):
    assert client.get("/secrets/").status_code == 302


def test_the_page_saves_and_lists_allowed_hosts_and_names_a_bad_one(client, admin_user):
    client.force_login(admin_user)
    client.post("/secrets/", {"name": "cdn", "value": "cdn-token-1", "allowed_hosts": "cdn.example.com, *.example.org"})
    assert Secret.objects.get(name="cdn").allowed_hosts == ["cdn.example.com", "*.example.org"]
    assert "cdn.example.com, *.example.org" in client.get("/secrets/").content.decode()
    response = client.post("/secrets/", {"name": "bad", "value": "bad-token-1", "allowed_hosts": "ok.example.com bad/host"})
    assert response.status_code == 400
    assert "allowedHosts[1]" in response.content.decode()
    assert not Secret.objects.filter(name="bad").exists()
