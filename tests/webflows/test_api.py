from __future__ import annotations

import io
import json
import struct
import zlib

import jsonschema
import pytest
from django.core.management import CommandError, call_command

from orchestration import registry
from webflows.models import BrowserSession, Workflow

pytestmark = pytest.mark.django_db

SIMPLE = {
    "name": "simple-page",
    "version": "1.2.0",
    "description": "Reads a title",
    "inputSchema": {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]},
    "steps": [{"op": "goto", "id": "page", "url": "${url}"}, {"op": "extract", "selector": "h1"}],
}


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("weibo-content-monitoring-workflow", {"targetUrl": "https://weibo.com/1671109627", "changeThreshold": 0.1}),
        ("weibo-content-monitoring-workflow", {"targetUrl": "https://weibo.com/1671109627"}),
        ("weibo-batch-download-workflow", {"maxPosts": 100, "mediaQuality": "original", "includeComments": True}),
        ("weibo-batch-download-workflow", {"maxPosts": 50, "mediaQuality": "original"}),
        ("content-analysis-workflow", {"analysisType": "comprehensive", "generateSummary": True}),
        ("page-monitor", {"url": "https://example.com/", "selector": "main", "mode": "browser"}),
    ],
)
def test_the_seed_names_resolve_and_accept_the_seed_configs(name, config):
    kind = registry.get(name)
    jsonschema.Draft202012Validator(kind.config_schema).validate(config)


def test_bad_configs_are_refused_by_the_schemas():
    schema = registry.get("weibo-batch-download-workflow").config_schema
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors({"mediaQuality": "huge", "maxPosts": 0}))
    assert len(errors) == 2


