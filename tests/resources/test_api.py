"""/api/v1/resources/ and the /resources/ page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from resources import services
from resources.models import ResourcePool, SystemSample
from tests.resources.conftest import GB

pytestmark = pytest.mark.django_db


@pytest.fixture
def busy_cluster(make_worker, make_task, queued):
    """One worker with room for one execution: one running, two waiting."""
    make_worker("w1@host-a", cpu_limit_millicores=1000)
    running = queued(make_task("running", priority="high"))
    assert services.admission_request(execution_id=running.pk)
    waiting = [queued(make_task(f"waiting-{p}", priority=p)) for p in ("low", "high")]
    for execution in waiting:
        assert not services.admission_request(execution_id=execution.pk)
    return running, waiting


def test_the_root_sums_capacity_allocations_and_the_queue(api_client, busy_cluster):
    body = api_client.get("/api/v1/resources/").json()
    assert body["liveWorkers"] == 1
    assert body["capacity"]["cpu"] == 1.0 and body["allocated"]["cpu"] == 1.0 and body["free"]["cpu"] == 0.0
    assert body["openAllocations"] == 1 and body["queued"] == 2
    assert body["links"]["queue"].endswith("/api/v1/resources/queue/")


def test_workers_allocations_and_queue_are_listed(api_client, busy_cluster):
    running, (low, high) = busy_cluster
    workers = api_client.get("/api/v1/resources/workers/").json()["results"]
    assert [w["name"] for w in workers] == ["w1@host-a"]
    assert workers[0]["live"] is True and workers[0]["allocated"]["cpu"] == 1.0

    allocations = api_client.get("/api/v1/resources/allocations/").json()
    assert allocations["count"] == 1
    assert allocations["results"][0]["executionId"] == running.pk
    assert allocations["results"][0]["worker"] == "w1@host-a"

    queue = api_client.get("/api/v1/resources/queue/").json()["results"]
    assert [(q["position"], q["executionId"]) for q in queue] == [(1, high.pk), (2, low.pk)]
    assert queue[1]["reason"].startswith("waiting for 1 CPU, 256MB")


def test_one_executions_resources_show_request_allocation_and_usage(api_client, busy_cluster):
    running, _ = busy_cluster
    body = api_client.get(f"/api/v1/resources/executions/{running.pk}/").json()
    assert body["requirements"]["cpu"] == 1.0 and body["requirements"]["source"] == "explicit"
    assert body["request"]["admissions"] == 1
    assert len(body["allocations"]) == 1 and body["allocations"][0]["releasedAt"] is None
    assert body["usage"]["cpuSeconds"] == 0.0
    assert api_client.get("/api/v1/resources/executions/999999/").status_code == 404


def test_history_and_analysis_take_a_range_and_reject_a_bad_one(api_client):
    now = timezone.now()
    for minutes in (90, 30, 10):
        SystemSample.objects.create(
            host="box", taken_at=now - timedelta(minutes=minutes), cpu_percent=minutes, cores=2,
            memory_used_bytes=GB, memory_total_bytes=4 * GB, disk_used_bytes=1, disk_total_bytes=2,
            load_1m=0, load_5m=0, load_15m=0,
        )
    history = api_client.get("/api/v1/resources/history/", {"hours": 1}).json()["results"]
    assert [s["cpuPercent"] for s in history] == [30, 10]
    assert history[0]["memoryPercent"] == 25.0

    analysis = api_client.get("/api/v1/resources/analysis/", {"hours": 2}).json()
    assert analysis["samples"] == 3 and analysis["cpu"]["peakPercent"] == 90.0

    bad = api_client.get("/api/v1/resources/history/", {"start": "yesterday"})
    assert bad.status_code == 400
    assert bad.json() == {"errors": [{"path": "start", "message": (
        "'yesterday' is not an ISO 8601 date-time (such as '2026-01-31T08:00:00+08:00') within years 1-9999")}]}
    backwards = api_client.get(
        "/api/v1/resources/analysis/", {"start": now.isoformat(), "end": (now - timedelta(hours=1)).isoformat()}
    )
    assert backwards.status_code == 400 and backwards.json()["errors"][0]["path"] == "start"


def test_staff_set_and_clear_the_cluster_limits_with_clear_errors(api_client):
    ok = api_client.patch("/api/v1/resources/pool/", {"cpuLimit": 1.5, "memoryLimit": "2GB"}, format="json")
    assert ok.status_code == 200
    assert ok.json() == {"cpuLimit": 1.5, "memoryLimit": "2GB", "memoryLimitBytes": 2 * GB}
    pool = ResourcePool.objects.get(name="default")
    assert (pool.cpu_limit_millicores, pool.memory_limit_bytes) == (1500, 2 * GB)

    bad = api_client.patch("/api/v1/resources/pool/", {"cpuLimit": -1, "memoryLimit": "lots", "gpu": 1}, format="json")
    assert bad.status_code == 400
    assert [e["path"] for e in bad.json()["errors"]] == ["gpu", "cpuLimit", "memoryLimit"]

    cleared = api_client.patch("/api/v1/resources/pool/", {"cpuLimit": None}, format="json").json()
    assert cleared["cpuLimit"] is None and cleared["memoryLimit"] == "2GB"


def test_non_staff_cannot_change_limits_and_anonymous_sees_nothing(client, django_user_model):
    from rest_framework.test import APIClient

    anonymous = APIClient()
    assert anonymous.get("/api/v1/resources/").status_code in (401, 403)
    from orchestration.access.roles import Role, grant_role

    user = django_user_model.objects.create_user("viewer", password="pw-viewer-123")
    grant_role(user=user, role=Role.VIEWER)
    viewer = APIClient()
    viewer.force_authenticate(user)
    assert viewer.get("/api/v1/resources/").status_code == 200
    assert viewer.patch("/api/v1/resources/pool/", {"cpuLimit": 1}, format="json").status_code == 403


def test_the_page_shows_workers_queue_and_allocations_and_refreshes_parts(client, admin_user, busy_cluster):
    running, (low, high) = busy_cluster
    assert client.get("/resources/").status_code == 302  # login required
    client.force_login(admin_user)
    page = client.get("/resources/").content.decode()
    assert "w1@host-a" in page and "Workers" in page
    assert f"#{low.pk}" in page and "waiting for 1 CPU, 256MB" in page
    assert f"#{running.pk}" in page
    assert 'id="res-chart-system"' in page and "chart.umd.min.js" in page

    part = client.get("/resources/?partial=queue", HTTP_HX_REQUEST="true").content.decode()
    assert part.lstrip().startswith('<div id="res-queue"') and f"#{high.pk}" in part
    assert "<html" not in part
