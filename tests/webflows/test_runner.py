from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from orchestration import registry
from orchestration.context import NodeError
from orchestration.models import Secret
from tests.webflows.conftest import closed_port
from webflows.models import BrowserSession
from webflows.services import step_workflow_create

LOGIN_CHECK = {"urlPattern": "/sandbox/login/", "selector": "form#login-form"}


def _run(name: str, config: dict, make_context, node_id: str = "steps", input=None) -> dict:
    kind = registry.get(name)
    return kind.run(config, input, make_context(node_id))


def test_an_http_workflow_extracts_calls_an_api_and_saves_files(sandbox, make_context, media_root):
    step_workflow_create(
        definition={
            "name": "news-digest",
            "description": "Headlines, pictures and widget data from the sandbox",
            "inputSchema": {
                "type": "object",
                "properties": {"site": {"type": "string"}, "limit": {"type": "integer", "default": 2}},
                "required": ["site"],
            },
            "steps": [
                {"op": "goto", "id": "page", "url": "${site}/news/"},
                {"op": "extract", "id": "headlines", "selector": "li.headline a", "all": True},
                {"op": "extract", "id": "links", "selector": "ul.headlines", "type": "links"},
                {"op": "extract", "id": "pictures", "selector": "#news", "type": "images"},
                {"op": "extract", "id": "banner", "selector": "img.banner", "type": "attribute", "attribute": "alt"},
                {"op": "download", "id": "files", "urls": "${pictures.values}", "contentTypes": ["image/png"]},
                {"op": "http_request", "id": "api", "url": "${site}/app/items.json"},
                {"op": "save", "filename": "headlines.json", "data": {"title": "${page.title}", "items": "${headlines.values}"}},
                {"op": "save", "filename": "widgets.csv", "data": "${api.json.items}"},
            ],
        }
    )
    kind = registry.get("news-digest")
    assert kind.needs_browser is False
    output = _run("news-digest", {"site": sandbox}, make_context)
    results = output["results"]
    assert results["page"]["title"] == "News · WebAuto sandbox"
    assert results["headlines"]["values"][0] == "Welcome to the WebAuto sandbox"
    assert results["links"]["count"] == 3 and results["links"]["values"][0]["url"] == f"{sandbox}/news/welcome/"
    assert results["banner"]["value"] == "banner revision 0"
    assert results["files"]["count"] == 3
    folder = Path(output["folder"])
    saved = json.loads((folder / "headlines.json").read_text())
    assert saved["items"] == results["headlines"]["values"]
    rows = list(csv.DictReader((folder / "widgets.csv").open()))
    assert rows[0] == {"id": "1", "name": "Widget 1", "price": "10"}
    assert {f["name"] for f in output["files"]} >= {"headlines.json", "widgets.csv", "banner.png"}


def test_input_is_validated_against_the_workflow_schema(make_context):
    step_workflow_create(
        definition={
            "name": "needs-site",
            "inputSchema": {"type": "object", "properties": {"site": {"type": "string"}}, "required": ["site"]},
            "steps": [{"op": "goto", "url": "${site}"}],
        }
    )
    with pytest.raises(NodeError, match="workflow input is invalid: \\(input\\): 'site' is a required property"):
        _run("needs-site", {}, make_context)


def test_an_expired_session_fails_clearly_instead_of_scraping_the_login_page(sandbox, make_context):
    step_workflow_create(
        definition={
            "name": "members-list",
            "session": {"site": "sandbox-members"},
            "loginCheck": LOGIN_CHECK,
            "steps": [
                {"op": "goto", "url": f"{sandbox}/members/"},
                {"op": "extract", "selector": "li.file a", "all": True},
            ],
        }
    )
    with pytest.raises(NodeError, match="step 1 \\(goto\\) failed on url .*session expired") as caught:
        _run("members-list", {}, make_context)
    assert caught.value.retryable is False
    assert "sandbox-members" in str(caught.value)


def test_step_errors_name_the_step_operation_and_selector(sandbox, make_context):
    step_workflow_create(
        definition={
            "name": "bad-extract",
            "steps": [
                {"op": "goto", "url": f"{sandbox}/news/"},
                {"op": "extract", "id": "nothing", "selector": "ul.none li"},
            ],
        }
    )
    with pytest.raises(NodeError, match="step 2 \\(extract nothing\\) failed on selector 'ul.none li': no element matches"):
        _run("bad-extract", {}, make_context)


def test_a_404_page_names_the_url(sandbox, make_context):
    step_workflow_create(definition={"name": "missing-page", "steps": [{"op": "goto", "url": f"{sandbox}/gone/"}]})
    with pytest.raises(NodeError, match=f"step 1 \\(goto\\) failed on url '{sandbox}/gone/': HTTP 404"):
        _run("missing-page", {}, make_context)


