"""Issue 12 on a real worker against pages this test serves: encodings, empty
fetches, binary content, frames, Chinese keywords and integer parameters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestration import services
from orchestration.models import NodeRun, Task
from orchestration.schemavalues import whole_numbers_to_int
from tests.webflows.pages import Page, page_server  # noqa: F401 (fixture)
from tests.webflows.test_seed_end_to_end import finished_execution, node_runs_by_id
from webflows import fetch
from webflows.sandbox.png import png
from webflows.services import step_workflow_import

GBK_META = (
    '<html><head><meta charset="gbk"><title>新闻页面</title></head>'
    '<body><ul id="news"><li>今日要闻：上海发布新规</li><li>体育新闻：中国队获胜</li></ul></body></html>'
).encode("gbk")
GB2312_EQUIV = (
    '<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312">'
    "<title>新闻页面</title></head><body><ul id=\"news\"><li>今日要闻：天气晴朗</li></ul></body></html>"
).encode("gb2312")
# 镕 and 喆 are not in GB2312: a server that says gb2312 sends GBK bytes for them.
GBK_ONLY = (
    "<html><head><title>人物</title></head><body><ul id=\"news\"><li>朱镕基</li><li>王喆</li></ul></body></html>"
).encode("gbk")


def _task(task_id: str, nodes: list[dict]) -> Task:
    Task.objects.filter(task_id=task_id).delete()
    return services.task_create(
        definition={"taskId": task_id, "name": task_id, "priority": "normal", "workflows": nodes}
    )


def _run(task: Task) -> dict[str, NodeRun]:
    execution = finished_execution(services.execution_create(task=task))
    return node_runs_by_id(execution)


def _statuses(nodes: dict[str, NodeRun]) -> dict[str, tuple[str, str]]:
    return {k: (n.status, n.error) for k, n in nodes.items()}


# --- the shared decoder (fast, no worker) ------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (GBK_META, "text/html", "今日要闻：上海发布新规"),
        (GB2312_EQUIV, "text/html", "今日要闻：天气晴朗"),
        (GBK_ONLY, "text/html; charset=gb2312", "朱镕基</li><li>王喆"),
        ("<p>café</p>".encode("cp1252"), "text/html; charset=iso-8859-1", "café"),
        ("\ufeff<p>新闻</p>".encode("utf-8"), "text/html; charset=gbk", "<p>新闻</p>"),  # the BOM wins
    ],
)
def test_text_is_decoded_the_way_a_browser_does(body, content_type, expected):
    text, _ = fetch.decode_text(body, content_type)
    assert expected in text and "\ufffd" not in text


def test_binary_bodies_are_not_text():
    image = png("x", 4, 4)
    assert not fetch.is_text_content("image/png", image)
    assert not fetch.is_text_content("application/octet-stream", b"\x00\x01")
    assert not fetch.is_text_content("text/html", image)  # a PNG mislabelled as HTML
    assert fetch.is_text_content(None, GBK_META) and fetch.is_text_content("application/json", b"{}")


def test_whole_number_floats_become_ints_only_where_the_schema_says_integer():
    schema = {
        "type": "object",
        "properties": {
            "count": {"type": "integer"},
            "ratio": {"type": "number"},
            "pages": {"type": "array", "items": {"type": "integer"}},
            "nested": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
    }
    value = {"count": 2.0, "ratio": 2.0, "pages": [1.0, 3.0], "nested": {"a": 4.0}, "other": 5.0}
    out = whole_numbers_to_int(schema, value)
    assert out == {"count": 2, "ratio": 2.0, "pages": [1, 3], "nested": {"a": 4}, "other": 5.0}
    assert [type(out[k]) for k in ("count", "ratio", "other")] == [int, float, float]
    assert type(out["pages"][0]) is int and type(out["nested"]["a"]) is int
    assert type(value["count"]) is float  # the input is left as it was


# --- on a real worker ---------------------------------------------------------

@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_pages_in_gbk_and_gb2312_read_right_everywhere_text_is_fetched(page_server, celery_worker):  # noqa: F811
    page_server.pages["/gbk-meta/"] = Page(GBK_META, "text/html")
    page_server.pages["/gb2312-equiv/"] = Page(GB2312_EQUIV, "text/html")
    page_server.pages["/gbk-only/"] = Page(GBK_ONLY, "text/html; charset=gb2312")
    page_server.pages["/api.json"] = Page('{"name": "王喆"}'.encode("gbk"), "application/json; charset=gbk")
    step_workflow_import(
        definition={
            "name": "read-gbk",
            "steps": [
                {"op": "goto", "id": "page", "url": page_server.url("/gbk-meta/")},
                {"op": "extract", "id": "items", "selector": "#news li", "all": True},
                {"op": "http_request", "id": "api", "url": page_server.url("/gbk-only/")},
                {"op": "http_request", "id": "json", "url": page_server.url("/api.json")},
            ],
        }
    )
    task = _task(
        "encoding-check",
        [
            {"id": "meta", "name": "meta", "workflow": "page-monitor", "config": {"url": page_server.url("/gbk-meta/")}},
            {"id": "equiv", "name": "equiv", "workflow": "page-monitor",
             "config": {"url": page_server.url("/gb2312-equiv/")}},
            {"id": "header", "name": "header", "workflow": "page-monitor",
             "config": {"url": page_server.url("/gbk-only/")}},
            {"id": "analysis", "name": "analysis", "workflow": "content-analysis",
             "config": {"url": page_server.url("/gbk-meta/"), "analysisType": "basic"}},
            {"id": "steps", "name": "steps", "workflow": "read-gbk", "config": {}},
        ],
    )
    nodes = _run(task)
    assert all(n.status == "completed" for n in nodes.values()), _statuses(nodes)
    meta = nodes["meta"].output
    assert (meta["title"], meta["items"]) == ("新闻页面", ["今日要闻：上海发布新规", "体育新闻：中国队获胜"])
    assert nodes["equiv"].output["items"] == ["今日要闻：天气晴朗"]
    assert nodes["header"].output["items"] == ["朱镕基", "王喆"]
    analysis = nodes["analysis"].output
    assert analysis["title"] == "新闻页面" and "今日要闻：上海发布新规" in analysis["mainText"]
    assert analysis["language"] == "zh"
    steps = nodes["steps"].output["results"]
    assert steps["page"]["title"] == "新闻页面"
    assert steps["items"]["values"] == ["今日要闻：上海发布新规", "体育新闻：中国队获胜"]
    assert "朱镕基" in steps["api"]["text"] and "王喆" in steps["api"]["text"]
    assert steps["json"]["json"] == {"name": "王喆"}


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_empty_200_never_replaces_the_snapshot(page_server, celery_worker):  # noqa: F811
    full = Page(b"<html><body><ul><li>first story</li><li>second story</li></ul></body></html>")
    page_server.pages["/news/"] = full
    retry = {"retryAttempts": 1, "retryDelay": 0}
    task = _task(
        "empty-check",
        [
            {"id": "watch", "name": "watch", "workflow": "page-monitor", "execution": retry,
             "config": {"url": page_server.url("/news/")}},
            {"id": "counted", "name": "counted", "workflow": "page-monitor", "execution": retry,
             "config": {"url": page_server.url("/news/"), "onEmpty": "change"}},
        ],
    )
    first = _run(task)
    assert all(n.status == "completed" for n in first.values()), _statuses(first)

    page_server.pages["/news/"] = Page(b"", "text/html")  # an empty 200
    empty = _run(task)
    watch = empty["watch"]
    assert watch.status == "failed"
    assert "returned no content (an empty body where the last snapshot had 2)" in watch.error
    assert "saved snapshot is kept" in watch.error
    assert watch.attempts == 2  # retryable: the node was tried again
    counted = empty["counted"]
    assert counted.status == "completed", counted.error
    assert counted.output["hasChanges"] is True and counted.output["empty"] is True
    assert counted.output["removed"] == ["first story", "second story"]

    page_server.pages["/news/"] = Page(b"<html><body><ul></ul></body></html>")  # no items at all
    no_items = _run(task)
    assert no_items["watch"].status == "failed" and "returned no content (no items" in no_items["watch"].error

    page_server.pages["/news/"] = full
    back = _run(task)
    for node in ("watch", "counted"):
        out = back[node].output
        assert back[node].status == "completed", back[node].error
        # Compared with the last real content: no false "everything added".
        assert (out["hasChanges"], out["added"], out["removed"]) == (False, [], []), node


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.browser
def test_binary_urls_given_to_the_page_monitor_fail_clearly(page_server, celery_worker):  # noqa: F811
    page_server.pages["/logo.png"] = Page(png("logo", 8, 8), "image/png")
    page_server.pages["/blob"] = Page(b"\x00\x01\x02binary", "application/octet-stream")
    retry = {"retryAttempts": 1, "retryDelay": 0}
    step_workflow_import(
        definition={"name": "api-png", "steps": [{"op": "http_request", "id": "logo", "url": page_server.url("/logo.png")}]}
    )
    step_workflow_import(definition={"name": "goto-png", "steps": [{"op": "goto", "url": page_server.url("/logo.png")}]})
    task = _task(
        "binary-check",
        [
            {"id": "api", "name": "api", "workflow": "api-png", "config": {}},
            {"id": "goto", "name": "goto", "workflow": "goto-png", "config": {}, "stopOnFailure": False},
            {"id": "image", "name": "image", "workflow": "page-monitor", "execution": retry,
             "config": {"url": page_server.url("/logo.png")}, "stopOnFailure": False},
            {"id": "blob", "name": "blob", "workflow": "page-monitor", "execution": retry,
             "config": {"url": page_server.url("/blob")}, "stopOnFailure": False},
            {"id": "image_browser", "name": "image in Chromium", "workflow": "page-monitor", "execution": retry,
             "config": {"url": page_server.url("/logo.png"), "mode": "browser"}, "stopOnFailure": False},
            {"id": "blob_browser", "name": "blob in Chromium", "workflow": "page-monitor", "execution": retry,
             "config": {"url": page_server.url("/blob"), "mode": "browser"}, "stopOnFailure": False},
        ],
    )
    nodes = _run(task)
    for node, kind in (("image", "image/png"), ("blob", "application/octet-stream"), ("image_browser", "image/png")):
        run = nodes[node]
        assert run.status == "failed" and run.output is None, node
        assert f"answered with {kind}, not a text page" in run.error, run.error
        assert run.attempts == 1  # not retryable: the URL will not turn into a page
    logo = nodes["api"].output["results"]["logo"]
    assert "text" not in logo and logo["binary"]["size"] == len(page_server.pages["/logo.png"].body)
    goto = nodes["goto"]
    assert goto.status == "failed" and goto.attempts == 1
    assert "answered with image/png (binary content), not a page" in goto.error
    blob = nodes["blob_browser"]
    assert blob.status == "failed" and blob.attempts == 1
    assert f"{page_server.url('/blob')} is a file download (binary content), not a page" in blob.error


FRAME_HOST = b"""<html><body><h1>Host page</h1>
<iframe id="pay" name="pay" src="/inner/"></iframe></body></html>"""
FRAME_INNER = b"""<html><body><form onsubmit="document.getElementById('done').textContent =
 'Paid by ' + document.getElementById('card').value; return false;">
