"""The OpenAPI schema and its docs page, served without any CDN."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


def test_schema_describes_the_api(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/tasks/" in paths and "/api/v1/executions/{id}/cancel/" in paths


def test_docs_page_loads_its_assets_from_this_server(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(not a.startswith(("http://", "https://", "//")) for a in assets), assets
