"""No input gives a 5xx (issue 16, point 6): each kind schemathesis found gets
a JSON 400 naming the field, and errors outside the API views are JSON too.
Runs against the project's full URL configuration (every app's API)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from orchestration.models import Execution, Task

pytestmark = pytest.mark.django_db

DEFINITION = {
    "taskId": "guarded",
    "name": "Guarded",
    "workflows": [{"id": "first", "workflow": "echo", "config": {"output": {"text": "hi"}}}],
}


def post_json(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def error_paths(response) -> list[str]:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    return [error["path"] for error in response.json()["errors"]]


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/templates/?search=a%00b", "search"),
        ("/api/v1/deliveries/?status=a%00b", "status"),
        ("/api/v1/alerts/?rule=a%00b", "rule"),
        ("/api/v1/alerts/?status=%00", "status"),
        ("/api/v1/events/?type=x%00", "type"),
        ("/api/v1/channels/?type=x%00", "type"),
        ("/api/v1/tasks/?search=a%00b", "search"),
        ("/api/v1/executions/?task=a%00b", "task"),
        ("/api/v1/schedules/?taskId=a%00", "taskId"),
    ],
)
def test_a_nul_in_a_query_parameter_is_a_400_naming_it(api_client, url, field):
    response = api_client.get(url)
    assert response.status_code == 400
    assert error_paths(response) == [field]
    assert "NUL" in response.json()["errors"][0]["message"]


def test_a_nul_in_the_url_path_is_a_400(api_client):
    response = api_client.get("/api/v1/tasks/a%00b/")
    assert response.status_code == 400 and error_paths(response) == ["path"]


def test_a_nul_in_a_page_query_parameter_is_refused_too(admin_user):
    client = Client()
    client.force_login(admin_user)
    assert client.get("/tasks/?search=a%00b").status_code == 400


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"tags": ["ok", "a\u0000b"]}, "tags[1]"),
        ({"description": "before\u0000after"}, "description"),
        ({"parameters": {"k\u0000": "v"}}, "parameters.k\\u0000"),
    ],
)
def test_a_nul_in_a_json_body_is_a_400_naming_the_field_and_nothing_is_saved(
    api_client, overrides, path
):
    response = post_json(api_client, "/api/v1/tasks/", {**DEFINITION, **overrides})
    assert response.status_code == 400
    assert error_paths(response) == [path]
    assert Task.objects.count() == 0


def test_a_nul_in_the_execute_input_is_a_400_and_no_execution_starts(api_client):
    assert post_json(api_client, "/api/v1/tasks/", DEFINITION).status_code == 201
    response = post_json(
        api_client, "/api/v1/tasks/guarded/execute/", {"input": {"text": "a\u0000b"}}
    )
    assert response.status_code == 400 and error_paths(response) == ["input.text"]
    assert Execution.objects.count() == 0


def test_a_nul_in_a_form_body_is_a_400(api_client):
    response = api_client.post("/api/v1/secrets/", {"name": "tok\x00en", "value": "long-enough-value"})
    assert response.status_code == 400 and error_paths(response) == ["name"]


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/deliveries/13/?alert=false", "alert"),
        ("/api/v1/deliveries/?channel=x", "channel"),
        ("/api/v1/deliveries/?alert=99999999999999999999999", "alert"),
        ("/api/v1/events/?execution=99999999999999999999999", "execution"),
        ("/api/v1/tasks/?page=false", "page"),
        ("/api/v1/secrets/?page=-3", "page"),
    ],
)
def test_a_non_integer_id_or_page_is_a_400_naming_it(api_client, url, field):
    response = api_client.get(url)
    assert response.status_code == 400
    assert error_paths(response) == [field]


def test_a_page_past_the_last_stays_a_json_404(api_client):
    response = api_client.get("/api/v1/tasks/?page=7")
    assert response.status_code == 404 and error_paths(response) == [""]


def test_options_works_on_views_without_a_serializer(api_client):
    for url in ("/api/v1/templates/", "/api/v1/workflows/", "/api/v1/tasks/"):
        response = api_client.options(url)
        assert response.status_code == 200, url
        assert response.json()["name"]


def test_an_api_path_no_route_matches_is_a_json_404(api_client):
    response = api_client.post("/api/v1/executions/-3.8e-27/cancel/")
    assert response.status_code == 404
    assert error_paths(response) == [""]
    assert Client().get("/no-such-page/")["Content-Type"].startswith("text/html")


@pytest.fixture
def crashing_urls(settings):
    settings.ROOT_URLCONF = "tests.support.crash_urls"


def test_an_unexpected_error_is_a_json_500_that_leaks_nothing(crashing_urls, admin_user):
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    response = client.get("/api/v1/crash/")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert error_paths(response) == [""] and "secret detail" not in json.dumps(body)


def test_an_unexpected_error_still_reaches_the_test_client(crashing_urls, admin_user):
    client = Client()
    client.force_login(admin_user)
    with pytest.raises(RuntimeError, match="secret detail"):
        client.get("/api/v1/crash/")


# --- Deep nesting and lone surrogates (breaker1 review) ---------------------
NESTED = b"[" * 50000 + b"]" * 50000
LONE_SURROGATE_TASK = (
    b'{"taskId":"surr","name":"\\ud800","workflows":[{"id":"a","workflow":"echo",'
    b'"config":{"output":{}}}]}'
)


@pytest.fixture
def webhook_url(admin_user):
    from orchestration import services
    from scheduling import services as scheduling

    task = services.task_create(definition=DEFINITION)
    schedule = scheduling.schedule_create(task=task, block={"type": "manual", "trigger": "webhook"})
    return f"/hooks/{schedule.new_webhook_token}/"


def json_client(admin_user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    return client


@pytest.mark.parametrize(
    "url", ["/api/v1/schedules/events/", "/api/v1/tasks/guarded/execute/", "/api/v1/tasks/validate/", "/api/v1/tasks/"]
)
def test_a_json_body_nested_too_deeply_is_a_400(admin_user, url):
    client = json_client(admin_user)
    assert post_json(client, "/api/v1/tasks/", DEFINITION).status_code == 201
    body = b'{"type":"ok","data":{"a":' + NESTED + b"}}"
    response = client.post(url, body, content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["errors"][0]["message"]
    assert Execution.objects.count() == 0


def test_a_webhook_body_nested_too_deeply_is_a_400_and_nothing_fires(webhook_url):
    from scheduling.models import Fire

    response = Client(raise_request_exception=False).post(webhook_url, NESTED, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"path": "body", "message": "the JSON document is nested too deeply (more than 64 levels of arrays and objects)"}
    ]
    assert not Fire.objects.exists()


def test_nesting_up_to_the_limit_is_accepted(api_client):
    assert post_json(api_client, "/api/v1/tasks/", DEFINITION).status_code == 201
    deep = {"text": "x"}
    for _ in range(62):  # input + text's object + 62 wrappers: 64 levels
        deep = {"d": deep}
    response = post_json(api_client, "/api/v1/tasks/guarded/execute/", {"input": deep})
    assert response.status_code in (200, 201, 202), response.content[:300]


@pytest.mark.parametrize(
    ("url", "body", "path"),
    [
        ("/api/v1/tasks/", LONE_SURROGATE_TASK, "name"),
        ("/api/v1/tasks/validate/", LONE_SURROGATE_TASK, "name"),
        ("/api/v1/schedules/events/", b'{"type":"ok","data":{"k":["x","\\udc00"]}}', "data.k[1]"),
        ("/api/v1/tasks/", b'{"taskId":"surr","name":"n","tags":["\\ud800x"],"workflows":[]}', "tags[0]"),
    ],
)
def test_a_lone_surrogate_in_a_json_body_is_a_400_naming_the_field(admin_user, url, body, path):
    response = json_client(admin_user).post(url, body, content_type="application/json")
    assert response.status_code == 400
    assert error_paths(response) == [path]
    assert "lone surrogate" in response.json()["errors"][0]["message"]
    assert Task.objects.count() == 0


def test_a_lone_surrogate_in_a_webhook_body_is_a_400_and_leaks_no_database_error(webhook_url):
    from scheduling.models import Fire

    response = Client(raise_request_exception=False).post(
        webhook_url, b'{"text":"\\ud800"}', content_type="application/json"
    )
    assert response.status_code == 400
    assert error_paths(response) == ["body.text"]
    assert not Fire.objects.exists()


def test_a_database_error_at_fire_time_is_not_shown_in_the_fire_detail(webhook_url, monkeypatch):
    from django.db import DataError

    from scheduling import firing

    def refuse(*_args, **_kwargs):
        raise DataError('invalid input syntax for type json LINE 1: INSERT INTO "orchestration_execution"')

    monkeypatch.setattr(firing, "_start_execution", refuse)
    response = Client(raise_request_exception=False).post(webhook_url, b"{}", content_type="application/json")
    assert response.status_code == 202
    detail = response.json()["detail"]
    assert "LINE 1" not in detail and "INSERT" not in detail and "json" not in detail
    assert "database" in detail


# Every filter, path id and page the breaker1 review found answering 500
# (NUL bytes, non-integer delivery filters): each stays a 4xx.
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/templates/?category=a%00b",
        "/api/v1/templates/?tag=a%00b",
        "/api/v1/schedules/?type=a%00b",
        "/api/v1/events/?task=a%00b",
        "/api/v1/metrics/summary/?task=a%00b",
        "/api/v1/metrics/series/?task=a%00b",
        "/api/v1/resources/history/?host=a%00b",
        "/api/v1/alerts/?task=a%00b",
        "/api/v1/templates/x/diff/?to=a%00b",
        "/api/v1/tasks/%00/definition/",
        "/api/v1/secrets/%00/",
        "/api/v1/browser-sessions/%00/",
        "/api/v1/templates/x/versions/%00/",
        "/schedules/?status=%00",
        "/templates/?q=%00",
        "/files/%00",
        "/tasks/%00/",
        "/tasks/%00/edit/",
        "/tasks/%00/export/",
        "/tasks/%00/live/",
        "/api/v1/deliveries/?alert=abc",
        "/api/v1/deliveries/?alert=1.5",
        "/api/v1/deliveries/?alert=true",
        "/api/v1/deliveries/?alert=%20",
        "/api/v1/deliveries/1/?channel=1.5",
    ],
)
def test_odd_filters_path_ids_and_pages_are_a_4xx(admin_user, url):
    response = json_client(admin_user).get(url)
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:200])


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/v1/tasks/", {**DEFINITION, "name": "a\u0000"}),
        ("/api/v1/tasks/", {**DEFINITION, "workflows": [{"id": "a", "workflow": "echo", "config": {"output": {"x": "\u0000"}}}]}),
        ("/api/v1/browser-sessions/", {"site": "a\u0000"}),
    ],
)
def test_a_nul_in_other_json_bodies_is_a_400(admin_user, url, body):
    assert post_json(json_client(admin_user), url, body).status_code == 400
