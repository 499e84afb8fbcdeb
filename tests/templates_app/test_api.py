"""The templates REST API, from the seed's template document to a task."""

from __future__ import annotations

import copy

import pytest

from orchestration.definition_export import task_to_definition
from orchestration.definitions import validate_task_definition
from orchestration.models import Event, Task
from templates_app.models import ImmutableVersionError, Template

pytestmark = pytest.mark.django_db

URL = "/api/v1/templates/"


@pytest.fixture
def created(api_client, seed_template):
    response = api_client.post(URL, seed_template, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_the_seed_template_is_accepted_verbatim(created, seed_template):
    assert created["id"] == "weibo-monitoring-template"
    assert created["version"] == "1.0.0"
    assert created["parameters"] == seed_template["parameters"]
    assert created["workflows"] == seed_template["workflows"]
    assert created["extractedParameters"] == []
    stored = Template.objects.get(template_id="weibo-monitoring-template")
    assert stored.definition == seed_template
    event = Event.objects.get(type="template.created")
    assert event.data == {
        "templateId": "weibo-monitoring-template", "version": "1.0.0", "name": "微博监控模板", "createdBy": "admin",
    }


def test_instantiating_the_seed_template_with_the_seed_parameters(api_client, created, seed_task_parameters):
    response = api_client.post(
        URL + "weibo-monitoring-template/instantiate/",
        {"parameters": seed_task_parameters, "taskId": "weibo-complete-monitoring-task"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    task = Task.objects.get(task_id="weibo-complete-monitoring-task")
    assert (task.template_id, task.template_version) == ("weibo-monitoring-template", "1.0.0")
    assert [n["id"] for n in task.workflows] == ["monitoring", "download"]
    monitoring, download = task.workflows
    assert monitoring["config"] == {"targetUrl": "https://weibo.com/1671109627"}
    assert download["config"] == {"maxPosts": 100, "mediaQuality": "original"}
    assert isinstance(download["config"]["maxPosts"], int)
    assert download["condition"] == {"type": "expression", "expression": "${monitoring.hasChanges == true}"}
    assert download["inputFrom"] == "monitoring.output"
    assert task.parameters == seed_task_parameters
    assert validate_task_definition(task_to_definition(task)) == []
    assert response.json()["url"] == "/tasks/weibo-complete-monitoring-task/"


def test_media_quality_defaults_to_original_when_omitted(api_client, created):
    response = api_client.post(
        URL + "weibo-monitoring-template/instantiate/",
        {"parameters": {"targetUrl": "https://weibo.com/1"}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    task = Task.objects.get(task_id=response.json()["taskId"])
    assert task.task_id.startswith("weibo-monitoring-template-")
    assert task.workflows[1]["config"] == {"maxPosts": 50, "mediaQuality": "original"}
    assert task.parameters == {"targetUrl": "https://weibo.com/1", "maxPosts": 50, "mediaQuality": "original"}


def test_options_are_applied(api_client, created):
    options = {
        "schedule": {"type": "cron", "expression": "0 */2 * * *", "timezone": "Asia/Shanghai", "enabled": True},
        "priority": "high",
        "notificationChannels": [{"type": "email", "config": {"recipients": ["admin@example.com"]}}],
    }
    response = api_client.post(
        URL + "weibo-monitoring-template/instantiate/",
        {"parameters": {"targetUrl": "https://weibo.com/1"}, "options": options, "taskId": "with-options"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    task = Task.objects.get(task_id="with-options")
    assert task.priority == "high"
    assert task.schedule == options["schedule"]
    assert task.notification_channels == options["notificationChannels"]


def test_every_parameter_error_is_listed_with_its_name(api_client, created):
    response = api_client.post(
        URL + "weibo-monitoring-template/instantiate/",
        {"parameters": {"maxPosts": "lots", "mediaQuality": "4k"}, "options": {"colour": "red"}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"path": "parameters.targetUrl", "message": "is required"},
        {"path": "parameters.maxPosts", "message": 'must be a number (got string "lots")'},
        {"path": "parameters.mediaQuality", "message": 'must be one of: thumbnail, medium, original (got "4k")'},
        {"path": "options.colour", "message": "unknown option (allowed: schedule, priority, notificationChannels, "
         "timeout, maxRetries, retryDelay, resourceRequirements, errorHandling)"},
    ]
    assert not Task.objects.exists()


def test_option_problems_found_by_task_validation_point_at_the_option(api_client, created):
    response = api_client.post(
        URL + "weibo-monitoring-template/instantiate/",
        {
            "parameters": {"targetUrl": "https://weibo.com/1"},
            "options": {"priority": "urgent", "schedule": {"type": "cron", "expression": "every day"}},
        },
        format="json",
    )
    assert response.status_code == 400
    paths = [e["path"] for e in response.json()["errors"]]
    assert paths == ["options.priority", "options.schedule.expression"]


def test_a_value_the_workflow_rejects_is_reported_at_the_node(api_client, created):
    response = api_client.post(
        URL + "weibo-monitoring-template/instantiate/",
        {"parameters": {"targetUrl": "https://weibo.com/1", "maxPosts": 2.5}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "workflows[1].config.maxPosts"


def test_a_taken_task_id_is_refused(api_client, created):
    body = {"parameters": {"targetUrl": "https://weibo.com/1"}, "taskId": "same"}
    assert api_client.post(URL + "weibo-monitoring-template/instantiate/", body, format="json").status_code == 201
    response = api_client.post(URL + "weibo-monitoring-template/instantiate/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "taskId"


def test_undeclared_names_are_extracted_as_required_string_parameters(api_client, seed_template):
    doc = copy.deepcopy(seed_template)
    doc["id"] = "with-extracted"
    doc["workflows"][0]["config"]["cookie"] = "${weiboCookie}"
    response = api_client.post(URL, doc, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["extractedParameters"] == ["weiboCookie"]
    assert body["parameters"][-1] == {
        "name": "weiboCookie",
        "type": "string",
        "required": True,
        "description": "Parameter found in workflows[0].config.cookie",
        "extracted": True,
    }
    response = api_client.post(
        URL + "with-extracted/instantiate/", {"parameters": {"targetUrl": "https://weibo.com/1"}}, format="json"
    )
    assert response.json()["errors"] == [{"path": "parameters.weiboCookie", "message": "is required"}]


def test_declared_secrets_are_not_extracted_and_stay_for_run_time(api_client, seed_template):
    from orchestration.models import Secret

    Secret.objects.create(name="weiboCookie", value="SUB=abc")
    doc = copy.deepcopy(seed_template)
    doc["id"] = "with-secret"
    doc["secrets"] = ["weiboCookie"]
    doc["workflows"][0]["config"]["cookie"] = "${weiboCookie}"
    response = api_client.post(URL, doc, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["extractedParameters"] == []
    response = api_client.post(
        URL + "with-secret/instantiate/", {"parameters": {"targetUrl": "https://weibo.com/1"}}, format="json"
    )
    assert response.status_code == 201, response.json()
    task = Task.objects.get(task_id=response.json()["taskId"])
    assert task.workflows[0]["config"]["cookie"] == "${weiboCookie}"
    assert "SUB=abc" not in str(response.json())


def test_template_validation_lists_every_problem_with_its_path(api_client):
    doc = {
        "id": "bad template",
        "version": "1.0",
        "parameters": [{"name": "n", "type": "number", "default": "x"}],
        "workflows": [
            {"id": "a", "workflow": "no-such-kind", "dependsOn": ["b"]},
            {"id": "b", "workflow": "echo", "dependsOn": ["a", "ghost"]},
        ],
    }
    response = api_client.post(URL, doc, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    paths = [e["path"] for e in errors]
    for expected in (
        "id",
        "version",
        "name",
        "parameters[0].default",
        "workflows[0].workflow",
        "workflows[1].dependsOn[1]",
    ):
        assert expected in paths, errors
    assert any("cycle" in e["message"] for e in errors)
    assert not Template.objects.exists()


def test_a_template_needs_a_name_and_a_workflow(api_client):
    response = api_client.post(URL, {"id": "empty", "name": " ", "workflows": []}, format="json")
    assert response.json()["errors"] == [
        {"path": "name", "message": "is required"},
        {"path": "workflows", "message": "a template needs at least one workflow"},
    ]


def test_put_bumps_the_patch_version(api_client, created):
    response = api_client.put(URL + "weibo-monitoring-template/", {"description": "v2"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["version"] == "1.0.1"
    assert response.json()["description"] == "v2"
    assert response.json()["workflows"] == created["workflows"]
    latest = api_client.get(URL + "weibo-monitoring-template/").json()
    assert latest["version"] == "1.0.1"
    first = api_client.get(URL + "weibo-monitoring-template/versions/1.0.0/").json()
    assert first["description"] == created["description"]


def test_put_accepts_a_higher_version_and_refuses_lower_or_equal(api_client, created):
    response = api_client.put(URL + "weibo-monitoring-template/", {"version": "2.0.0"}, format="json")
    assert response.status_code == 201 and response.json()["version"] == "2.0.0"
    for version in ("2.0.0", "1.5.0"):
        response = api_client.put(URL + "weibo-monitoring-template/", {"version": version}, format="json")
        assert response.status_code == 400
        assert response.json()["errors"][0]["path"] == "version"
        assert "higher than the latest version 2.0.0" in response.json()["errors"][0]["message"]
    response = api_client.put(URL + "weibo-monitoring-template/", {"name": "x"}, format="json")
    assert response.json()["version"] == "2.0.1"


def test_put_validates_the_new_version(api_client, created):
    response = api_client.put(
        URL + "weibo-monitoring-template/", {"workflows": [{"id": "x", "workflow": "nope"}]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [{"path": "workflows[0].workflow", "message": 'unknown workflow kind "nope"'}]
    assert Template.objects.count() == 1


def test_put_of_an_unknown_template_is_404(api_client):
    assert api_client.put(URL + "nothing/", {"name": "x"}, format="json").status_code == 404


def test_posting_an_existing_version_again_is_refused(api_client, created, seed_template):
    response = api_client.post(URL, seed_template, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "version"
    assert "immutable" in response.json()["errors"][0]["message"]


def test_versions_are_immutable(created):
    version = Template.objects.get(template_id="weibo-monitoring-template")
    version.name = "changed"
    with pytest.raises(ImmutableVersionError):
        version.save()
    with pytest.raises(ImmutableVersionError):
        Template.objects.filter(pk=version.pk).update(name="changed")
    assert Template.objects.get(pk=version.pk).name == "微博监控模板"


def test_versions_list_and_diff(api_client, created):
    api_client.put(
        URL + "weibo-monitoring-template/",
        {
            "parameters": [
                {"name": "targetUrl", "type": "string", "required": True},
                {"name": "maxPosts", "type": "integer", "default": 20, "minimum": 1},
                {"name": "mediaQuality", "type": "string", "default": "original", "enum": ["medium", "original"]},
            ]
        },
        format="json",
    )
    versions = api_client.get(URL + "weibo-monitoring-template/versions/").json()
    assert versions["latest"] == "1.0.1"
    assert [v["version"] for v in versions["versions"]] == ["1.0.1", "1.0.0"]
    diff = api_client.get(URL + "weibo-monitoring-template/diff/?from=1.0.0&to=1.0.1").json()
    assert (diff["from"], diff["to"]) == ("1.0.0", "1.0.1")
    changes = {c["path"]: c for c in diff["changes"]}
    assert changes["version"] == {"path": "version", "op": "changed", "old": "1.0.0", "new": "1.0.1"}
    assert changes["parameters[name=maxPosts].type"]["new"] == "integer"
    assert changes["parameters[name=maxPosts].default"] == {
        "path": "parameters[name=maxPosts].default", "op": "changed", "old": 50, "new": 20,
    }
    assert "parameters[name=targetUrl].description" in changes
    assert '+      "default": 20,' in diff["diff"]
    # Without from/to: the latest against the one before it.
    assert api_client.get(URL + "weibo-monitoring-template/diff/").json()["changes"] == diff["changes"]


def test_unknown_template_or_version_is_404(api_client, created):
    assert api_client.get(URL + "nope/").status_code == 404
    assert api_client.get(URL + "weibo-monitoring-template/versions/9.9.9/").status_code == 404
    assert api_client.post(URL + "nope/instantiate/", {}, format="json").status_code == 404


def test_list_filters_by_category_tag_and_text(api_client, created, seed_template):
    other = copy.deepcopy(seed_template)
    other.update({"id": "other", "name": "Site watcher", "category": "web", "tags": ["pages"]})
    assert api_client.post(URL, other, format="json").status_code == 201
    api_client.put(URL + "other/", {"description": "watches any page"}, format="json")

    def ids(query: str) -> list[str]:
        body = api_client.get(URL + query).json()
        return [t["id"] for t in body["results"]]

    assert ids("") == ["other", "weibo-monitoring-template"]
    assert api_client.get(URL).json()["results"][0]["version"] == "1.0.1"
    assert ids("?category=weibo") == ["weibo-monitoring-template"]
    assert ids("?tag=pages") == ["other"]
    assert ids("?tag=monitoring") == ["weibo-monitoring-template"]
    assert ids("?search=any%20page") == ["other"]
    assert ids("?search=微博") == ["weibo-monitoring-template"]
    assert ids("?category=none") == []


def test_the_api_needs_authentication(client):
    assert client.get(URL).status_code in (401, 403)


def test_an_integer_parameter_given_as_2_point_0_is_stored_as_an_int(api_client, seed_template, seed_task_parameters):
    # JSON Schema accepts 2.0 as an integer; the task must carry 2, not 2.0
    # (kinds slice and count with it).
    doc = copy.deepcopy(seed_template)
    doc["id"] = "integer-posts"
    next(p for p in doc["parameters"] if p["name"] == "maxPosts")["type"] = "integer"
    assert api_client.post(URL, doc, format="json").status_code == 201
    parameters = {**seed_task_parameters, "maxPosts": 2.0}
    response = api_client.post(
        URL + "integer-posts/instantiate/",
        {"parameters": parameters, "taskId": "two-posts"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    task = Task.objects.get(task_id="two-posts")
    download = task.workflows[1]["config"]
    assert download["maxPosts"] == 2 and type(download["maxPosts"]) is int
    assert type(task.parameters["maxPosts"]) is int


def test_whole_number_floats_in_a_template_are_stored_as_ints(api_client, seed_template):
    # The published template schema (through task-definition.json#/$defs/node)
    # counts 2.0 as an integer: the template is stored with 2.
    doc = copy.deepcopy(seed_template)
    doc["id"] = "float-retries"
    doc["workflows"][0]["execution"] = {"retryAttempts": 2.0, "timeout": 30000.0}
    assert api_client.post(URL, doc, format="json").status_code == 201
    stored = api_client.get(URL + "float-retries/").json()
    execution = stored["workflows"][0]["execution"]
    assert execution == {"retryAttempts": 2, "timeout": 30000}
    assert all(type(value) is int for value in execution.values())


@pytest.mark.parametrize("bad_id", [{}, [], 7, True])
def test_an_id_that_is_not_text_is_a_400_naming_id(api_client, bad_id):
    """Found by the API fuzz run once the request body is the published
    schema: ``"id": {}`` used to reach a set lookup and answer 500."""
    body = {"name": "x", "workflows": [{"id": "a", "workflow": "echo"}], "id": bad_id}
    response = api_client.post(URL, body, format="json")
    assert response.status_code == 400
    assert [e["path"] for e in response.json()["errors"]] == ["id"]
