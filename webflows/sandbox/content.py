"""What the sandbox site shows at a given revision. Pure functions: the
revision (kept in the database) is the whole state, so every process serving
or watching the sandbox sees the same content."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

SANDBOX_UID = "1671109627"
BASE_POSTS = 3
PAGE_SIZE = 10
MEMBER_USER = "demo"
MEMBER_PASSWORD = "demo-password"
# Sizes of the image variants the Weibo-shaped feed offers.
QUALITY_SIZES = {"thumbnail": 24, "orj360": 64, "large": 160}

_TOPICS = [
    ("今天在北京参加了人工智能大会，机器学习和自然语言处理的进展令人印象深刻。", "AI conference"),
    ("周末去杭州西湖散步，天气很好，湖边的风景非常漂亮，推荐大家去看看。", "West Lake"),
    ("新发布的开源项目支持任务编排和网页自动化，欢迎大家试用并提出宝贵意见。", "open source"),
    ("数据分析显示用户增长稳定，下个季度我们会继续优化产品体验和系统性能。", "growth"),
    ("晚上看了一场精彩的足球比赛，两支球队的表现都很出色，比赛非常激烈。", "football"),
    ("学习中文分词和关键词提取，结巴分词是一个很好用的工具。", "segmentation"),
]
_EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=timezone(timedelta(hours=8)))


def post_count(revision: int) -> int:
    return BASE_POSTS + revision


def post_id(number: int) -> str:
    return str(4900000000000000 + number)


def pic_ids(number: int) -> list[str]:
    return [f"sbx{number:04d}p{j}" for j in range(1, 1 + 1 + number % 3)]


def post_text(number: int) -> str:
    text, _ = _TOPICS[(number - 1) % len(_TOPICS)]
    return f"第{number}条微博：{text}"


def post(number: int, uid: str, media_base: str) -> dict[str, Any]:
    """Post ``number`` (1 is the oldest) in the mobile API's ``mblog`` shape."""
    created = _EPOCH + timedelta(hours=6 * number)
    pics = [
        {
            "pid": pid,
            "url": f"{media_base}/orj360/{pid}.png",
            "size": "orj360",
            "large": {"size": "large", "url": f"{media_base}/large/{pid}.png"},
        }
        for pid in pic_ids(number)
    ]
    text = post_text(number)
    long_text = number % 4 == 2
    shown = text
    if long_text:
        shown = text[:12] + '... <a href="/status/' + post_id(number) + '">全文</a>'
    mblog: dict[str, Any] = {
        "id": post_id(number),
        "idstr": post_id(number),
        "mid": post_id(number),
        "mblogid": f"Sbx{number:05d}",
        "created_at": created.strftime("%a %b %d %H:%M:%S %z %Y"),
        "text": shown + ' <a href="/search?q=%23sandbox%23">#sandbox#</a>',
        "source": "WebAuto Sandbox",
        "reposts_count": number * 3,
        "comments_count": number * 5,
        "attitudes_count": number * 11,
        "isLongText": long_text,
        "user": {"id": int(uid), "screen_name": "沙盒用户"},
        "pics": pics,
        "thumbnail_pic": f"{media_base}/thumbnail/{pics[0]['pid']}.png",
    }
    return mblog


def full_text(number: int) -> str:
    return post_text(number) + " 这是一条长微博的全文内容，包含更多细节和说明。"


def number_of(post_id_value: str) -> int | None:
    try:
        number = int(post_id_value) - 4900000000000000
    except ValueError:
        return None
    return number if number > 0 else None


def comments(number: int) -> list[dict[str, Any]]:
    """The first page of a post's comments (the mobile API's comments shape)."""
    return [
        {
            "id": 5100000000000000 + number * 10 + k,
            "text": f"评论{k}：这条微博很有意思，谢谢分享！",
            "created_at": (_EPOCH + timedelta(hours=6 * number, minutes=k)).strftime("%a %b %d %H:%M:%S %z %Y"),
            "user": {"id": 2000 + k, "screen_name": f"读者{k}"},
        }
        for k in range(1, 3)
    ]


def news_items(revision: int) -> list[dict[str, str]]:
    """Headlines on the news page: one is edited and one added per revision."""
    items = [
        {"slug": "welcome", "title": "Welcome to the WebAuto sandbox"},
        {"slug": "release", "title": f"Release notes, edition {1 + revision // 2}"},
        {"slug": "weather", "title": "Sunny in Hangzhou today"},
    ]
    items += [{"slug": f"update-{n}", "title": f"Sandbox update number {n}"} for n in range(1, revision + 1)]
    return items


def app_items(revision: int) -> list[dict[str, Any]]:
    """The JavaScript-rendered page's data."""
    return [{"id": n, "name": f"Widget {n}", "price": 10 * n + revision} for n in range(1, 4 + revision)]

