"""``GET /api/v1/schedules/?task=X`` filters by task, as ``?task=`` does on
the events, metrics and alerts APIs (it was silently ignored: every
schedule came back); ``taskId`` keeps working, and the two naming different
tasks is a 400 on ``task``."""

from __future__ import annotations

import pytest


@pytest.fixture
def two_schedules(api_client, make_task):
    for task_id in ("filter-a", "filter-b"):
        make_task(task_id)
        created = api_client.post("/api/v1/schedules/", {"taskId": task_id, "type": "cron", "expression": "0 9 * * *"},
                                  format="json")
        assert created.status_code == 201, created.json()


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["task", "taskId"])
def test_the_list_filters_by_task_under_either_name(api_client, two_schedules, name):
    listed = api_client.get("/api/v1/schedules/", {name: "filter-a"}).json()["results"]
    assert [s["taskId"] for s in listed] == ["filter-a"]


@pytest.mark.django_db
def test_task_and_task_id_naming_different_tasks_is_a_400(api_client, two_schedules):
    response = api_client.get("/api/v1/schedules/", {"task": "filter-a", "taskId": "filter-b"})
    assert response.status_code == 400
    assert [e["path"] for e in response.json()["errors"]] == ["task"]