def login_workflow(sandbox: str, name: str = "members-files") -> dict:
    return {
        "name": name,
        "description": "Sign in to the sandbox, list the member files and download them",
        "inputSchema": {"type": "object", "properties": {"username": {"type": "string"}}, "required": ["username"]},
        "session": {"site": "sandbox-browser", "save": True},
        "steps": [
            {"op": "goto", "id": "start", "url": f"{sandbox}/members/", "checkLogin": False},
            {"op": "fill", "selector": "#username", "value": "${username}"},
            {"op": "fill", "selector": "#password", "value": "${sandboxPassword}"},
            {"op": "click", "selector": "#sign-in"},
            {"op": "wait_for", "url": "**/sandbox/members/"},
            {"op": "extract", "id": "member", "selector": "#member"},
            {"op": "extract", "id": "files", "selector": "#files", "type": "links"},
            {"op": "download", "id": "got", "urls": "${files.values}", "contentTypes": ["image/png", "text/csv"]},
            {"op": "scroll", "times": 2, "pixels": 300, "pauseMs": 10},
            {"op": "screenshot", "filename": "members.png", "fullPage": True},
            {"op": "save", "filename": "files.csv", "data": "${files.values}"},
        ],
    }


@pytest.mark.browser
def test_a_browser_workflow_logs_in_navigates_extracts_and_downloads(sandbox, make_context):
    Secret.objects.create(name="sandboxPassword", value="demo-password")
    step_workflow_create(definition=login_workflow(sandbox))
    assert registry.get("members-files").needs_browser is True

    output = _run("members-files", {"username": "demo"}, make_context)
    results = output["results"]
    assert results["member"]["value"] == "demo"
    assert [link["text"] for link in results["files"]["values"]] == ["Member photo 1", "Member photo 2", "Monthly report"]
    downloaded = {f["name"]: f for f in results["got"]["files"]}
    assert set(downloaded) == {"photo-1.png", "photo-2.png", "report.csv"}
    folder = Path(output["folder"])
    assert (folder / "photo-1.png").read_bytes().startswith(b"\x89PNG")
    assert (folder / "report.csv").read_text().startswith("month,visits")
    assert (folder / "members.png").read_bytes().startswith(b"\x89PNG")
    # The password came from the secrets store and shows nowhere in the output.
    assert "demo-password" not in json.dumps(output)
    # The session cookie was captured for later runs...
    session = BrowserSession.objects.get(site="sandbox-browser")
    assert "sandbox_member" in session.cookie_names and session.source == "captured"

    # ...and a later workflow reuses it without signing in, behind a login check.
    step_workflow_create(
        definition={
            "name": "members-again",
            "session": {"site": "sandbox-browser"},
            "loginCheck": LOGIN_CHECK,
            "browser": True,
            "steps": [
                {"op": "goto", "url": f"{sandbox}/members/"},
                {"op": "extract", "id": "names", "selector": "li.file", "all": True},
            ],
        }
    )
    again = _run("members-again", {}, make_context, node_id="again")
    assert again["results"]["names"]["count"] == 3

    # Once the cookies are gone the same workflow fails with "session expired".
    BrowserSession.objects.filter(site="sandbox-browser").update(cookies=[])
    with pytest.raises(NodeError, match="session expired"):
        _run("members-again", {}, make_context, node_id="again")


@pytest.mark.browser
def test_a_failing_browser_step_keeps_a_screenshot(sandbox, make_context, media_root):
    step_workflow_create(
        definition={
            "name": "bad-click",
            "steps": [
                {"op": "goto", "url": f"{sandbox}/news/"},
                {"op": "click", "selector": "#does-not-exist", "timeout": 1},
            ],
        }
    )
    with pytest.raises(NodeError) as caught:
        _run("bad-click", {}, make_context)
    message = str(caught.value)
    assert message.startswith("step 2 (click) failed on selector '#does-not-exist': timed out after 1s")
    relative = message.split("(screenshot: ")[1].rstrip(")")
    assert not Path(relative).is_absolute()  # no server path in the error; relative to MEDIA_ROOT
    shot = media_root / relative
    assert shot.exists() and shot.read_bytes().startswith(b"\x89PNG")


@pytest.mark.browser
def test_a_bad_selector_and_a_wait_timeout_are_clear(sandbox, make_context):
    step_workflow_create(
        definition={
            "name": "bad-selector",
            "steps": [{"op": "goto", "url": f"{sandbox}/app/"}, {"op": "click", "selector": "a[[["}],
        }
    )
    with pytest.raises(NodeError, match="step 2 \\(click\\) failed on selector 'a\\[\\[\\[': invalid selector"):
        _run("bad-selector", {}, make_context)
    step_workflow_create(
        definition={
            "name": "wait-too-long",
            "steps": [
                {"op": "goto", "url": f"{sandbox}/app/"},
                {"op": "wait_for", "selector": "#never", "timeout": 0.5},
            ],
        }
    )
    with pytest.raises(NodeError, match="step 2 \\(wait_for\\) failed on selector '#never': timed out after 0.5s"):
        _run("wait-too-long", {}, make_context)


@pytest.mark.browser
def test_an_unreachable_site_fails_the_goto_step(make_context):
    url = f"http://127.0.0.1:{closed_port()}/"
    step_workflow_create(definition={"name": "nowhere", "browser": True, "steps": [{"op": "goto", "url": url}]})
    with pytest.raises(NodeError, match=f"step 1 \\(goto\\) failed on url '{url}': cannot load .*ERR_CONNECTION_REFUSED"):
        _run("nowhere", {}, make_context)
