"""Nodes load only http and https URLs: a page monitor in browser mode once
returned /etc/passwd for ``file:///etc/passwd``. Refused at validation where the
URL is literal, and at run time (HTTP client hook, browser request routing) for
URLs built from input, redirects and links."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orchestration import services
from orchestration.context import NodeError
from orchestration.models import Task
from orchestration.urlpolicy import URLNotAllowed, check_fetch_url, url_problems
from tests.support.http import send_html
from tests.webflows.test_seed_end_to_end import finished_execution, node_runs_by_id
from webflows import fetch
from webflows.drivers import BrowserDriver, HttpDriver
from webflows.kinds import page_monitor
from webflows.models import Workflow

PASSWD_MARK = "root:x:0:0"
REFUSED_URLS = [
    "file:///etc/passwd",
    "FILE:///etc/passwd",
    "data:text/html,<h1>hi</h1>",
    "chrome://version",
    "view-source:http://127.0.0.1/",
    "javascript:alert(1)",
    "ftp://127.0.0.1/x",
]


@pytest.fixture
def redirector() -> Iterator[str]:
    """A local server whose ``/to-file`` redirects to file:///etc/passwd and
    whose ``/link`` page links there."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/to-file":
                self.send_response(302)
                self.send_header("Location", "file:///etc/passwd")
                self.end_headers()
                return
            body = b'<html><body><a id="go" href="file:///etc/passwd">passwd</a></body></html>'
            send_html(self, body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_only_http_and_https_pass_the_run_time_check(url):
    with pytest.raises(URLNotAllowed, match="only http and https URLs may be loaded") as caught:
        check_fetch_url(url)
    assert caught.value.retryable is False


def test_http_https_and_blank_pass():
    for url in ("http://example.com/", "https://example.com/a?b=1", "about:blank"):
        assert check_fetch_url(url) == url


def test_literal_urls_are_judged_at_validation_and_references_are_left_for_run_time():
    config = {
        "url": "file:///etc/passwd",
        "targetUrl": "https://ok.example/",
        "nested": {"startUrl": "data:text/plain,x", "urls": ["http://ok/", "chrome://settings", {"src": "view-source:x"}]},
        "later": "${input.url}",
        "pattern": "file:///not-a-url-key",
    }
    problems = dict(url_problems(config, "nodes[0].config"))
    assert set(problems) == {
        "nodes[0].config.url",
        "nodes[0].config.nested.startUrl",
        "nodes[0].config.nested.urls[1]",
        "nodes[0].config.nested.urls[2].src",
    }
    assert "not file: URLs" in problems["nodes[0].config.url"]
    assert url_problems({"url": "${input.url}", "glob": {"url": "**/members/**"}}, "c") == []


def _task(url: str, mode: str = "browser") -> dict:
    return {
        "taskId": "reads-a-page",
        "name": "Reads a page",
        "workflows": [
            {"id": "watch", "workflow": "page-monitor", "config": {"url": url, "mode": mode}},
        ],
    }


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["file:///etc/passwd", "data:text/html,x", "chrome://version"])
def test_a_task_with_a_local_url_is_refused_with_its_path(api_client, url):
    response = api_client.post("/api/v1/tasks/", _task(url), format="json")
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert any(e["path"].endswith("config.url") and "only http and https" in e["message"] for e in errors)
    assert not Task.objects.exists()


@pytest.mark.django_db
def test_a_step_workflow_with_a_local_goto_is_refused(api_client):
    body = {
        "name": "reads-local",
        "steps": [{"op": "goto", "url": "file:///etc/passwd"}, {"op": "download", "urls": ["data:,x"]}],
    }
    response = api_client.post("/api/v1/workflows/", body, format="json")
    assert response.status_code == 400
    paths = {e["path"] for e in response.json()["errors"]}
    assert {"steps[0].url", "steps[1].urls[0]"} <= paths
    assert not Workflow.objects.exists()


def test_the_http_client_refuses_a_redirect_to_a_file(redirector):
    with fetch.make_client(timeout=5) as client, pytest.raises(URLNotAllowed, match="file"):
        fetch.get(client, f"{redirector}/to-file")


def test_the_http_driver_refuses_a_local_goto():
    driver = HttpDriver([])
    try:
        with pytest.raises(URLNotAllowed):
            driver.goto("file:///etc/passwd", timeout=5)
    finally:
        driver.close()


@pytest.mark.browser
def test_the_browser_refuses_local_urls_redirects_and_links(redirector):
    driver = BrowserDriver([])
    try:
        for url in ("file:///etc/passwd", "view-source:file:///etc/passwd", "data:text/html,<p>x</p>"):
            with pytest.raises(URLNotAllowed):
                driver.goto(url, timeout=10)
        with pytest.raises(NodeError):
            driver.goto(f"{redirector}/to-file", timeout=10)
        assert PASSWD_MARK not in (driver.html() or "")
        driver.goto(f"{redirector}/link", timeout=10)
        try:
            driver.click("#go", timeout=5)
        except NodeError:
            pass  # refused outright, or Chromium kept the page: either way no file
        assert driver.current_url().startswith(redirector)
        assert PASSWD_MARK not in (driver.html() or "")
    finally:
        driver.close()


@pytest.mark.browser
def test_private_addresses_are_refused_when_the_setting_is_on(settings, redirector, make_context):
    settings.WEBAUTO_BLOCK_PRIVATE_ADDRESSES = True
    for mode in ("http", "browser"):
        with pytest.raises(URLNotAllowed, match="private or loopback address 127.0.0.1"):
            page_monitor.run({"url": f"{redirector}/link", "mode": mode, "timeout": 10}, None, make_context(mode))
    settings.WEBAUTO_BLOCK_PRIVATE_ADDRESSES = False
    assert page_monitor.run({"url": f"{redirector}/link"}, None, make_context("off"))["itemCount"] == 1


@pytest.mark.integration
@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_browser_page_monitor_on_a_worker_cannot_read_local_files(celery_worker):
    task = services.task_create(
        definition={
            "taskId": "reads-input-url",
            "name": "Reads the URL it is given",
            "workflows": [
                {"id": "given", "workflow": "echo", "config": {}},
                {
                    "id": "watch",
                    "workflow": "page-monitor",
                    "dependsOn": ["given"],
                    "config": {"url": "${given.output.url}", "mode": "browser"},
                },
            ],
        }
    )
    execution = finished_execution(services.execution_create(task=task, input={"url": "file:///etc/passwd"}))
    node = node_runs_by_id(execution)["watch"]
    assert node.status == "failed"
    assert "only http and https URLs may be loaded" in node.error
    assert PASSWD_MARK not in str(node.output) and PASSWD_MARK not in node.error
