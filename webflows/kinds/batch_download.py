"""Batch download: fetches the media (or pages) named by its input or config
with bounded concurrency, limits, retries and checksum de-duplication across
runs. Files go to MEDIA_ROOT/tasks/<taskId>/<nodeId>/."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestration.context import NodeCancelled, NodeError, RunContext
from orchestration.registry import NodeKind
from webflows import fetch

if TYPE_CHECKING:
    import httpx

QUALITY_ORDER = {
    "original": ("original", "medium", "thumbnail"),
    "medium": ("medium", "original", "thumbnail"),
    "thumbnail": ("thumbnail", "medium", "original"),
}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "urls": {
            "type": "array",
            "items": {"anyOf": [{"type": "string"}, {"type": "object"}]},
            "description": "Extra URLs (or {url} objects) to download besides the input's media.",
        },
        "maxPosts": {"type": "integer", "minimum": 1, "description": "Use at most this many posts of the input."},
        "mediaQuality": {
            "enum": ["thumbnail", "medium", "original"],
            "description": "Variant to fetch where the source offers several (default original).",
        },
        "includeComments": {
            "type": "boolean",
            "description": "Also fetch each post's comments from the Weibo API (default false).",
        },
        "onlyNewPosts": {"type": "boolean", "description": "Use the input's newPosts instead of all posts."},
        "includeLinks": {
            "type": "boolean",
            "description": "Also download the pages in the input's links (a page monitor's); set contentTypes "
            "to allow text/html (default false: media only).",
        },
        "concurrency": {"type": "integer", "minimum": 1, "maximum": 16, "description": "Parallel downloads (default 4)."},
        "maxBytes": {"type": "integer", "minimum": 1, "description": "Size limit per file (default 50 MB)."},
        "minBytes": {"type": "integer", "minimum": 0, "description": "Smaller files are skipped (default 0)."},
        "contentTypes": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Allowed content types, wildcards allowed (default image/* and video/*; [] allows all).",
        },
        "retries": {"type": "integer", "minimum": 0, "maximum": 10, "description": "Retries per file (default 2)."},
        "retryDelay": {"type": "number", "minimum": 0, "maximum": 300, "description": "Seconds, doubled per retry (default 1)."},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 600, "description": "Seconds per request (default 30)."},
        "skipKnownUrls": {
            "type": "boolean",
            "description": "Do not fetch again URLs an earlier run downloaded (default true).",
        },
        "continueOnError": {
            "type": "boolean",
            "description": "Finish with the files that worked when some fail (default false: the node fails).",
        },
    },
    "additionalProperties": False,
}

OUTPUT_DESCRIPTION = (
    "{files: [{url, path, name, size, sha256, contentType, postId}], total, downloaded, skipped, failed, "
    "deduplicated, counts: {...}, failures: [{url, error}], skippedItems: [{url, reason}], folder, mediaQuality, "
    "posts (passed through, with localFiles), text, source, uid}"
)


@dataclass
class Item:
    url: str
    post_id: str | None = None


@dataclass
class Outcome:
    item: Item
    file: dict[str, Any] | None = None
    duplicate: bool = False
    skipped_reason: str | None = None
    error: str | None = None
    retryable: bool = True


@dataclass
class Plan:
    items: list[Item] = field(default_factory=list)
    posts: list[dict[str, Any]] = field(default_factory=list)


def _url_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("url", "href", "src"):
            if isinstance(value.get(key), str):
                return value[key]
    return None


def plan_items(config: dict[str, Any], input: Any) -> Plan:
    """What to download: posts' media (in the chosen quality), media/links/urls
    lists, files of an upstream step workflow, and config.urls."""
    plan = Plan()
    quality = config.get("mediaQuality", "original")
    seen: set[str] = set()

    def add(url: str | None, post_id: str | None = None) -> None:
        if url and url not in seen:
            seen.add(url)
            plan.items.append(Item(url, post_id))

    data = input if isinstance(input, dict) else {"urls": input} if isinstance(input, list) else {}
    posts = data.get("newPosts") if config.get("onlyNewPosts") and "newPosts" in data else data.get("posts")
    if isinstance(posts, list):
        plan.posts = [p for p in posts if isinstance(p, dict)][: config.get("maxPosts") or None]
        for post in plan.posts:
            entries = list(post.get("media") or [])
            retweeted = post.get("retweeted")
            if isinstance(retweeted, dict):
                entries += list(retweeted.get("media") or [])
            for media in entries:
                if not isinstance(media, dict):
                    continue
                variants = media.get("variants") or {}
                url = next((variants[q] for q in QUALITY_ORDER[quality] if variants.get(q)), None) or _url_of(media)
                add(url, str(post.get("id") or "") or None)
    for key in ("media", "urls", "links") if config.get("includeLinks") else ("media", "urls"):
        for value in data.get(key) or []:
            add(_url_of(value))
    for value in data.get("files") or []:
        if isinstance(value, dict) and isinstance(value.get("url"), str):
            add(value["url"])
    for value in config.get("urls") or []:
        add(_url_of(value))
    return plan


def _fetch_comments(client: httpx.Client, api_base: str, post_id: str) -> list[dict[str, Any]]:
    response = fetch.get(client, f"{api_base}/api/comments/show", params={"id": post_id, "page": 1})
    try:
        payload = fetch.response_json(response)
    except ValueError as exc:
        raise NodeError(f"comments of post {post_id}: the answer is not JSON") from exc
    if payload.get("ok") != 1:
        return []
    comments = []
    for comment in (payload.get("data") or {}).get("data") or []:
        user = comment.get("user") or {}
        comments.append(
            {
                "id": str(comment.get("id", "")),
                "text": fetch_plain(str(comment.get("text") or "")),
                "user": user.get("screen_name"),
                "createdAtRaw": comment.get("created_at"),
            }
        )
    return comments


def fetch_plain(text_html: str) -> str:
    from webflows import html

    return html.text_of(html.parse(f"<div>{text_html}</div>"))


def run(config: dict[str, Any], input: Any, context: RunContext) -> dict[str, Any]:
    plan = plan_items(config, input)
    folder: Path = context.workdir / context.node_id
    folder.mkdir(parents=True, exist_ok=True)
    max_bytes = int(config.get("maxBytes", 50 * 1024 * 1024))
    min_bytes = int(config.get("minBytes", 0))
    content_types = config.get("contentTypes", ["image/*", "video/*"])
    max_retries = int(config.get("retries", 2))  # the config's "retries" are the retries allowed
    retry_delay = float(config.get("retryDelay", 1))
    timeout = float(config.get("timeout", 30))
    skip_known = bool(config.get("skipKnownUrls", True))

    known_urls: dict[str, dict[str, Any]] = dict(context.state_get("downloadedUrls") or {})
    checksums: dict[str, str] = {
        sha: path for sha, path in (context.state_get("checksums") or {}).items() if Path(path).exists()
    }
    lock = threading.Lock()
    outcomes: list[Outcome] = []
    todo: list[Item] = []
    for item in plan.items:
        if skip_known and item.url in known_urls and Path(known_urls[item.url].get("path", "")).exists():
            outcomes.append(Outcome(item, skipped_reason="downloaded by an earlier run"))
        else:
            todo.append(item)

    def work(item: Item, client: httpx.Client) -> Outcome:
        retries = 0
        while True:
            if context.cancelled():
                raise NodeCancelled("the node was stopped")
            try:
                with lock:
                    known = dict(checksums)
                file, duplicate = fetch.download(
                    client, item.url, folder, max_bytes=max_bytes, min_bytes=min_bytes,
                    content_types=content_types, known_checksums=known,
                )
            except fetch.TooSmall as small:
                return Outcome(item, skipped_reason=f"{small.size} bytes is below minBytes {min_bytes}")
            except NodeError as exc:
                if exc.retryable and retries < max_retries:
                    retries += 1
                    context.sleep(retry_delay * 2 ** (retries - 1))
                    continue
                return Outcome(item, error=str(exc), retryable=exc.retryable)
            record = file.as_json(folder)
            record["path"] = str(file.path)
            record["postId"] = item.post_id
            with lock:
                checksums.setdefault(file.sha256, str(file.path))
            return Outcome(item, file=record, duplicate=duplicate)

    with fetch.make_client(timeout=timeout) as client:
        with ThreadPoolExecutor(max_workers=int(config.get("concurrency", 4))) as pool:
            outcomes.extend(pool.map(lambda item: work(item, client), todo))
        context.check_cancelled()
        comment_errors = _attach_comments(config, input, plan, client, context)

    _drop_same_run_duplicates(outcomes)
    files = [o.file for o in outcomes if o.file and not o.duplicate]
    for outcome in outcomes:
        if outcome.file:
            known_urls[outcome.item.url] = {"sha256": outcome.file["sha256"], "path": outcome.file["path"]}
    # Kept even when some files failed: what was stored is complete and need not be fetched again.
    context.state_set("downloadedUrls", known_urls)
    context.state_set("checksums", checksums)

    by_post: dict[str, list[str]] = {}
    for outcome in outcomes:
        path = (outcome.file or {}).get("path") or known_urls.get(outcome.item.url, {}).get("path")
        if outcome.item.post_id and path:
            by_post.setdefault(outcome.item.post_id, []).append(path)
    posts = [{**post, "localFiles": by_post.get(str(post.get("id")), [])} for post in plan.posts]
    failures = [{"url": o.item.url, "error": o.error} for o in outcomes if o.error]
    counts = {
        "total": len(plan.items),
        "downloaded": len(files),
        "skipped": sum(1 for o in outcomes if o.skipped_reason),
        "failed": len(failures),
        "deduplicated": sum(1 for o in outcomes if o.duplicate),
    }
    if posts:
        _write_posts_file(folder, posts)
    context.log(f"downloaded {counts['downloaded']} of {counts['total']} ({counts['skipped']} skipped, "
                f"{counts['deduplicated']} duplicates, {counts['failed']} failed)")
    if failures and not config.get("continueOnError", False):
        first = failures[0]
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        # Worth retrying the node only if some failure may pass next time (not a size or type refusal).
        retryable = any(o.retryable for o in outcomes if o.error)
        raise NodeError(f"download failed for {first['url']}: {first['error']}{more}", retryable=retryable)
    data = input if isinstance(input, dict) else {}
    return {
        "files": files,
        **counts,
        "counts": counts,
        "failures": failures,
        "commentErrors": comment_errors,
        "skippedItems": [{"url": o.item.url, "reason": o.skipped_reason} for o in outcomes if o.skipped_reason],
        "duplicates": [{"url": o.item.url, "sameAs": o.file["path"]} for o in outcomes if o.duplicate and o.file],
        "folder": str(folder),
        "mediaQuality": config.get("mediaQuality", "original"),
        "source": data.get("source"),
        "uid": data.get("uid"),
        "posts": posts,
        "text": "\n".join(str(p.get("text") or "") for p in posts) or str(data.get("text") or ""),
    }


def _drop_same_run_duplicates(outcomes: list[Outcome]) -> None:
    """Parallel downloads of the same bytes under different URLs cannot see
    each other's checksum in time: keep the first file, drop the others."""
    first_by_sha: dict[str, dict[str, Any]] = {}
    for outcome in outcomes:
        if not outcome.file or outcome.duplicate:
            continue
        kept = first_by_sha.setdefault(outcome.file["sha256"], outcome.file)
        if kept is not outcome.file:
            if outcome.file["path"] != kept["path"]:
                Path(outcome.file["path"]).unlink(missing_ok=True)
            outcome.file = {**outcome.file, "path": kept["path"], "name": kept["name"]}
            outcome.duplicate = True


