"""The Django admin shows executions and node runs read-only (their status,
timings and counters are the engine's: a status saved by hand skipped the
finish, so the Prometheus counter and the rollups never counted the run);
cancelling from the admin goes through the engine's cancel, as the API's."""

from __future__ import annotations

import pytest
from django.utils import timezone

from monitoring.counters import execution_totals
from orchestration.models import Event, Execution

WORKFLOWS = [{"id": "only", "workflow": "echo"}]


@pytest.fixture
def logged_in(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.mark.django_db
def test_the_execution_page_offers_no_editable_engine_field(logged_in, make_task):
    task = make_task("admin-ro", WORKFLOWS)
    execution = Execution.objects.create(task=task, status="running", definition={}, started_at=timezone.now())
    page = logged_in.get(f"/admin/orchestration/execution/{execution.pk}/change/")
    assert page.status_code == 200
    assert list(page.context["adminform"].form.fields) == []
    assert logged_in.get("/admin/orchestration/execution/add/").status_code == 403
    # An active run cannot be deleted from under the engine.
    assert logged_in.get(f"/admin/orchestration/execution/{execution.pk}/delete/").status_code == 403


@pytest.mark.django_db
def test_the_cancel_action_goes_through_the_engine(logged_in, make_task):
    task = make_task("admin-cancel", WORKFLOWS)
    execution = Execution.objects.create(task=task, status="pending", definition={"taskId": "admin-cancel"})
    before = execution_totals().by_status.get("cancelled", 0)
    response = logged_in.post("/admin/orchestration/execution/", {
        "action": "cancel_executions", "_selected_action": [execution.pk],
    })
    assert response.status_code == 302
    execution.refresh_from_db()
    assert execution.status == "cancelled"
    assert Event.objects.filter(execution=execution, type="execution.cancelled").exists()
    assert execution_totals().by_status.get("cancelled", 0) == before + 1
