"""Weibo timeline monitor: reads a user's posts through the mobile JSON API
shape (``/api/container/getIndex``, see shared/spec/weibo-api-shape.md) and
reports which posts are new since the last run (by post id)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.conf import settings

from orchestration.context import NodeError, RunContext
from orchestration.registry import NodeKind
from webflows import fetch, html

MOBILE_USER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
WEIBO_HOSTS = {"weibo.com", "www.weibo.com", "m.weibo.cn", "weibo.cn"}
TIMELINE_PREFIX = "107603"
# How many post ids are remembered between runs (newest first).
SEEN_LIMIT = 5000
_CST = timezone(timedelta(hours=8))

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "targetUrl": {
            "type": "string",
            "minLength": 1,
            "description": "Profile URL (weibo.com/<uid>, weibo.com/u/<uid>, m.weibo.cn/u/<uid>, "
            "m.weibo.cn/profile/<uid>), a same-shaped URL on another host (its API base is inferred), "
            "an .../api/container/getIndex URL, or the bare user id.",
        },
        "apiBase": {"type": "string", "description": "API base URL (default: the WEBAUTO_WEIBO_API_BASE setting)."},
        "changeThreshold": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "hasChanges is true only when changeRatio reaches this (default 0: any new post).",
        },
        "maxPosts": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "Posts to read (default 20)."},
        "cookie": {"type": "string", "description": "Cookie header (e.g. ${weiboCookie} from the secrets store)."},
        "session": {"type": "string", "description": "Use the cookies of this stored browser session."},
        "fetchLongText": {"type": "boolean", "description": "Fetch the full text of long posts (default true)."},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 300},
    },
    "required": ["targetUrl"],
    "additionalProperties": False,
}

OUTPUT_DESCRIPTION = (
    "{source: 'weibo', uid, apiBase, user, posts: [{id, mblogid, url, text, html, createdAt, createdAtRaw, "
    "source, repostsCount, commentsCount, attitudesCount, isLongText, user, media: [{type, id, variants: "
    "{thumbnail, medium, original}}], retweeted}], newPosts, newPostIds, postCount, newPostCount, "
    "hasChanges, changeRatio (0..1, share of posts that are new), firstRun, text}"
)


def parse_target(target: str, api_base: str | None) -> tuple[str, str]:
    """(api base, uid) for a target URL in any of the accepted forms."""
    target = target.strip()
    if target.isdigit():
        return (api_base or settings.WEBAUTO_WEIBO_API_BASE).rstrip("/"), target
    parts = urlsplit(target if "://" in target else f"https://{target}")
    if "/api/container/getIndex" in parts.path:
        query = parse_qs(parts.query)
        uid = (query.get("value") or [""])[0]
        containerid = (query.get("containerid") or [""])[0]
        if not uid and containerid.startswith(TIMELINE_PREFIX):
            uid = containerid[len(TIMELINE_PREFIX) :]
        base = f"{parts.scheme}://{parts.netloc}{parts.path.split('/api/container/getIndex')[0]}"
        if uid.isdigit():
            return (api_base or base).rstrip("/"), uid
        raise NodeError(f"targetUrl {target!r} names no numeric user id (value= or containerid=)", retryable=False)
    match = re.search(r"^(.*?)/(?:u/|profile/)?(\d{5,})/?$", parts.path)
    if match is None:
        raise NodeError(
            f"cannot find a Weibo user id in targetUrl {target!r}; use https://weibo.com/<uid> "
            "or https://m.weibo.cn/u/<uid>",
            retryable=False,
        )
    prefix, uid = match.groups()
    if api_base:
        return api_base.rstrip("/"), uid
    if (parts.hostname or "") in WEIBO_HOSTS:
        return settings.WEBAUTO_WEIBO_API_BASE.rstrip("/"), uid
    # Another host serving the same shape (the sandbox, a mirror): its API sits beside the profile.
    return f"{parts.scheme}://{parts.netloc}{prefix}".rstrip("/"), uid


def parse_created_at(raw: str, now: datetime | None = None) -> str | None:
    """ISO 8601 time of a post, from the absolute or relative forms Weibo uses."""
    raw = (raw or "").strip()
    now = (now or datetime.now(_CST)).astimezone(_CST)
    try:
        return datetime.strptime(raw, "%a %b %d %H:%M:%S %z %Y").isoformat()
    except ValueError:
        pass
    if raw == "刚刚":
        return now.isoformat()
    relative = re.fullmatch(r"(\d+)\s*(秒|分钟|小时)前", raw)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        delta = {"秒": timedelta(seconds=amount), "分钟": timedelta(minutes=amount), "小时": timedelta(hours=amount)}[unit]
        return (now - delta).isoformat()
    yesterday = re.fullmatch(r"昨天\s*(\d{1,2}):(\d{2})", raw)
    if yesterday:
        day = now - timedelta(days=1)
        return day.replace(hour=int(yesterday.group(1)), minute=int(yesterday.group(2)), second=0, microsecond=0).isoformat()
    for fmt, with_year in (("%Y-%m-%d", True), ("%m-%d", False)):
        try:
            parsed = datetime.strptime(raw, fmt)
        except ValueError:
            continue
        year = parsed.year if with_year else now.year
        return parsed.replace(year=year, tzinfo=_CST).isoformat()
    return None


def _media_of(mblog: dict[str, Any]) -> list[dict[str, Any]]:
    media: list[dict[str, Any]] = []
    for pic in mblog.get("pics") or []:
        if not isinstance(pic, dict):
            continue
        medium = pic.get("url")
        original = (pic.get("large") or {}).get("url") or medium
        thumbnail = medium.replace("/orj360/", "/thumbnail/") if isinstance(medium, str) else None
        media.append(
            {
                "type": "image",
                "id": pic.get("pid"),
                "variants": {"thumbnail": thumbnail or medium, "medium": medium or original, "original": original},
            }
        )
    page_info = mblog.get("page_info") or {}
    if isinstance(page_info, dict) and page_info.get("type") == "video":
        urls = page_info.get("urls") or {}
        info = page_info.get("media_info") or {}
        original = urls.get("mp4_720p_mp4") or urls.get("mp4_hd_mp4") or info.get("stream_url_hd") or info.get("stream_url")
        medium = urls.get("mp4_hd_mp4") or info.get("stream_url_hd") or original
        low = urls.get("mp4_ld_mp4") or info.get("stream_url") or medium
        if original:
            media.append(
                {
                    "type": "video",
                    "id": page_info.get("object_id") or mblog.get("id"),
                    "variants": {"thumbnail": low, "medium": medium, "original": original},
                    "poster": (page_info.get("page_pic") or {}).get("url"),
                }
            )
    return media


def _plain(text_html: str) -> str:
    return html.text_of(html.parse(f"<div>{text_html}</div>")) if text_html else ""


def parse_post(mblog: dict[str, Any]) -> dict[str, Any]:
    post_id = str(mblog.get("idstr") or mblog.get("id") or mblog.get("mid") or "")
    user = mblog.get("user") or {}
    post: dict[str, Any] = {
        "id": post_id,
        "mblogid": mblog.get("mblogid") or mblog.get("bid"),
        "url": f"https://m.weibo.cn/detail/{post_id}",
        "text": _plain(str(mblog.get("text") or "")),
        "html": str(mblog.get("text") or ""),
        "createdAtRaw": mblog.get("created_at"),
        "createdAt": parse_created_at(str(mblog.get("created_at") or "")),
        "source": mblog.get("source"),
        "repostsCount": mblog.get("reposts_count"),
        "commentsCount": mblog.get("comments_count"),
        "attitudesCount": mblog.get("attitudes_count"),
        "isLongText": bool(mblog.get("isLongText")),
        "user": {"id": user.get("id"), "screenName": user.get("screen_name")} if isinstance(user, dict) else None,
        "media": _media_of(mblog),
    }
    retweeted = mblog.get("retweeted_status")
    if isinstance(retweeted, dict):
        post["retweeted"] = parse_post(retweeted)
    return post


def _cards(data: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for card in data.get("cards") or []:
        if not isinstance(card, dict):
            continue
        if card.get("card_type") == 9 and isinstance(card.get("mblog"), dict):
            found.append(card["mblog"])
        for inner in card.get("card_group") or []:
            if isinstance(inner, dict) and inner.get("card_type") == 9 and isinstance(inner.get("mblog"), dict):
                found.append(inner["mblog"])
    return found


class WeiboClient:
    """Calls the mobile API the way the mobile site does, with clear errors."""

    def __init__(self, api_base: str, uid: str, *, cookie: str | None, cookies: list[dict[str, Any]], timeout: float) -> None:
        self.api_base = api_base
        headers = {
            "User-Agent": MOBILE_USER_AGENT,
            "X-Requested-With": "XMLHttpRequest",
            "Accept": "application/json, text/plain, */*",
            "Referer": f"{api_base}/u/{uid}",
            "MWeibo-Pwa": "1",
        }
        if cookie:
            headers["Cookie"] = cookie
        self.client = fetch.make_client(headers=headers, cookies=cookies, timeout=timeout)
        self.timeout = timeout

    def get_json(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        import httpx  # imported on first use: a web process seldom needs it (16 MB RSS)
        url = f"{self.api_base}{path}"
        try:
            response = self.client.get(url, params=params)
        except httpx.HTTPError as exc:
            raise fetch.transport_error(exc, url, self.timeout) from exc
        if response.status_code in (403, 418):
            raise NodeError(
                f"Weibo refused the request with HTTP {response.status_code} at {url}: rate limited or "
                "blocked; wait before retrying, or use a logged-in cookie"
            )
        if response.status_code >= 400:
            raise fetch.status_error(response)
        body = fetch.response_text(response).lstrip()
        if "html" in response.headers.get("content-type", "") or body.startswith("<"):
            raise NodeError(
                f"Weibo answered {response.url} with a login page instead of JSON: this account needs a "
                "logged-in cookie (config.cookie, e.g. ${weiboCookie}, or a stored session) or the cookie expired",
                retryable=False,
            )
        try:
            payload = fetch.response_json(response)
        except ValueError as exc:
            raise NodeError(f"Weibo answered {response.url} with something that is not JSON") from exc
        if not isinstance(payload, dict) or payload.get("ok") != 1:
            message = payload.get("msg") if isinstance(payload, dict) else None
            raise NodeError(
                f"Weibo API answered ok={payload.get('ok') if isinstance(payload, dict) else '?'}"
                f"{': ' + str(message) if message else ''} for {response.url} (no data: rate limited, "
                "private account, or no such user)"
            )
        return payload.get("data") or {}

    def close(self) -> None:
        self.client.close()


def _cookie_inputs(config: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]]]:
    cookies: list[dict[str, Any]] = []
    if config.get("session"):
        from webflows.models import BrowserSession

        stored = BrowserSession.objects.filter(site=config["session"]).first()
        if stored is None:
            raise NodeError(f"no stored browser session named {config['session']!r}", retryable=False)
        cookies = list(stored.cookies)
    return config.get("cookie") or None, cookies


def run(config: dict[str, Any], input: Any, context: RunContext) -> dict[str, Any]:
    api_base, uid = parse_target(str(config["targetUrl"]), config.get("apiBase"))
    max_posts = int(config.get("maxPosts", 20))
    threshold = float(config.get("changeThreshold", 0))
    cookie, cookies = _cookie_inputs(config)
    client = WeiboClient(api_base, uid, cookie=cookie, cookies=cookies, timeout=float(config.get("timeout", 30)))
    containerid = f"{TIMELINE_PREFIX}{uid}"
    try:
        user_data = client.get_json("/api/container/getIndex", {"type": "uid", "value": uid})
        info = user_data.get("userInfo") or {}
        posts: list[dict[str, Any]] = []
        seen_ids: set[str] = set()
        params: dict[str, Any] = {"type": "uid", "value": uid, "containerid": containerid}
        for _page in range(max_posts // 5 + 2):
            context.check_cancelled()
            data = client.get_json("/api/container/getIndex", params)
            added = 0
            for mblog in _cards(data):
                post = parse_post(mblog)
                if post["id"] and post["id"] not in seen_ids and len(posts) < max_posts:
                    seen_ids.add(post["id"])
                    posts.append(post)
                    added += 1
            since_id = (data.get("cardlistInfo") or {}).get("since_id")
            if len(posts) >= max_posts or not since_id or added == 0:
                break
            params = {"type": "uid", "value": uid, "containerid": containerid, "since_id": since_id}
        if config.get("fetchLongText", True):
            for post in posts:
                if post["isLongText"]:
                    context.check_cancelled()
                    try:
                        extended = client.get_json("/statuses/extend", {"id": post["id"]})
                    except NodeError as exc:
                        context.log(f"kept the short text of post {post['id']}: {exc}")
                        continue
                    long_html = str(extended.get("longTextContent") or "")
                    if long_html:
                        post["html"] = long_html
                        post["text"] = _plain(long_html)
    finally:
        client.close()

    previous = context.state_get("seenPostIds")
    first_run = previous is None
    known = set(previous or [])
    new_posts = [p for p in posts if p["id"] not in known]
    ratio = 1.0 if first_run else (len(new_posts) / len(posts) if posts else 0.0)
    has_changes = bool(new_posts) and ratio >= threshold
    remembered = [p["id"] for p in posts] + [i for i in (previous or []) if i not in seen_ids]
    context.state_set("seenPostIds", remembered[:SEEN_LIMIT])
    context.log(f"read {len(posts)} posts of user {uid}, {len(new_posts)} new")
    return {
        "source": "weibo",
        "uid": uid,
        "apiBase": api_base,
        "user": {
            "id": info.get("id"),
            "screenName": info.get("screen_name"),
            "statusesCount": info.get("statuses_count"),
            "followersCount": info.get("followers_count"),
            "followCount": info.get("follow_count"),
            "description": info.get("description"),
        },
        "posts": posts,
        "newPosts": new_posts,
        "newPostIds": [p["id"] for p in new_posts],
        "postCount": len(posts),
        "newPostCount": len(new_posts),
        "hasChanges": has_changes,
        "changeRatio": round(ratio, 4),
        "firstRun": first_run,
        "text": "\n".join(p["text"] for p in new_posts),
    }


KIND = NodeKind(
    name="weibo-timeline-monitor",
    run=run,
    config_schema=CONFIG_SCHEMA,
    output_description=OUTPUT_DESCRIPTION,
    description="Reads a Weibo user's timeline through the mobile JSON API and reports new posts since the last run.",
    aliases=("weibo-content-monitoring-workflow",),
    example={"targetUrl": "http://127.0.0.1:8000/sandbox/weibo/u/1671109627", "maxPosts": 5},
)