def test_crud_by_name(api_client):
    created = api_client.post("/api/v1/workflows/", SIMPLE, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["needsBrowser"] is False and created.json()["inputSchema"]["required"] == ["url"]
    assert registry.get("simple-page").config_schema == SIMPLE["inputSchema"]

    listed = api_client.get("/api/v1/workflows/").json()
    assert [w["name"] for w in listed] == ["simple-page"]

    changed = api_client.patch(
        "/api/v1/workflows/simple-page/", {"steps": [*SIMPLE["steps"], {"op": "screenshot"}]}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["needsBrowser"] is True
    assert changed.json()["version"] == "1.2.0"

    replaced = api_client.put("/api/v1/workflows/simple-page/", {**SIMPLE, "version": "2.0.0"}, format="json")
    assert replaced.status_code == 200 and replaced.json()["version"] == "2.0.0"
    assert api_client.get("/api/v1/workflows/simple-page/").json()["steps"] == SIMPLE["steps"]

    assert api_client.delete("/api/v1/workflows/simple-page/").status_code == 204
    assert not registry.exists("simple-page")


def test_every_definition_problem_is_listed_with_its_path(api_client):
    bad = {
        "name": "Bad Name",
        "inputSchema": {"type": "nonsense"},
        "loginCheck": {"urlPattern": "(["},
        "extra": 1,
        "steps": [
            {"op": "goto"},
            {"op": "teleport"},
            {"op": "extract", "selector": "a", "type": "colour"},
            {"op": "save", "filename": "x.json", "data": "${later.values}"},
            {"op": "goto", "id": "later", "url": "http://x/"},
            {"op": "goto", "id": "later", "url": "http://y/"},
        ],
    }
    response = api_client.post("/api/v1/workflows/", bad, format="json")
    assert response.status_code == 400
    paths = {e["path"] for e in response.json()["errors"]}
    assert {"name", "extra", "inputSchema.type", "loginCheck.urlPattern", "steps[0]", "steps[1].op",
            "steps[2].type", "steps[3]", "steps[5].id"} <= paths
    assert not Workflow.objects.exists()


def test_a_duplicate_name_is_refused(api_client):
    api_client.post("/api/v1/workflows/", SIMPLE, format="json")
    response = api_client.post("/api/v1/workflows/", SIMPLE, format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["path"] == "name"


def test_the_api_needs_authentication(client):
    assert client.get("/api/v1/workflows/").status_code in (401, 403)
    assert client.post("/api/v1/sandbox/advance/").status_code in (401, 403)


def test_browser_sessions_are_imported_and_never_show_cookie_values(api_client):
    export = [
        {"name": "SUB", "value": "very-secret", "domain": ".weibo.cn", "path": "/", "expirationDate": 1999999999},
        {"name": "SUBP", "value": "also-secret", "domain": ".weibo.cn"},
    ]
    response = api_client.post("/api/v1/browser-sessions/", {"site": "weibo", "cookies": export}, format="json")
    assert response.status_code == 201
    assert response.json()["cookieNames"] == ["SUB", "SUBP"]
    assert "secret" not in json.dumps(api_client.get("/api/v1/browser-sessions/weibo/").json())
    stored = BrowserSession.objects.get(site="weibo")
    assert stored.cookies[0]["value"] == "very-secret" and stored.cookies[0]["expires"] == 1999999999

    header = api_client.post(
        "/api/v1/browser-sessions/", {"site": "h", "cookies": "a=1; b=2", "domain": "example.com"}, format="json"
    )
    assert header.json()["cookieNames"] == ["a", "b"]
    storage = api_client.post(
        "/api/v1/browser-sessions/", {"site": "s", "cookies": {"cookies": [{"name": "x", "value": "1"}]}}, format="json"
    )
    assert storage.status_code == 400 and storage.json()["errors"][0]["path"] == "cookies[0].domain"
    assert api_client.delete("/api/v1/browser-sessions/weibo/").status_code == 204


def test_sandbox_advance_and_reset(api_client):
    assert api_client.get("/api/v1/sandbox/").json()["revision"] == 0
    assert api_client.post("/api/v1/sandbox/advance/", {"steps": 2}, format="json").json()["revision"] == 2
    assert api_client.post("/api/v1/sandbox/advance/", {"steps": 0}, format="json").status_code == 400
    info = api_client.post("/api/v1/sandbox/reset/").json()
    assert info["revision"] == 0 and info["weiboApiBase"].endswith("/sandbox/weibo")


def test_import_workflow_command(tmp_path):
    file = tmp_path / "wf.json"
    file.write_text(json.dumps([SIMPLE, {**SIMPLE, "name": "second-page"}]))
    out = io.StringIO()
    call_command("import_workflow", str(file), stdout=out)
    assert "Created workflow simple-page v1.2.0 (2 steps)" in out.getvalue()
    call_command("import_workflow", str(file), stdout=out)
    assert "Updated workflow second-page" in out.getvalue()
    assert Workflow.objects.count() == 2

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "steps": []}))
    with pytest.raises(CommandError, match="steps: needs at least one step"):
        call_command("import_workflow", str(bad))


def test_workflow_pages_need_login_and_list_kinds_and_workflows(client, admin_user):
    assert client.get("/workflows/").status_code == 302
    Workflow.objects.create(name="simple-page", steps=SIMPLE["steps"])
    client.force_login(admin_user)
    page = client.get("/workflows/").content.decode()
    for text in ("weibo-timeline-monitor", "weibo-content-monitoring-workflow", "batch-download",
                 "content-analysis-workflow", "page-monitor", "simple-page", "http_request"):
        assert text in page
    detail = client.get("/workflows/simple-page/")
    assert detail.status_code == 200 and "extract" in detail.content.decode()


def test_admin_pages_and_the_sandbox_action(client, admin_user):
    from webflows.models import SandboxState
    from webflows.sandbox.state import sandbox_revision

    client.force_login(admin_user)
    Workflow.objects.create(name="simple-page", steps=SIMPLE["steps"])
    BrowserSession.objects.create(site="weibo", cookies=[{"name": "SUB", "value": "hidden-value"}])
    for url in ("/admin/webflows/workflow/", "/admin/webflows/browsersession/", "/admin/webflows/sandboxstate/"):
        assert client.get(url).status_code == 200
    session_page = client.get(f"/admin/webflows/browsersession/{BrowserSession.objects.get().pk}/change/")
    assert "hidden-value" not in session_page.content.decode()
    sandbox_revision()
    client.post(
        "/admin/webflows/sandboxstate/",
        {"action": "advance", "_selected_action": [SandboxState.objects.get().pk]},
    )
    assert sandbox_revision() == 1


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    # The image data decompresses to one filter byte plus RGB per pixel per row.
    idat_length = struct.unpack(">I", data[33:37])[0]
    raw = zlib.decompress(data[41 : 41 + idat_length])
    assert len(raw) == height * (1 + 3 * width)
    return width, height


