"""Page monitor: fetches a page (HTTP, or Chromium for JavaScript pages),
narrowed by a CSS selector, and compares it with the snapshot of the last
successful run of the same task node."""

from __future__ import annotations

import difflib
import hashlib
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from orchestration.context import NodeError, RunContext
from orchestration.registry import NodeKind
from webflows import fetch, html
from webflows.drivers import BrowserDriver

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "minLength": 1, "description": "Page to watch."},
        "targetUrl": {"type": "string", "minLength": 1, "description": "Same as url (the seed's name)."},
        "selector": {"type": "string", "description": "CSS selector narrowing the watched region."},
        "itemSelector": {
            "type": "string",
            "description": "CSS selector of the items compared (default: block elements' text).",
        },
        "mode": {"enum": ["http", "browser"], "description": "browser renders JavaScript (default http)."},
        "waitFor": {"type": "string", "description": "In browser mode, wait for this selector first."},
        "changeThreshold": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "hasChanges only when changeRatio reaches this (default 0: any change).",
        },
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "session": {"type": "string", "description": "Send the cookies of this stored browser session."},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 300},
        "onEmpty": {
            "enum": ["fail", "change"],
            "description": "A fetch with no content (an empty body, or no items where the last snapshot had "
            "some): fail the node as retryable (default) or report it as a change. Either way the saved "
            "snapshot is kept.",
        },
    },
    "anyOf": [{"required": ["url"]}, {"required": ["targetUrl"]}],
    "additionalProperties": False,
}

OUTPUT_DESCRIPTION = (
    "{url, finalUrl, title, hasChanges, changeRatio (0..1), firstRun, itemCount, items, added, removed, "
    "links: [{url, text}], media: [{type, url, alt}], newLinks, newMedia, contentHash, empty (no content, "
    "onEmpty change), checkedAt, text}"
)
MAX_ITEMS = 2000


def _cookies(config: dict[str, Any]) -> list[dict[str, Any]]:
    if not config.get("session"):
        return []
    from webflows.models import BrowserSession

    stored = BrowserSession.objects.filter(site=config["session"]).first()
    if stored is None:
        raise NodeError(f"no stored browser session named {config['session']!r}", retryable=False)
    return list(stored.cookies)


def _not_text(url: str, content_type: str) -> NodeError:
    kind = content_type.split(";", 1)[0].strip() or "binary data"
    return NodeError(
        f"{url} answered with {kind}, not a text page: the page monitor compares text "
        "(watch the page that links to it, or fetch files with batch-download)",
        retryable=False,
    )


def _fetch_http(url: str, config: dict[str, Any], cookies: list[dict[str, Any]]) -> tuple[str, str]:
    timeout = float(config.get("timeout", 30))
    with fetch.make_client(headers=config.get("headers"), cookies=cookies, timeout=timeout) as client:
        response = fetch.get(client, url)
    content_type = response.headers.get("content-type", "")
    if not fetch.is_text_content(content_type, response.content):
        raise _not_text(str(response.url), content_type)
    return str(response.url), fetch.response_text(response)


def _fetch_browser(url: str, config: dict[str, Any], cookies: list[dict[str, Any]]) -> tuple[str, str]:
    timeout = float(config.get("timeout", 30))
    driver = BrowserDriver(cookies)
    try:
        loaded = driver.goto(url, timeout=timeout)
        content_type = str(loaded.get("contentType") or "")
        if not fetch.is_text_content(content_type, b""):
            raise _not_text(driver.current_url() or url, content_type)
        if config.get("waitFor"):
            driver.wait_for(selector=config["waitFor"], state="attached", url=None, timeout=timeout)
        return driver.current_url(), driver.html() or ""
    finally:
        driver.close()


def compare(old: list[str], new: list[str]) -> tuple[float, list[str], list[str]]:
    """(change ratio, added, removed) between two item lists (order-aware ratio)."""
    ratio = 1.0 - difflib.SequenceMatcher(None, old, new, autojunk=False).ratio()
    old_count, new_count = Counter(old), Counter(new)
    added = list((new_count - old_count).elements())
    removed = list((old_count - new_count).elements())
    return round(ratio, 4), added, removed


def run(config: dict[str, Any], input: Any, context: RunContext) -> dict[str, Any]:
    url = str(config.get("url") or config.get("targetUrl"))
    mode = config.get("mode", "http")
    # Read before any browser starts: no database calls while Playwright's loop runs.
    cookies = _cookies(config)
    fetcher = _fetch_browser if mode == "browser" else _fetch_http
    final_url, page = fetcher(url, config, cookies)
    soup = html.parse(page)
    title = html.text_of(soup.title) if soup.title else ""
    html.strip_noise(soup)
    region: Any = soup
    if config.get("selector"):
        matches = html.select(soup, config["selector"])
        if not matches:
            raise NodeError(f"no element matches selector {config['selector']!r} on {final_url}", retryable=False)
        region = matches[0]
    items = html.items_of(region, config.get("itemSelector"))[:MAX_ITEMS]
    links = html.links_of(region, final_url)
    media = html.media_of(region, final_url)

    previous = context.state_get("snapshot")
    first_run = previous is None
    empty = not page.strip() or (not items and bool(previous and previous.get("items")))
    if empty and config.get("onEmpty", "fail") != "change":
        had = len(previous.get("items") or []) if previous else 0
        raise NodeError(
            f"{final_url} returned no content ({'an empty body' if not page.strip() else 'no items'}"
            f"{f' where the last snapshot had {had}' if had else ''}); the saved snapshot is kept. "
            'Set "onEmpty": "change" to report an empty page as a change.',
            retryable=True,
        )
    removed: list[str]
    if first_run:
        ratio, added, removed = 1.0, list(items), []
        new_links, new_media = links, media
    else:
        ratio, added, removed = compare(list(previous.get("items") or []), items)
        old_links = set(previous.get("links") or [])
        old_media = set(previous.get("media") or [])
        new_links = [link for link in links if link["url"] not in old_links]
        new_media = [m for m in media if m["url"] not in old_media]
    threshold = float(config.get("changeThreshold", 0))
    has_changes = first_run or (ratio > 0 and ratio >= threshold)
    digest = hashlib.sha256("\n".join(items).encode("utf-8")).hexdigest()
    if empty:
        context.log(f"{final_url} returned no content: reported as a change, the saved snapshot is kept")
    else:
        context.state_set(
            "snapshot",
            {"items": items, "links": [link["url"] for link in links], "media": [m["url"] for m in media], "hash": digest},
        )
    return {
        "url": url,
        "finalUrl": final_url,
        "title": title,
        "hasChanges": has_changes,
        "changeRatio": ratio,
        "firstRun": first_run,
        "itemCount": len(items),
        "items": items,
        "added": added,
        "removed": removed,
        "links": links,
        "media": media,
        "newLinks": new_links,
        "newMedia": new_media,
        "contentHash": digest,
        "empty": empty,
        "checkedAt": datetime.now(UTC).isoformat(),
        "text": "\n".join(items),
    }


KIND = NodeKind(
    name="page-monitor",
    run=run,
    config_schema=CONFIG_SCHEMA,
    output_description=OUTPUT_DESCRIPTION,
    description="Watches a page (optionally narrowed by a CSS selector) and reports what changed since the "
    "last run: hasChanges, changeRatio, added/removed items, links and media.",
    aliases=("website-change-monitor",),
    needs_browser=False,
    example={"url": "http://127.0.0.1:8000/sandbox/news/", "mode": "http", "changeThreshold": 0},
)