<input id="card"><button id="inner-button" type="submit">Pay</button></form>
<p id="done"></p><a href="receipt/">Receipt</a></body></html>"""


@pytest.mark.integration
@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_steps_act_inside_an_iframe_and_say_when_an_element_is_in_one(page_server, celery_worker):  # noqa: F811
    page_server.pages["/host/"] = Page(FRAME_HOST)
    page_server.pages["/inner/"] = Page(FRAME_INNER)
    host = page_server.url("/host/")
    step_workflow_import(
        definition={
            "name": "frame-pay",
            "steps": [
                {"op": "goto", "url": host},
                {"op": "fill", "frame": "#pay", "selector": "#card", "value": "VISA-42"},
                {"op": "click", "frame": "#pay", "selector": "#inner-button"},
                {"op": "wait_for", "frame": "iframe[name=pay]", "selector": "#done:has-text('Paid')"},
                {"op": "extract", "id": "done", "frame": "#pay", "selector": "#done"},
                {"op": "extract", "id": "heading", "selector": "h1"},
                {"op": "extract", "id": "receipt", "frame": "#pay", "selector": "a", "type": "links"},
            ],
        }
    )
    step_workflow_import(
        definition={
            "name": "frame-missed",
            "steps": [{"op": "goto", "url": host}, {"op": "click", "selector": "#inner-button", "timeout": 1}],
        }
    )
    step_workflow_import(
        definition={
            "name": "frame-http",
            "steps": [{"op": "goto", "url": host}, {"op": "extract", "frame": "#pay", "selector": "#done"}],
        }
    )
    task = _task(
        "frame-check",
        [
            {"id": "pay", "name": "pay", "workflow": "frame-pay", "config": {}},
            {"id": "missed", "name": "missed", "workflow": "frame-missed", "config": {}, "stopOnFailure": False},
            {"id": "http", "name": "http", "workflow": "frame-http", "config": {}, "stopOnFailure": False},
        ],
    )
    nodes = _run(task)
    assert nodes["pay"].status == "completed", nodes["pay"].error
    results = nodes["pay"].output["results"]
    assert results["done"]["value"] == "Paid by VISA-42"
    assert results["heading"]["value"] == "Host page"
    # A relative link inside the frame resolves against the frame's document.
    assert results["receipt"]["values"] == [{"url": page_server.url("/inner/receipt/"), "text": "Receipt"}]

    missed = nodes["missed"]
    assert missed.status == "failed"
    assert "step 2 (click) failed on selector '#inner-button': timed out after 1s" in missed.error
    assert 'it matches inside the frame #pay: add "frame": "#pay" to the step' in missed.error

    http = nodes["http"]
    assert http.status == "failed"
    assert "step 2 (extract) failed on selector '#done': frame '#pay': reading inside an <iframe> needs a browser" in http.error


NEWS = (
    "2024年11月30日，上海市发布通知：2024年第三季度GDP增长5.2%。详情见 https://www.example.com/news/2024/1130.html 。"
    "上海市统计局表示，经济运行总体平稳，上海市消费市场回暖，工业生产稳步增长。"
    "发布会上，统计局负责人介绍了11月份消费市场的情况，网址 www.stats.gov.cn 提供全文。"
)


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_chinese_keywords_and_word_frequencies_carry_no_numbers_urls_or_punctuation(celery_worker):
    task = _task(
        "keywords-check",
        [{"id": "analysis", "name": "analysis", "workflow": "content-analysis",
          "config": {"text": NEWS, "analysisType": "keywords", "topKeywords": 8}}],
    )
    nodes = _run(task)
    out = nodes["analysis"].output
    assert nodes["analysis"].status == "completed", nodes["analysis"].error
    keywords = [k["word"] for k in out["keywords"]]
    words = [w["word"] for w in out["wordFrequencies"]]
    assert len(keywords) == 8 and keywords[0] == "上海市"
    assert {"统计局", "消费市场"} <= set(keywords)
    noise = {"2024", "11", "30", "5.2", "5.2%", "https", "http", "www", "com", "html", "example", "stats", "gov", "cn"}
    for listed in (keywords, words):
        assert not noise & set(listed), listed
        assert all(any(ch.isalpha() for ch in w) and not w[0].isdigit() for w in listed), listed
        assert all(w == w.casefold() for w in listed), listed
    assert dict((w["word"], w["count"]) for w in out["wordFrequencies"])["上海市"] == 3


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_integer_given_as_2_point_0_reaches_the_steps_as_2(celery_worker):
    step_workflow_import(
        definition={
            "name": "count-twice",
            "inputSchema": {"type": "object", "properties": {"count": {"type": "integer", "minimum": 1}}},
            "steps": [{"op": "save", "id": "saved", "filename": "count.json", "data": {"count": "${count}"}}],
        }
    )
    task = _task(
        "integer-check",
        [
            {"id": "save", "name": "save", "workflow": "count-twice", "config": {"count": 2.0}},
            {"id": "analysis", "name": "analysis", "workflow": "content-analysis", "dependsOn": ["save"],
             "config": {"text": NEWS, "analysisType": "keywords", "topKeywords": 2.0}},
        ],
    )
    nodes = _run(task)
    assert all(n.status == "completed" for n in nodes.values()), _statuses(nodes)
    saved = json.loads((Path(nodes["save"].output["folder"]) / "count.json").read_text())
    assert saved == {"count": 2} and type(saved["count"]) is int
    assert len(nodes["analysis"].output["keywords"]) == 2


def test_skip_if_logged_in_needs_a_login_check():
    from webflows.services import step_workflow_definition_errors

    errors = step_workflow_definition_errors(
        {"name": "no-check", "steps": [{"op": "goto", "url": "http://example.com/"},
                                       {"op": "fill", "selector": "#u", "value": "x", "skipIfLoggedIn": True}]}
    )
    assert {"path": "steps[1].skipIfLoggedIn",
            "message": "needs the workflow's loginCheck (it tells whether the page is the login page)"} in errors


DIV_ARTICLE = """<html><head><meta charset="gbk"><title>上海发布三季度经济数据_新闻网</title></head><body>
<div class="top"><ul><li><a href="/">首页</a></li><li><a href="/news">国内新闻</a></li></ul></div>
<div class="main"><div class="title">上海发布三季度经济数据</div>
<div class="article-body">2024年11月30日，上海市发布通知：2024年第三季度GDP增长5.2%。<br><br>
上海市统计局表示，经济运行总体平稳，上海市消费市场回暖，工业生产稳步增长。<br><br>
发布会上，统计局负责人介绍了11月份消费市场的情况，并回答了记者提问。</div>
<div class="related"><h3>相关阅读</h3><ul><li><a href="/a">明星八卦新闻一则</a></li></ul></div></div>
<div class="foot">版权所有 2024 新闻网</div></body></html>""".encode("gbk")


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_main_text_of_a_chinese_page_laid_out_in_divs_is_found(page_server, celery_worker):  # noqa: F811
    # Article text in a <div> split by <br> (no <p>): the main-text extractor
    # must keep it (the own heuristic kept only the link lists).
    page_server.pages["/article/"] = Page(DIV_ARTICLE, "text/html")
    task = _task(
        "main-text-check",
        [{"id": "analysis", "name": "analysis", "workflow": "content-analysis",
          "config": {"url": page_server.url("/article/"), "analysisType": "keywords", "topKeywords": 5}}],
    )
    node = _run(task)["analysis"]
    assert node.status == "completed", node.error
    out = node.output
    assert out["title"] == "上海发布三季度经济数据_新闻网"
    assert "上海市统计局表示，经济运行总体平稳" in out["mainText"]
    assert "上海市" in [k["word"] for k in out["keywords"]]


def test_a_declared_utf16_page_without_a_bom_is_text():
    # breaker1 review: the binary sniff ran before the declared charset was honoured.
    body = "<html><body><p>新闻 news</p></body></html>".encode("utf-16-le")
    for content_type in ("text/html; charset=utf-16", "text/html; charset=UTF-16LE", 'text/html; charset="utf-16"'):
        assert fetch.is_text_content(content_type, body)
        assert "新闻 news" in fetch.decode_text(body, content_type)[0]
    assert fetch.is_text_content("application/json; charset=utf-32", '{"a": 1}'.encode("utf-32-le"))


def test_a_page_with_a_stray_nul_is_still_text():
    assert fetch.is_text_content("text/html", b"<html><body>one\x00 stray NUL</body></html>")
    assert fetch.is_text_content(None, b"<p>" + b"a" * 2000 + b"\x00\x00</p>")
    assert not fetch.is_text_content("text/html", b"\x00\x01\x02\x03<p>")