def test_sandbox_images_are_real_pngs_and_the_banner_changes(client):
    from webflows.sandbox.state import sandbox_advance

    original = client.get("/sandbox/weibo/media/large/sbx0001p1.png")
    assert original["Content-Type"] == "image/png" and _png_size(original.content) == (160, 160)
    assert _png_size(client.get("/sandbox/weibo/media/thumbnail/sbx0001p1.png").content) == (24, 24)
    before = client.get("/sandbox/images/banner.png").content
    sandbox_advance()
    assert client.get("/sandbox/images/banner.png").content != before


def test_sandbox_feed_has_the_mobile_api_shape(client):
    info = client.get("/sandbox/weibo/api/container/getIndex", {"type": "uid", "value": "1671109627"}).json()
    assert info["ok"] == 1 and info["data"]["tabsInfo"]["tabs"][0]["containerid"] == "1076031671109627"
    timeline = client.get(
        "/sandbox/weibo/api/container/getIndex", {"containerid": "1076031671109627"}
    ).json()
    posts = [c["mblog"] for c in timeline["data"]["cards"] if c["card_type"] == 9]
    assert [p["id"] for p in posts] == ["4900000000000003", "4900000000000002", "4900000000000001"]
    assert posts[0]["created_at"].endswith("+0800 2026")


def test_sandbox_login_sets_a_cookie_and_members_need_it(client):
    assert client.get("/sandbox/members/").status_code == 302
    wrong = client.post("/sandbox/login/", {"username": "demo", "password": "nope"})
    assert wrong.status_code == 401 and "Wrong user name" in wrong.content.decode()
    ok = client.post("/sandbox/login/", {"username": "demo", "password": "demo-password", "next": "/sandbox/members/"})
    assert ok.status_code == 302 and ok["Location"] == "/sandbox/members/"
    assert "Monthly report" in client.get("/sandbox/members/").content.decode()
    assert client.get("/sandbox/members/files/report.csv").content.startswith(b"month,visits")
    evil = client.post("/sandbox/login/", {"username": "demo", "password": "demo-password", "next": "https://evil.example/"})
    assert evil["Location"] == "/sandbox/members/"


def test_load_demo_creates_the_demo_workflow_and_tasks_once():
    from orchestration.models import Task

    out = io.StringIO()
    call_command("load_demo", "--base-url", "http://127.0.0.1:8123", stdout=out)
    call_command("load_demo", "--base-url", "http://127.0.0.1:8123", stdout=out)
    assert Workflow.objects.get(name="sandbox-members-files").needs_browser
    task = Task.objects.get(task_id="sandbox-weibo-demo")
    assert task.parameters["targetUrl"] == "http://127.0.0.1:8123/sandbox/weibo/u/1671109627"
    assert Task.objects.filter(task_id="sandbox-news-demo").exists()
    assert "Demo task sandbox-weibo-demo exists already" in out.getvalue()


def test_the_admin_form_refuses_invalid_steps_with_their_paths(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        "/admin/webflows/workflow/add/",
        {
            "name": "from-admin",
            "version": "1.0.0",
            "description": "",
            "input_schema": "{}",
            "steps": json.dumps([{"op": "goto"}]),
            "login_check": "null",
            "session_site": "",
        },
    )
    assert response.status_code == 200
    assert "steps[0]: &#x27;url&#x27; is a required property" in response.content.decode()
    assert not Workflow.objects.exists()
    ok = client.post(
        "/admin/webflows/workflow/add/",
        {
            "name": "from-admin",
            "version": "1.0.0",
            "description": "",
            "input_schema": "{}",
            "steps": json.dumps([{"op": "goto", "url": "http://example.com/"}]),
            "login_check": "null",
            "session_site": "",
        },
    )
    assert ok.status_code == 302 and registry.exists("from-admin")
