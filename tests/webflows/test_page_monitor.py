from __future__ import annotations

import pytest

from orchestration.context import NodeError
from webflows.kinds import page_monitor
from webflows.sandbox.state import sandbox_advance


def test_first_run_then_no_change_then_a_change(sandbox, make_context):
    config = {"url": f"{sandbox}/news/", "selector": "#news", "itemSelector": "li.headline"}
    first = page_monitor.run(config, None, make_context("watch"))
    assert first["firstRun"] and first["hasChanges"] and first["changeRatio"] == 1.0
    assert first["items"] == ["Welcome to the WebAuto sandbox", "Release notes, edition 1", "Sunny in Hangzhou today"]
    assert {link["url"] for link in first["links"]} >= {f"{sandbox}/news/welcome/"}
    assert any(m["url"].startswith(f"{sandbox}/images/banner.png") for m in first["media"])

    same = page_monitor.run(config, None, make_context("watch"))
    assert same["hasChanges"] is False and same["changeRatio"] == 0.0 and same["added"] == same["removed"] == []

    sandbox_advance()
    changed = page_monitor.run(config, None, make_context("watch"))
    assert changed["hasChanges"] is True and 0 < changed["changeRatio"] < 1
    assert changed["added"] == ["Sandbox update number 1"]
    assert changed["removed"] == []
    assert [m["url"] for m in changed["newMedia"]] == [f"{sandbox}/images/banner.png?r=1"]


def test_a_threshold_hides_small_changes(sandbox, make_context):
    config = {"url": f"{sandbox}/news/", "itemSelector": "li.headline", "changeThreshold": 0.9}
    page_monitor.run(config, None, make_context("watch"))
    sandbox_advance()
    second = page_monitor.run(config, None, make_context("watch"))
    assert second["changeRatio"] > 0 and second["hasChanges"] is False


def test_snapshots_are_per_task_node(sandbox, make_context):
    config = {"targetUrl": f"{sandbox}/news/"}
    page_monitor.run(config, None, make_context("a"))
    other = page_monitor.run(config, None, make_context("b"))
    assert other["firstRun"] is True


def test_page_errors_are_clear_and_keep_the_old_snapshot(sandbox, make_context):
    cases = [
        ("/news/", {"selector": "div[["}, "invalid CSS selector 'div[['"),
        ("/news/", {"selector": "#missing"}, "no element matches selector '#missing'"),
        ("/nothing-here/", {}, "HTTP 404 Not Found"),
    ]
    for path, extra, message in cases:
        context = make_context("watch")
        with pytest.raises(NodeError) as caught:
            page_monitor.run({"url": f"{sandbox}{path}", **extra}, None, context)
        assert message in str(caught.value), (path, str(caught.value))
        assert context.state_get("snapshot") is None


def test_an_unreachable_host_is_a_clear_error(make_context):
    with pytest.raises(NodeError, match="cannot reach host 127.0.0.1:9"):
        page_monitor.run({"url": "http://127.0.0.1:9/", "timeout": 2}, None, make_context())


def test_http_mode_does_not_see_javascript_content(sandbox, make_context):
    output = page_monitor.run({"url": f"{sandbox}/app/", "selector": "#app"}, None, make_context())
    assert output["items"] == ["Loading…"]


@pytest.mark.browser
def test_browser_mode_renders_javascript_pages(sandbox, make_context):
    config = {"url": f"{sandbox}/app/", "mode": "browser", "waitFor": "#widgets", "itemSelector": "li.widget"}
    first = page_monitor.run(config, None, make_context("js"))
    assert first["items"] == ["Widget 1 costs 10", "Widget 2 costs 20", "Widget 3 costs 30"]
    sandbox_advance()
    second = page_monitor.run(config, None, make_context("js"))
    assert second["hasChanges"] and "Widget 4 costs 41" in second["added"]


def test_a_stored_session_lets_it_watch_a_page_behind_a_login(sandbox, make_context):
    from urllib.parse import urlsplit

    import httpx

    from webflows.services import browser_session_import

    login = httpx.post(f"{sandbox}/login/", data={"username": "demo", "password": "demo-password"})
    cookie = {"name": "sandbox_member", "value": login.cookies["sandbox_member"], "domain": urlsplit(sandbox).hostname}
    browser_session_import(site="sandbox-members", cookies=[cookie])
    output = page_monitor.run(
        {"url": f"{sandbox}/members/", "session": "sandbox-members", "itemSelector": "li.file"}, None, make_context()
    )
    assert output["items"] == ["Member photo 1", "Member photo 2", "Monthly report"]
