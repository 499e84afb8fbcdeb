from __future__ import annotations

import copy
import json

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from orchestration.models import Execution, Task

pytestmark = pytest.mark.django_db

TASKS = "/api/v1/tasks/"


def post_json(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def test_anonymous_requests_are_refused(seed_ready, seed):
    client = APIClient()
    for response in (
        client.get(TASKS),
        post_json(client, TASKS, seed),
        client.get(f"{TASKS}x/definition/"),
    ):
        assert response.status_code == 401
        assert response.json() == {
            "errors": [{"path": "", "message": "Authentication credentials were not provided."}]
        }
    assert Task.objects.count() == 0


def test_token_authentication_works(django_user_model, seed_ready, seed):
    from orchestration.access.roles import Role, grant_role

    grant_role(user=django_user_model.objects.create_user("robot", password="pw-robot-123"), role=Role.EDITOR)
    call_command("drf_create_token", "robot", stdout=open("/dev/null", "w"))
    from rest_framework.authtoken.models import Token

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get(user__username='robot').key}")
    assert post_json(client, TASKS, seed).status_code == 201
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert bad.get(TASKS).status_code == 401


def test_session_authentication_works(admin_user):
    client = APIClient()
    client.login(username="admin", password="pw-admin-123")
    assert client.get(TASKS).status_code == 200


def test_the_seed_is_accepted_verbatim_and_exported_unchanged(
    api_client, seed_ready, seed_text, seed
):
    response = api_client.post(
        TASKS, data=seed_text.encode("utf-8"), content_type="application/json"
    )
    assert response.status_code == 201, response.content
    assert response.json() == seed
    assert list(response.json()) == list(seed)
    exported = api_client.get(f"{TASKS}weibo-complete-monitoring-task/definition/")
    assert exported.status_code == 200
    assert exported.json() == seed
    task = Task.objects.get()
    assert (task.name, task.priority, task.timeout_ms, task.template_id) == (
        "微博完整监控任务",
        "high",
        1800000,
        "weibo-monitoring-template",
    )


def test_the_secret_value_never_comes_back(api_client, seed_ready, seed):
    response = post_json(api_client, TASKS, seed)
    assert "s3cr3t-token-value" not in response.content.decode()
    detail = api_client.get(f"{TASKS}{seed['taskId']}/")
    assert "s3cr3t-token-value" not in detail.content.decode()
    assert (
        detail.json()["notificationChannels"][1]["config"]["headers"]["Authorization"]
        == "Bearer ${webhookToken}"
    )


def broken(seed, change):
    doc = copy.deepcopy(seed)
    change(doc)
    return doc


BAD_INPUTS = [
    (
        "unknown workflow kind",
        lambda d: d["workflows"][2].update(workflow="no-such-workflow"),
        "workflows[2].workflow",
        'unknown workflow kind "no-such-workflow"',
    ),
    (
        "duplicate node id",
        lambda d: d["workflows"][3].update(id="analysis"),
        "workflows[3].id",
        'duplicate node id "analysis" (first used by workflows[2])',
    ),
    (
        "missing dependency",
        lambda d: d["workflows"][1].update(dependsOn=["monitoring", "crawler"]),
        "workflows[1].dependsOn[1]",
        'download depends on unknown node "crawler"',
    ),
    (
        "dependency cycle",
        lambda d: d["workflows"][0].update(dependsOn=["analysis"]),
        "workflows[0].dependsOn",
        "dependency cycle: monitoring -> analysis -> download -> monitoring",
    ),
    (
        "bad priority",
        lambda d: d.update(priority="urgent"),
        "priority",
        "priority must be one of low, normal, high, critical (got 'urgent')",
    ),
    (
        "unresolvable reference",
        lambda d: d["workflows"][2]["config"].update(language="${language.code}"),
        "workflows[2].config.language",
        "unresolvable reference ${language.code}: not a parameter, an upstream node of analysis or a stored secret",
    ),
    (
        "config failing the kind's schema",
        lambda d: d["parameters"].update(maxPosts="many"),
        "workflows[1].config.maxPosts",
        "maxPosts must be an integer",
    ),
    (
        "negative task timeout",
        lambda d: d.update(timeout=-1),
        "timeout",
        "timeout must be a non-negative integer (got -1)",
    ),
    (
        "negative node timeout",
        lambda d: d["workflows"][0]["execution"].update(timeout=-300),
        "workflows[0].execution.timeout",
        "timeout must be a non-negative integer (got -300)",
    ),
    (
        "bad cron",
        lambda d: d["schedule"].update(expression="0 */2 * *"),
        "schedule.expression",
        "must have 5 fields (minute hour day-of-month month day-of-week), got 4",
    ),
    (
        "unknown timezone",
        lambda d: d["schedule"].update(timezone="Asia/Atlantis"),
        "schedule.timezone",
        "unknown timezone 'Asia/Atlantis'",
    ),
]


