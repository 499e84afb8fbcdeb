from __future__ import annotations

import pytest

from orchestration.context import NodeError
from tests.webflows.conftest import SANDBOX_UID
from webflows.kinds import weibo
from webflows.sandbox.state import sandbox_advance


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("https://weibo.com/1671109627", ("https://m.weibo.cn", "1671109627")),
        ("https://weibo.com/u/1671109627", ("https://m.weibo.cn", "1671109627")),
        ("https://m.weibo.cn/u/1671109627", ("https://m.weibo.cn", "1671109627")),
        ("https://m.weibo.cn/profile/1671109627", ("https://m.weibo.cn", "1671109627")),
        ("1671109627", ("https://m.weibo.cn", "1671109627")),
        ("http://127.0.0.1:8000/sandbox/weibo/u/1671109627", ("http://127.0.0.1:8000/sandbox/weibo", "1671109627")),
        (
            "http://h:1/sandbox/weibo/api/container/getIndex?type=uid&value=1671109627&containerid=1076031671109627",
            ("http://h:1/sandbox/weibo", "1671109627"),
        ),
    ],
)
def test_it_understands_every_profile_url_form(settings, target, expected):
    settings.WEBAUTO_WEIBO_API_BASE = "https://m.weibo.cn"
    assert weibo.parse_target(target, None) == expected


def test_api_base_comes_from_config_then_setting(settings):
    settings.WEBAUTO_WEIBO_API_BASE = "http://mirror.local/weibo"
    assert weibo.parse_target("https://weibo.com/123456", None) == ("http://mirror.local/weibo", "123456")
    assert weibo.parse_target("https://weibo.com/123456", "http://x/y/") == ("http://x/y", "123456")


def test_a_url_without_a_user_id_is_a_clear_error():
    with pytest.raises(NodeError, match="cannot find a Weibo user id"):
        weibo.parse_target("https://weibo.com/somebody", None)


def test_created_at_forms_become_iso_times():
    assert weibo.parse_created_at("Tue Feb 23 12:28:47 +0800 2021") == "2021-02-23T12:28:47+08:00"
    from datetime import datetime, timedelta, timezone

    now = datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=8)))
    assert weibo.parse_created_at("3小时前", now) == "2026-03-01T09:00:00+08:00"
    assert weibo.parse_created_at("06-27", now).startswith("2026-06-27")
    assert weibo.parse_created_at("昨天 08:15", now) == "2026-02-28T08:15:00+08:00"
    assert weibo.parse_created_at("sometime") is None


def test_it_reads_posts_and_reports_new_ones_by_id(sandbox, make_context):
    config = {"targetUrl": f"{sandbox}/weibo/u/{SANDBOX_UID}", "changeThreshold": 0.1}
    first = weibo.run(config, None, make_context("monitoring"))
    assert first["firstRun"] is True and first["hasChanges"] is True and first["changeRatio"] == 1.0
    assert first["postCount"] == 3 and first["newPostCount"] == 3
    newest = first["posts"][0]
    assert newest["id"] == "4900000000000003"
    assert newest["createdAt"].endswith("+08:00")
    assert newest["commentsCount"] == 15 and newest["repostsCount"] == 9 and newest["attitudesCount"] == 33
    assert newest["user"]["screenName"] == "沙盒用户"
    assert first["user"]["statusesCount"] == 3
    image = newest["media"][0]
    assert image["type"] == "image"
    assert image["variants"]["original"].endswith("/large/sbx0003p1.png")
    assert image["variants"]["medium"].endswith("/orj360/sbx0003p1.png")
    assert image["variants"]["thumbnail"].endswith("/thumbnail/sbx0003p1.png")
    # Post 2 is a long post: its full text comes from statuses/extend.
    long_post = next(p for p in first["posts"] if p["id"] == "4900000000000002")
    assert long_post["isLongText"] and "长微博的全文" in long_post["text"]

    second = weibo.run(config, None, make_context("monitoring"))
    assert second["hasChanges"] is False and second["changeRatio"] == 0.0 and second["newPosts"] == []

    sandbox_advance()
    third = weibo.run(config, None, make_context("monitoring"))
    assert third["newPostIds"] == ["4900000000000004"]
    assert third["changeRatio"] == 0.25 and third["hasChanges"] is True


