"""One resourceRequirements block, one verdict: the task API (create and
patch), a template's instantiate options and POST /api/v1/resources/requirements/
accept and refuse the same block with the same messages, and give the same
requirements (they all use resources.requirements.parse_block)."""

from __future__ import annotations

from typing import Any

import pytest

from orchestration.models import Task
from resources.requirements import parse_block

pytestmark = pytest.mark.django_db

NODES = [{"id": "only", "name": "only", "workflow": "echo", "config": {"output": {"ok": True}}}]

BLOCKS = [
    pytest.param({"cpu": 0.5, "memory": "256MB", "disk": "1.5GB", "network": "10MB/s"}, id="full"),
    pytest.param({"cpu": 2}, id="cpu only"),
    pytest.param({"cpu": 0}, id="cpu zero"),
    pytest.param({"cpu": 2000}, id="cpu over the limit"),
    pytest.param({"cpu": "2"}, id="cpu as text"),
    pytest.param({"cpu": True}, id="cpu boolean"),
    pytest.param({"memory": 1024}, id="memory as a number"),
    pytest.param({"memory": "lots"}, id="memory not a size"),
    pytest.param({"disk": "0MB"}, id="disk zero"),
    pytest.param({"network": "50MB"}, id="network not a rate"),
    pytest.param({"gpu": 1}, id="unknown resource"),
    pytest.param(["cpu"], id="not an object"),
]


def _verdict(response: Any, prefix: str, made: Any) -> tuple[int, Any]:
    if response.status_code >= 400:
        problems = sorted(
            (e["path"].removeprefix(prefix).lstrip("."), e["message"]) for e in response.json()["errors"]
        )
        return response.status_code, problems
    return response.status_code // 100 * 100, made()


def _stored(task_id: str) -> Any:
    def made() -> Any:
        parsed = parse_block(Task.objects.get(task_id=task_id).resource_requirements)
        assert parsed.requirements is not None
        return parsed.requirements.as_json()

    return made


def through_task_create(api_client: Any, block: Any) -> tuple[int, Any]:
    body = {"taskId": "via-task", "name": "t", "workflows": NODES, "resourceRequirements": block}
    return _verdict(api_client.post("/api/v1/tasks/", body, format="json"), "resourceRequirements", _stored("via-task"))


def through_task_patch(api_client: Any, block: Any) -> tuple[int, Any]:
    body = {"taskId": "via-patch", "name": "t", "workflows": NODES}
    assert api_client.post("/api/v1/tasks/", body, format="json").status_code == 201
    response = api_client.patch("/api/v1/tasks/via-patch/", {"resourceRequirements": block}, format="json")
    return _verdict(response, "resourceRequirements", _stored("via-patch"))


def through_template(api_client: Any, block: Any) -> tuple[int, Any]:
    template = {"id": "plain", "name": "Plain", "workflows": NODES}
    assert api_client.post("/api/v1/templates/", template, format="json").status_code == 201
    response = api_client.post(
        "/api/v1/templates/plain/instantiate/",
        {"taskId": "via-template", "options": {"resourceRequirements": block}},
        format="json",
    )
    return _verdict(response, "options.resourceRequirements", _stored("via-template"))


def through_resources_api(api_client: Any, block: Any) -> tuple[int, Any]:
    response = api_client.post("/api/v1/resources/requirements/", block, format="json")
    return _verdict(response, "", lambda: response.json()["requirements"])


@pytest.mark.parametrize("block", BLOCKS)
def test_every_entry_point_gives_the_same_verdict_on_resource_requirements(api_client, block):
    verdicts = {
        "task API create": through_task_create(api_client, block),
        "task API patch": through_task_patch(api_client, block),
        "template instantiate": through_template(api_client, block),
        "resources API": through_resources_api(api_client, block),
    }
    reference = verdicts["resources API"]
    assert reference[0] in (200, 400), reference  # a verdict, never a 500
    assert verdicts == dict.fromkeys(verdicts, reference)


def test_the_resources_api_shows_what_a_block_asks_for(api_client):
    status, made = through_resources_api(api_client, {"cpu": 0.5, "memory": "1GB"})
    assert status == 200
    assert (made["cpu"], made["memoryBytes"], made["disk"], made["source"]) == (0.5, 1024**3, "100MB", "explicit")
    status, problems = through_resources_api(api_client, {"cpu": 2000})
    assert status == 400 and problems == [("cpu", "must be more than 0 and at most 1024 cores, not 2000")]