@pytest.mark.parametrize(
    ("case", "change", "path", "message"), BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS]
)
def test_each_bad_input_is_rejected_with_its_path_and_nothing_is_saved(
    api_client, seed_ready, seed, case, change, path, message
):
    response = post_json(api_client, TASKS, broken(seed, change))
    assert response.status_code == 400
    assert response.json() == {"errors": [{"path": path, "message": message}]}
    assert Task.objects.count() == 0


def test_every_problem_is_listed_at_once(api_client, seed_ready, seed):
    def many(doc):
        for _case, change, _path, _message in BAD_INPUTS[:8]:
            change(doc)

    response = post_json(api_client, TASKS, broken(seed, many))
    assert response.status_code == 400
    paths = [e["path"] for e in response.json()["errors"]]
    for expected in (
        "workflows[2].workflow",
        "workflows[3].id",
        "workflows[1].dependsOn[1]",
        "priority",
        "timeout",
    ):
        assert expected in paths
    assert Task.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[1, 2]", "a task definition must be a JSON object"),
        ('{"taskId": ', "JSON parse error"),
    ],
)
def test_bodies_that_are_not_definitions(api_client, body, message):
    response = api_client.post(TASKS, data=body, content_type="application/json")
    assert response.status_code == 400
    assert message in response.json()["errors"][0]["message"]


def test_a_taken_task_id_is_a_400_on_the_task_id(api_client, make_definition):
    assert post_json(api_client, TASKS, make_definition()).status_code == 201
    response = post_json(api_client, TASKS, make_definition())
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"path": "taskId", "message": 'a task with taskId "small-task" already exists'}
    ]


def test_list_filters_and_paginates(api_client, make_definition):
    post_json(
        api_client,
        TASKS,
        make_definition(taskId="alpha", category="weibo", tags=["media", "daily"]),
    )
    post_json(
        api_client,
        TASKS,
        make_definition(taskId="beta", name="Beta watcher", category="web", tags=["daily"]),
    )
    post_json(
        api_client,
        TASKS,
        make_definition(taskId="gamma", category="web", description="Find the news", enabled=False),
    )

    def ids(query):
        body = api_client.get(TASKS + query).json()
        return [row["taskId"] for row in body["results"]], body["count"]

    assert ids("") == (["alpha", "beta", "gamma"], 3)
    assert ids("?category=web") == (["beta", "gamma"], 2)
    assert ids("?tag=daily") == (["alpha", "beta"], 2)
    assert ids("?tag=med") == ([], 0)
    assert ids("?enabled=false") == (["gamma"], 1)
    assert ids("?search=WATCHER") == (["beta"], 1)
    assert ids("?search=news&category=web") == (["gamma"], 1)
    first = api_client.get(TASKS + "?page_size=2").json()
    assert first["count"] == 3
    row = api_client.get(TASKS).json()["results"][0]
    assert set(row) == {
        "taskId",
        "name",
        "description",
        "category",
        "tags",
        "priority",
        "enabled",
        "template",
        "version",
        "workflowCount",
        "createdAt",
        "updatedAt",
    }
    assert row["workflowCount"] == 2


def test_detail_is_the_definition_with_its_state(api_client, make_definition):
    post_json(api_client, TASKS, make_definition())
    body = api_client.get(f"{TASKS}small-task/").json()
    assert body["taskId"] == "small-task" and body["enabled"] is True
    assert {"createdAt", "updatedAt", "workflows", "parameters"} <= set(body)
    assert api_client.get(f"{TASKS}nope/").status_code == 404
    assert api_client.get(f"{TASKS}nope/").json()["errors"][0]["message"]