def test_it_follows_since_id_pages_up_to_max_posts(sandbox, make_context):
    sandbox_advance(steps=20)  # 23 posts: three pages of ten
    output = weibo.run(
        {"targetUrl": f"{sandbox}/weibo/u/{SANDBOX_UID}", "maxPosts": 15}, None, make_context()
    )
    ids = [p["id"] for p in output["posts"]]
    assert len(ids) == 15 and len(set(ids)) == 15
    assert ids[0] == "4900000000000023" and ids[-1] == "4900000000000009"


def test_the_state_is_kept_only_when_the_run_succeeds(sandbox, make_context):
    context = make_context("monitoring")
    with pytest.raises(NodeError):
        weibo.run({"targetUrl": f"{sandbox}/weibo-ratelimited/u/{SANDBOX_UID}"}, None, context)
    assert context.state_get("seenPostIds") is None


def test_weibo_failures_are_clear(sandbox, make_context):
    cases = [
        ("weibo-login", "login page instead of JSON"),
        ("weibo-ratelimited", "HTTP 418"),
        ("weibo-notok", "ok=0: 这里还没有内容"),
        ("weibo-private", "login page instead of JSON"),
    ]
    for feed, message in cases:
        with pytest.raises(NodeError) as caught:
            weibo.run({"targetUrl": f"{sandbox}/{feed}/u/{SANDBOX_UID}"}, None, make_context())
        assert message in str(caught.value), (feed, str(caught.value))


def test_a_cookie_opens_a_private_feed(sandbox, make_context):
    output = weibo.run(
        {"targetUrl": f"{sandbox}/weibo-private/u/{SANDBOX_UID}", "cookie": "SUB=sandbox-sub-cookie"},
        None,
        make_context(),
    )
    assert output["postCount"] == 3


def test_a_stored_session_supplies_the_cookie(sandbox, make_context):
    from urllib.parse import urlsplit

    from webflows.services import browser_session_import

    host = urlsplit(sandbox).hostname
    browser_session_import(site="weibo", cookies="SUB=sandbox-sub-cookie", domain=host)
    output = weibo.run(
        {"targetUrl": f"{sandbox}/weibo-private/u/{SANDBOX_UID}", "session": "weibo"}, None, make_context()
    )
    assert output["postCount"] == 3


def test_an_unreachable_api_is_a_clear_error(make_context):
    with pytest.raises(NodeError, match="cannot reach host 127.0.0.1:9"):
        weibo.run({"targetUrl": "http://127.0.0.1:9/weibo/u/1671109627", "timeout": 3}, None, make_context())


def test_video_and_repost_media_are_parsed_with_quality_variants():
    from webflows.kinds.batch_download import plan_items

    mblog = {
        "idstr": "42",
        "text": '转发 <a href="/n/x">@x</a>',
        "created_at": "刚刚",
        "page_info": {
            "type": "video",
            "page_pic": {"url": "http://v/poster.jpg"},
            "urls": {"mp4_720p_mp4": "http://v/720.mp4", "mp4_hd_mp4": "http://v/hd.mp4", "mp4_ld_mp4": "http://v/ld.mp4"},
        },
        "retweeted_status": {
            "id": 41,
            "text": "原文",
            "pics": [{"pid": "p1", "url": "http://img/orj360/p1.jpg", "large": {"url": "http://img/large/p1.jpg"}}],
        },
    }
    data = {"cards": [{"card_type": 11, "card_group": [{"card_type": 9, "mblog": mblog}]}]}
    post = weibo.parse_post(weibo._cards(data)[0])
    assert post["id"] == "42" and post["text"] == "转发 @x" and post["createdAt"]
    assert post["media"][0]["variants"] == {
        "thumbnail": "http://v/ld.mp4", "medium": "http://v/hd.mp4", "original": "http://v/720.mp4"
    }
    assert post["retweeted"]["media"][0]["variants"]["thumbnail"] == "http://img/thumbnail/p1.jpg"
    originals = plan_items({"mediaQuality": "original"}, {"posts": [post]})
    assert [i.url for i in originals.items] == ["http://v/720.mp4", "http://img/large/p1.jpg"]
    mediums = plan_items({"mediaQuality": "medium"}, {"posts": [post]})
    assert [i.url for i in mediums.items] == ["http://v/hd.mp4", "http://img/orj360/p1.jpg"]