def _attach_comments(
    config: dict[str, Any], input: Any, plan: Plan, client: httpx.Client, context: RunContext
) -> list[str]:
    """With includeComments, each post gets its comments (errors are listed, not fatal)."""
    api_base = input.get("apiBase") if isinstance(input, dict) else None
    if not config.get("includeComments") or not api_base:
        return []
    errors = []
    for post in plan.posts:
        context.check_cancelled()
        if not post.get("commentsCount"):
            post["comments"] = []
            continue
        try:
            post["comments"] = _fetch_comments(client, str(api_base), str(post.get("id")))
        except NodeError as exc:
            errors.append(f"post {post.get('id')}: {exc}")
    return errors


def _write_posts_file(folder: Path, posts: list[dict[str, Any]]) -> None:
    tmp = folder / ".partial-posts.json"
    try:
        tmp.write_text(json.dumps(posts, ensure_ascii=False, indent=2), encoding="utf-8")
        tmp.replace(folder / "posts.json")
    finally:
        tmp.unlink(missing_ok=True)


KIND = NodeKind(
    name="batch-download",
    run=run,
    config_schema=CONFIG_SCHEMA,
    output_description=OUTPUT_DESCRIPTION,
    description="Downloads media from its input (Weibo posts, page media, URL lists) with limits, retries and "
    "checksum de-duplication across runs.",
    aliases=("weibo-batch-download-workflow",),
    example={"urls": ["http://127.0.0.1:8000/sandbox/images/banner.png"], "concurrency": 2, "retries": 1},
)
