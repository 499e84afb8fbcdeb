"""Upgrading a task to a newer version of its template."""

from __future__ import annotations

import pytest

from orchestration.api.errors import DefinitionInvalid
from orchestration.models import Task
from templates_app import services
from templates_app.models import Template

pytestmark = pytest.mark.django_db

URL = "/api/v1/templates/weibo-monitoring-template/upgrade-task/"

V2_PARAMETERS = [
    {"name": "targetUrl", "type": "string", "required": True, "description": "profile"},
    {"name": "maxPosts", "type": "integer", "default": 20, "minimum": 1, "maximum": 80},
    {"name": "mediaQuality", "type": "string", "default": "medium", "enum": ["medium", "original"]},
    {"name": "includeComments", "type": "boolean", "default": False},
]


@pytest.fixture
def task(seed_template, seed_task_parameters) -> Task:
    template = services.template_create(document=seed_template)
    return services.template_instantiate(
        template=template, parameters=seed_task_parameters, task_id="seed-task", options={"priority": "high"}
    )


@pytest.fixture
def v2(task, seed_template) -> Template:
    workflows = [dict(n) for n in seed_template["workflows"]]
    workflows[1] = {**workflows[1], "config": {**workflows[1]["config"], "includeComments": "${includeComments}"}}
    return services.template_version_create(
        template_id="weibo-monitoring-template", changes={"parameters": V2_PARAMETERS, "workflows": workflows}
    )


def test_preview_keeps_valid_parameters_and_drops_the_rest(task, v2):
    plan = services.task_upgrade_preview(task=task, template=v2)
    assert (plan.from_version, plan.to_version) == ("1.0.0", "1.0.1")
    # maxPosts=100 breaks the new maximum of 80: dropped, and the new default applies.
    assert plan.dropped == [{"name": "maxPosts", "reason": "must be at most 80 (got 100)"}]
    assert plan.kept == ["targetUrl", "mediaQuality", "includeComments", "changeThreshold"]
    assert plan.defaulted == ["maxPosts"]
    assert plan.errors == []
    assert plan.parameters["maxPosts"] == 20
    assert plan.definition["workflows"][1]["config"] == {
        "maxPosts": 20, "mediaQuality": "original", "includeComments": True,
    }
    paths = {c["path"] for c in plan.changes}
    assert "templateVersion" in paths
    assert "parameters.maxPosts" in paths
    assert "workflows[id=download].config.includeComments" in paths
    assert "+  \"templateVersion\": \"1.0.1\"," in plan.text
    task.refresh_from_db()
    assert task.template_version == "1.0.0"


def test_upgrade_applies_the_plan_and_keeps_task_options(task, v2):
    upgraded = services.task_upgrade(task=task, template=v2, expected_version="1.0.0")
    upgraded.refresh_from_db()
    assert upgraded.template_version == "1.0.1"
    assert upgraded.priority == "high"
    assert upgraded.parameters["maxPosts"] == 20
    assert upgraded.workflows[1]["config"]["includeComments"] is True


def test_upgrade_with_a_new_required_parameter_needs_its_value(task, v2):
    v3 = services.template_version_create(
        template_id="weibo-monitoring-template",
        changes={"parameters": [*V2_PARAMETERS, {"name": "region", "type": "string", "required": True}]},
    )
    plan = services.task_upgrade_preview(task=task, template=v3)
    assert plan.errors == [{"path": "parameters.region", "message": "is required"}]
    with pytest.raises(DefinitionInvalid):
        services.task_upgrade(task=task, template=v3)
    upgraded = services.task_upgrade(task=task, template=v3, parameters={"region": "cn"})
    assert upgraded.parameters["region"] == "cn"
    assert upgraded.template_version == "1.0.2"


def test_a_parameter_the_new_version_no_longer_declares_is_dropped(task, seed_template):
    v2 = services.template_version_create(
        template_id="weibo-monitoring-template",
        changes={
            "parameters": [seed_template["parameters"][0]],
            "workflows": [seed_template["workflows"][0]],
        },
    )
    plan = services.task_upgrade_preview(task=task, template=v2)
    assert {d["name"] for d in plan.dropped} == {"maxPosts", "mediaQuality"}
    assert "changeThreshold" in plan.kept  # never declared: an extra the task carries
    assert {"path": "workflows[id=download]", "op": "removed", "old": task.workflows[1]} in plan.changes


def test_a_confirmation_based_on_a_stale_preview_is_refused(task, v2):
    with pytest.raises(DefinitionInvalid) as exc:
        services.task_upgrade(task=task, template=v2, expected_version="0.9.0")
    assert exc.value.errors[0]["path"] == "fromVersion"


def test_upgrade_api_previews_then_confirms(api_client, task, v2):
    preview = api_client.post(URL, {"taskId": "seed-task"}, format="json")
    assert preview.status_code == 200, preview.json()
    body = preview.json()
    assert body["upgraded"] is False and body["canUpgrade"] is True
    assert (body["fromVersion"], body["toVersion"]) == ("1.0.0", "1.0.1")
    assert body["dropped"][0]["name"] == "maxPosts"
    assert Task.objects.get(task_id="seed-task").template_version == "1.0.0"

    done = api_client.post(URL, {"taskId": "seed-task", "confirm": True, "fromVersion": "1.0.0"}, format="json")
    assert done.status_code == 200, done.json()
    assert done.json()["upgraded"] is True
    assert done.json()["templateVersion"] == "1.0.1"
    assert Task.objects.get(task_id="seed-task").template_version == "1.0.1"


def test_upgrade_api_refuses_a_task_of_another_template(api_client, task, v2):
    response = api_client.post(URL, {"taskId": "nope"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "taskId"
