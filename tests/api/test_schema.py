from __future__ import annotations

import io

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_the_schema_generates_without_warnings():
    out = io.StringIO()
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--urlconf",
        "tests.api.urls",
        "--format",
        "openapi-json",
        stdout=out,
    )
    assert '"/api/v1/tasks/{taskId}/execute/"' in out.getvalue()


def test_the_schema_endpoint_documents_the_core_api(api_client):
    response = api_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/v1/tasks/",
        "/api/v1/tasks/{taskId}/",
        "/api/v1/tasks/{taskId}/definition/",
        "/api/v1/executions/",
        "/api/v1/executions/{id}/cancel/",
        "/api/v1/executions/{id}/rerun/",
        "/api/v1/secrets/{name}/",
    ):
        assert path in paths
    list_params = {p["name"] for p in paths["/api/v1/executions/"]["get"]["parameters"]}
    assert {"task", "status", "page"} <= list_params


def test_the_project_urls_mount_the_core_api():
    from django.urls import resolve

    for path, view in (
        ("/api/v1/tasks/", "TaskViewSet"),
        ("/api/v1/tasks/weibo-complete-monitoring-task/definition/", "TaskViewSet"),
        ("/api/v1/executions/7/cancel/", "ExecutionViewSet"),
        ("/api/v1/secrets/webhookToken/", "SecretViewSet"),
    ):
        assert resolve(path, urlconf="webauto.urls").func.__name__ == view
