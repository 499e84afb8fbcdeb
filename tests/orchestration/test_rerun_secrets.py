"""A re-run is an operator's new start: like execute, it is refused (409 in the
API, a message on the page, never a 500) when a secret its run references has
gone from the store since, instead of starting a run that can only fail with
``unresolvable reference``."""

from __future__ import annotations

import socket

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from orchestration import services
from orchestration.models import Execution, Secret
from tests.webflows.test_seed_end_to_end import finished_execution

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def failed_run(celery_worker) -> Execution:
    """A real run of a task using ${rrSecret} that failed on the worker; then
    the secret is deleted."""
    Secret.objects.create(name="rrSecret", value="rerun-secret-value-0042")
    task = services.task_create(
        definition={
            "taskId": "rerun-needs-secret",
            "name": "rerun-needs-secret",
            "workflows": [
                {
                    "id": "watch",
                    "workflow": "page-monitor",
                    "config": {"url": f"http://127.0.0.1:{_closed_port()}/", "headers": {"X-Key": "${rrSecret}"}},
                }
            ],
        }
    )
    execution = finished_execution(services.execution_create(task=task))
    assert execution.status == "failed"
    Secret.objects.filter(name="rrSecret").delete()
    return execution


def test_the_api_refuses_a_rerun_whose_secret_is_gone_like_execute(failed_run, admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    rerun = client.post(f"/api/v1/executions/{failed_run.pk}/rerun/")
    execute = client.post("/api/v1/tasks/rerun-needs-secret/execute/", {}, format="json")
    assert rerun.status_code == 409 and execute.status_code == 409
    [error] = rerun.json()["errors"]
    assert "rrSecret" in error["message"] and error == execute.json()["errors"][0]
    assert Execution.objects.count() == 1  # nothing started

    Secret.objects.create(name="rrSecret", value="rerun-secret-value-0042")
    again = client.post(f"/api/v1/executions/{failed_run.pk}/rerun/")
    assert again.status_code == 202, again.content
    assert Execution.objects.get(pk=again.json()["executionId"]).trigger == "rerun"


def test_the_rerun_button_shows_the_missing_secret_instead_of_a_500(failed_run, client, admin_user):
    client.force_login(admin_user)
    url = reverse("ui:execution-rerun", args=[failed_run.pk])
    response = client.post(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("ui:execution-detail", args=[failed_run.pk])
    page = client.get(response["Location"]).content.decode()
    assert "rrSecret" in page and "not exist" in page
    assert Execution.objects.count() == 1
    htmx = client.post(url, HTTP_HX_REQUEST="true")
    assert htmx.status_code == 200 and htmx["HX-Redirect"] == reverse("ui:execution-detail", args=[failed_run.pk])
