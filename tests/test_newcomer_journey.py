"""Issue 14's "done when": a newcomer's first hour, in headless Chromium, on
the quick-start stack (``manage.py quickstart``: SQLite, the file-system
broker, web + worker + beat as subprocesses, email to the local outbox).

Log in; run each shipped demo and see every node completed; instantiate the
predefined templates that send email and run them; read the email in the
Outbox page; see a failed node counted on the dashboard."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.conftest import wait_for
from tests.test_quickstart_smoke import embedded_env, free_port

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.browser]

PASSWORD = "smoke-test-pw"  # embedded_env's WEBAUTO_ADMIN_PASSWORD
FINAL = ("completed", "completed_with_errors", "failed", "cancelled", "timed_out")
DEMOS = ("sandbox-weibo-demo", "sandbox-news-demo")
# How often each demo runs (the issue asks for three; the news demo's later
# runs reuse the browser session its first run saved).
DEMO_RUNS = 3
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[str]:
    """The quick start, served on a free port; yields its base URL."""
    port = free_port()
    log_path = tmp_path / "quickstart.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "quickstart", "--port", str(port), "--concurrency", "2"],
            cwd=ROOT, env=embedded_env(tmp_path / "var"), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"

        def web_up() -> bool:
            try:
                with urllib.request.urlopen(f"{base}/accounts/login/", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        try:
            wait_for(web_up, timeout=120, interval=0.5)
            yield base
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, log_path.read_text()[-3000:]


@pytest.fixture
def page(stack: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Page]:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        page = context.new_page()
        page.set_default_timeout(20_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            yield page
        finally:
            browser.close()
        assert errors == [], errors


def _origin(page: Page) -> str:
    scheme, _, host = page.url.split("/", 3)[:3]
    return f"{scheme}//{host}"


def _api(page: Page, path: str) -> Any:
    """GET an API path with the browser's session."""
    response = page.request.get(_origin(page) + path)
    assert response.ok, (path, response.status)
    return response.json()


def _finished(page: Page, execution_id: int) -> dict[str, Any]:
    """Wait on the execution page (it polls) until the run is final; return
    the run as the API shows it."""
    page.goto(_origin(page) + f"/executions/{execution_id}/")
    status = page.locator("#execution-status")
    expect(status).to_have_attribute("data-status", re.compile("|".join(FINAL)), timeout=240_000)
    return dict(_api(page, f"/api/v1/executions/{execution_id}/"))


def _run_from_task_list(page: Page, task_id: str) -> int:
    page.goto(_origin(page) + f"/tasks/?q={task_id}")
    row = page.locator("tr.task-row", has_text=task_id)
    row.get_by_role("button", name=re.compile("Run now")).click()
    started = page.locator("tr.task-row", has_text=task_id).locator("a.started-run")
    href = started.get_attribute("href") or ""
    return int(href.strip("/").split("/")[-1])


def _nodes(run: dict[str, Any]) -> dict[str, str]:
    return {n["nodeId"]: n["status"] for n in run["nodes"]}


@pytest.mark.timeout(900)  # a whole stack and a dozen runs on a shared CI machine
def test_a_newcomer_s_first_hour(page: Page, stack: str) -> None:
    # Log in with the admin login the quick start created.
    page.goto(stack + "/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Dashboard")

    # The Workflows page says a browser is there (the news demo needs it).
    page.goto(stack + "/workflows/")
    expect(page.locator("#browser-status")).to_contain_text("browser nodes can run")

    # Each shipped demo runs with every node completed; between runs the
    # sandbox changes, so the conditional download nodes run every time.
    for round_number in range(DEMO_RUNS):
        if round_number:
            advanced = page.request.post(stack + "/api/v1/sandbox/advance/", headers={"X-CSRFToken": _csrf(page)})
            assert advanced.ok, advanced.status
        for task_id in DEMOS:
            run = _finished(page, _run_from_task_list(page, task_id))
            assert run["status"] == "completed", (task_id, round_number, run.get("error"), _nodes(run))
            assert set(_nodes(run).values()) == {"completed"}, (task_id, round_number, _nodes(run))

    # Instantiate the predefined templates that send email, and run them.
    templates = {
        "page-report-notification-template": {"param-url": f"{stack}/sandbox/news/",
                                              "param-recipient": "newcomer@example.com",
                                              "param-subject": "Newcomer's news report"},
        "website-change-monitor-template": {"param-url": f"{stack}/sandbox/news/",
                                            "param-recipient": "watcher@example.com"},
    }
    for template_id, fields in templates.items():
        page.goto(f"{stack}/templates/{template_id}/use/")
        task_id = f"newcomer-{template_id.split('-')[0]}"
        page.fill("input[name=task_id]", task_id)
        for name, value in fields.items():
            page.fill(f"[name={name}]", value)
        page.click("button:has-text('Create task')")
        page.wait_for_url(re.compile(rf".*/tasks/{task_id}/$"))
        page.get_by_role("button", name=re.compile("Run now")).first.click()
        page.wait_for_url(re.compile(r".*/executions/\d+/$"))
        run = _finished(page, int(page.url.rstrip("/").split("/")[-1]))
        assert run["status"] == "completed", (template_id, run.get("error"), _nodes(run))
        assert "failed" not in _nodes(run).values(), _nodes(run)

    # The email is in the outbox, readable in the UI.
    page.goto(stack + "/outbox/")
    report = page.get_by_role("link", name="Newcomer's news report")
    expect(report).to_be_visible()
    expect(page.locator("table")).to_contain_text("watcher@example.com")
    report.click()
    expect(page.locator("dl.outbox-headers")).to_contain_text("newcomer@example.com")
    expect(page.locator("pre.outbox-body")).not_to_be_empty()

    # A node that fails is counted on the dashboard.
    token = _csrf(page)
    created = page.request.post(stack + "/api/v1/tasks/", headers={"X-CSRFToken": token}, data={
        "taskId": "newcomer-broken", "name": "Broken page",
        "errorHandling": {"strategy": "continue-on-error"},
        "workflows": [
            {"id": "fine", "workflow": "echo", "config": {}},
            {"id": "missing-page", "workflow": "page-monitor",
             "config": {"url": f"{stack}/sandbox/no-such-page/"}, "execution": {"retryAttempts": 0}},
        ],
    }, fail_on_status_code=True)
    assert created.status == 201
    run = _finished(page, _run_from_task_list(page, "newcomer-broken"))
    assert run["status"] == "completed_with_errors" and _nodes(run)["missing-page"] == "failed", _nodes(run)
    page.goto(stack + "/")
    assert int(page.locator("#node-failures").inner_text()) >= 1
    assert int(page.locator("#runs-with-errors").inner_text()) >= 1
    expect(page.locator("#failures")).to_contain_text("missing-page")


def _csrf(page: Page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