def test_put_replaces_and_accepts_what_get_returned(api_client, make_definition):
    post_json(api_client, TASKS, make_definition())
    body = api_client.get(f"{TASKS}small-task/").json()
    body["name"] = "Renamed"
    body["workflows"][0]["config"]["output"]["text"] = "${greeting}!"
    response = api_client.put(
        f"{TASKS}small-task/", data=json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 200, response.content
    task = Task.objects.get()
    assert (
        task.name == "Renamed" and task.workflows[0]["config"]["output"]["text"] == "${greeting}!"
    )
    assert "createdAt" not in task.extra


def test_patch_changes_some_keys(api_client, make_definition):
    post_json(api_client, TASKS, make_definition())
    response = api_client.patch(
        f"{TASKS}small-task/",
        data=json.dumps({"enabled": False, "priority": "low"}),
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["enabled"] is False and response.json()["priority"] == "low"
    assert api_client.get(f"{TASKS}small-task/definition/").json()["enabled"] is False


def test_invalid_updates_change_nothing(api_client, make_definition):
    post_json(api_client, TASKS, make_definition())
    before = api_client.get(f"{TASKS}small-task/definition/").json()
    response = api_client.patch(
        f"{TASKS}small-task/",
        data=json.dumps(
            {"workflows": [{"id": "a", "workflow": "echo", "dependsOn": ["a"]}], "timeout": -3}
        ),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"path": "timeout", "message": "timeout must be a non-negative integer (got -3)"},
        {"path": "workflows[0].dependsOn", "message": "dependency cycle: a -> a"},
    ]
    changed_id = make_definition(taskId="renamed")
    response = api_client.put(
        f"{TASKS}small-task/", data=json.dumps(changed_id), content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "taskId"
    assert api_client.get(f"{TASKS}small-task/definition/").json() == before


def test_delete(api_client, make_definition):
    post_json(api_client, TASKS, make_definition())
    task = Task.objects.get()
    running = Execution.objects.create(task=task, status="running", definition={})
    response = api_client.delete(f"{TASKS}small-task/")
    assert response.status_code == 409
    assert "unfinished execution" in response.json()["errors"][0]["message"]
    running.status = "completed"
    running.save()
    assert api_client.delete(f"{TASKS}small-task/").status_code == 204
    assert Task.objects.count() == 0


def test_execute_returns_202_with_the_execution(api_client, make_definition, admin_user):
    post_json(api_client, TASKS, make_definition())
    response = post_json(
        api_client, f"{TASKS}small-task/execute/", {"input": {"url": "https://example.org"}}
    )
    assert response.status_code == 202, response.content
    body = response.json()
    execution = Execution.objects.get(pk=body["executionId"])
    assert body["status"] == execution.status
    assert execution.trigger == "api" and execution.triggered_by == "admin"
    assert execution.input == {"url": "https://example.org"}
    assert sorted(execution.node_runs.values_list("node_id", flat=True)) == ["first", "second"]


def test_execute_without_a_body_and_with_bad_bodies(api_client, make_definition):
    post_json(api_client, TASKS, make_definition())
    assert api_client.post(f"{TASKS}small-task/execute/").status_code == 202
    response = api_client.post(
        f"{TASKS}small-task/execute/", data="[1]", content_type="application/json"
    )
    assert response.status_code == 400
    assert api_client.post(f"{TASKS}nope/execute/").status_code == 404


def test_a_disabled_task_is_not_executed(api_client, make_definition):
    post_json(api_client, TASKS, make_definition(enabled=False))
    response = api_client.post(f"{TASKS}small-task/execute/")
    assert response.status_code == 409
    assert response.json()["errors"] == [
        {"path": "", "message": 'task "small-task" is disabled; enable it to run it'}
    ]
    assert Execution.objects.count() == 0


def test_validate_checks_without_saving(api_client, seed_ready, seed):
    response = post_json(api_client, f"{TASKS}validate/", seed)
    assert response.status_code == 200
    assert response.json() == {"valid": True, "errors": [], "warnings": []}
    response = post_json(
        api_client, f"{TASKS}validate/", broken(seed, lambda d: d.update(priority="asap"))
    )
    assert response.json() == {
        "valid": False,
        "errors": [
            {
                "path": "priority",
                "message": "priority must be one of low, normal, high, critical (got 'asap')",
            }
        ],
        "warnings": [],
    }
    assert Task.objects.count() == 0
    reserved = post_json(api_client, TASKS, broken(seed, lambda d: d.update(taskId="validate")))
    assert reserved.json()["errors"] == [
        {"path": "taskId", "message": "taskId 'validate' is reserved; choose another"}
    ]


def test_the_seed_is_accepted_on_a_fresh_install_and_runs_once_its_secret_exists(
    api_client, seed_kinds, seed_text, seed
):
    """No secret stored yet: saving works with a warning, a run is refused
    with a clear 409 (nothing saved), and runs once the secret is added."""
    from orchestration.models import Secret

    response = api_client.post(TASKS, data=seed_text.encode("utf-8"), content_type="application/json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert [w["path"] for w in body.pop("warnings")] == ["notificationChannels[1].config.headers.Authorization"]
    assert body == seed
    assert "warnings" not in api_client.get(f"{TASKS}weibo-complete-monitoring-task/definition/").json()

    # sending the response back (warnings included) is a valid update
    again = api_client.put(f"{TASKS}weibo-complete-monitoring-task/", response.json(), format="json")
    assert again.status_code == 200, again.content
    assert "warnings" not in Task.objects.get().extra

    validated = api_client.post(f"{TASKS}validate/", seed, format="json").json()
    assert validated["valid"] is True and len(validated["warnings"]) == 1

    refused = api_client.post(f"{TASKS}weibo-complete-monitoring-task/execute/", {}, format="json")
    assert refused.status_code == 409
    message = refused.json()["errors"][0]["message"]
    assert "webhookToken" in message and "does not exist" in message
    assert not Execution.objects.exists()

    Secret.objects.create(name="webhookToken", value="a-long-enough-token")
    started = api_client.post(f"{TASKS}weibo-complete-monitoring-task/execute/", {}, format="json")
    assert started.status_code == 202, started.content
    assert Execution.objects.count() == 1
    saved = api_client.put(f"{TASKS}weibo-complete-monitoring-task/", seed, format="json")
    assert "warnings" not in saved.json()
