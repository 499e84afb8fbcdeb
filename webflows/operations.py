"""The operations a step workflow is made of, with the JSON Schema of each.

A step is an object ``{"op": "<operation>", "id": "<optional name>", ...}``
whose other keys are the operation's config (documented by ``OPERATIONS``).
Any string may hold ``${...}`` references: ``${name}`` reads the workflow's
input, ``${input...}`` the node's upstream input, ``${<stepId>.path}`` an
earlier step's result (steps without an ``id`` are named ``step1``,
``step2``, ...), other plain names a stored secret.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from orchestration.context import NodeError, RunContext
from webflows import fetch, html

if TYPE_CHECKING:
    from webflows.drivers import Driver

# Operations that only a real browser can do; a workflow using any of them runs in Chromium.
BROWSER_OPERATIONS = frozenset({"click", "fill", "scroll", "wait_for", "screenshot"})

_TIMEOUT = {"type": "number", "exclusiveMinimum": 0, "maximum": 600, "description": "Seconds (default 15)."}
_COMMON = {
    "op": {"type": "string"},
    "id": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "description": "Name for ${id.path} references."},
    "description": {"type": "string"},
    "skipIfLoggedIn": {
        "type": "boolean",
        "description": "Run this step only on the login page: skip it when the workflow's loginCheck says "
        "the current page is not the login page (a stored session already signed in).",
    },
}
_FRAME = {
    "type": "string",
    "minLength": 1,
    "description": "CSS selector of the <iframe> the step acts in (e.g. #editor or iframe[name=pay]); "
    "nested frames: outer >> inner. Needs a browser.",
}


def _schema(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {**_COMMON, **properties},
        "required": ["op", *(required or [])],
        "additionalProperties": False,
        **extra,
    }


OPERATIONS: dict[str, dict[str, Any]] = {
    "goto": _schema(
        {
            "url": {"type": "string", "description": "Absolute URL, or relative to the current page."},
            "timeout": _TIMEOUT,
            "checkLogin": {"type": "boolean", "description": "Apply the workflow's login check after it (default true)."},
        },
        ["url"],
        description="Open a URL (browser navigation, or an HTTP GET without a browser). "
        "Result: {url, status, title}.",
    ),
    "click": _schema(
        {"selector": {"type": "string"}, "frame": _FRAME, "timeout": _TIMEOUT, "checkLogin": {"type": "boolean"}},
        ["selector"],
        description="Click the first element matching a selector and wait for the page to settle. Result: {url}.",
    ),
    "fill": _schema(
        {"selector": {"type": "string"}, "frame": _FRAME, "value": {"type": ["string", "number"]}, "timeout": _TIMEOUT},
        ["selector", "value"],
        description="Type a value into a form field (the value is never echoed in the result).",
    ),
    "scroll": _schema(
        {
            "selector": {"type": "string", "description": "Scroll this element into view instead."},
            "times": {"type": "integer", "minimum": 1, "maximum": 100},
            "pixels": {"type": "integer", "minimum": 1},
            "pauseMs": {"type": "integer", "minimum": 0, "maximum": 10000},
        },
        description="Scroll the page (to load lazy content). Result: {scrollY}.",
    ),
    "wait_for": _schema(
        {
            "selector": {"type": "string"},
            "state": {"enum": ["attached", "detached", "visible", "hidden"]},
            "url": {"type": "string", "description": "Glob such as **/members/** the page URL must reach."},
            "frame": _FRAME,
            "timeout": _TIMEOUT,
        },
        description="Wait until an element reaches a state or the URL matches.",
        anyOf=[{"required": ["selector"]}, {"required": ["url"]}],
    ),
    "extract": _schema(
        {
            "selector": {"type": "string", "description": "CSS selector."},
            "frame": _FRAME,
            "type": {"enum": ["text", "attribute", "html", "links", "images"], "description": "Default text."},
            "attribute": {"type": "string", "description": "For type attribute."},
            "all": {"type": "boolean", "description": "Every match (default: the first)."},
            "required": {"type": "boolean", "description": "Fail when nothing matches (default true)."},
        },
        ["selector"],
        description="Read from the current page. Result: {value} (one) or {values, count} (all); links are "
        "{url, text}, images {url, alt}.",
    ),
    "screenshot": _schema(
        {"filename": {"type": "string"}, "fullPage": {"type": "boolean"}},
        description="Save a PNG of the page into the node's folder. Result: {path, size}.",
    ),
    "download": _schema(
        {
            "url": {"type": "string"},
            "urls": {
                "type": "array",
                "items": {"anyOf": [{"type": "string"}, {"type": "object"}]},
                "description": "URLs, or objects with url/href/src (e.g. an extract's values).",
            },
            "folder": {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"},
            "filename": {"type": "string"},
            "maxBytes": {"type": "integer", "minimum": 1},
            "minBytes": {"type": "integer", "minimum": 0},
            "contentTypes": {"type": "array", "items": {"type": "string"}},
            "timeout": _TIMEOUT,
        },
        description="Download files with the session's cookies into the node's folder. "
        "Result: {files: [{url, path, name, size, sha256, contentType}], count}.",
        anyOf=[{"required": ["url"]}, {"required": ["urls"]}],
    ),
    "http_request": _schema(
        {
            "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]},
            "url": {"type": "string"},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "params": {"type": "object"},
            "json": {},
            "form": {"type": "object"},
            "expectStatus": {"type": "array", "items": {"type": "integer"}},
            "timeout": _TIMEOUT,
        },
        ["url"],
        description="Call an HTTP API with the session's cookies. Result: {status, url, headers, json | text | "
        "binary: {size, sha256}} (text decoded as a browser does; binary bodies are not decoded).",
    ),
    "save": _schema(
        {
            "data": {"description": "What to save (usually a ${...} reference)."},
            "format": {"enum": ["json", "csv"]},
            "filename": {"type": "string"},
        },
        ["data", "filename"],
        description="Write data to a JSON or CSV file in the node's folder. Result: {path, size, sha256, rows}.",
    ),
}


@dataclass
class StepContext:
    """What an operation works with: the page driver and where files go."""

    driver: Driver
    run: RunContext
    folder: Path
    files: list[dict[str, Any]] = field(default_factory=list)

    def relative(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.folder))
        except ValueError:
            return str(path)


def _timeout(step: dict[str, Any]) -> float:
    return float(step.get("timeout", 15))


def _goto(step: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    url = urljoin(ctx.driver.current_url() or "", step["url"])
    return ctx.driver.goto(url, timeout=_timeout(step))


def _click(step: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    ctx.driver.click(step["selector"], timeout=_timeout(step), frame=step.get("frame"))
    return {"url": ctx.driver.current_url()}


def _fill(step: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    ctx.driver.fill(step["selector"], str(step["value"]), timeout=_timeout(step), frame=step.get("frame"))
    return {"selector": step["selector"]}


def _scroll(step: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    return ctx.driver.scroll(
        selector=step.get("selector"),
        times=int(step.get("times", 1)),
        pixels=step.get("pixels"),
        pause_ms=int(step.get("pauseMs", 200)),
    )


def _wait_for(step: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    ctx.driver.wait_for(
        selector=step.get("selector"),
        state=step.get("state", "visible"),
        url=step.get("url"),
        timeout=_timeout(step),
        frame=step.get("frame"),
    )
    return {"url": ctx.driver.current_url()}


def _extract(step: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    selector = step["selector"]
    kind = step.get("type", "text")
    base = ctx.driver.current_url()
    frame = step.get("frame")
    page = ctx.driver.html(frame=frame) if frame else ctx.driver.html()
    if page is None:
        raise NodeError("there is no page to extract from (add a goto step first)", retryable=False)
    if frame:
        base = ctx.driver.frame_url(frame)  # links inside the frame are relative to its document
    matches = html.select(html.parse(page), selector)
    if not matches and step.get("required", True):
        where = f"frame {frame!r} of {base}" if frame else base
        raise NodeError(f"no element matches selector {selector!r} in {where}", retryable=False)
    if kind == "attribute" and not step.get("attribute"):
        raise NodeError("extract type 'attribute' needs an 'attribute' name", retryable=False)
    if not step.get("all", False):
        matches = matches[:1]

    values: list[Any] = []
    for element in matches:
        if kind == "text":
            values.append(html.text_of(element))
        elif kind == "html":
            values.append(str(element))
        elif kind == "attribute":
            value = element.get(step["attribute"])
            values.append(" ".join(value) if isinstance(value, list) else value)
        elif kind == "links":
            found = html.links_of(element, base)
            if element.name == "a" and element.get("href"):
                found = [{"url": urljoin(base, str(element["href"])), "text": html.text_of(element)}]
            values.extend(found)
        elif kind == "images":
            if element.name == "img" and element.get("src"):
                values.append({"url": urljoin(base, str(element["src"])), "alt": str(element.get("alt", ""))})
            else:
                values.extend(
                    {"url": m["url"], "alt": m["alt"]} for m in html.media_of(element, base) if m["type"] == "image"
                )
    if step.get("all", False) or kind in ("links", "images"):
        return {"values": values, "count": len(values)}
    return {"value": values[0] if values else None}


def _screenshot(step: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    path = ctx.folder / fetch.filename_for("", "image/png", step.get("filename") or "screenshot.png")
    ctx.driver.screenshot(path, full_page=bool(step.get("fullPage", False)))
    record = {"path": ctx.relative(path), "size": path.stat().st_size, "contentType": "image/png"}
    ctx.files.append(record)
    return record


def _urls_from(step: dict[str, Any]) -> list[str]:
    urls: list[str] = [step["url"]] if step.get("url") else []
    for item in step.get("urls") or []:
        if isinstance(item, str):
            urls.append(item)
        elif isinstance(item, dict):
            found = next((item[k] for k in ("url", "href", "src") if isinstance(item.get(k), str)), None)
            if found is None:
                raise NodeError(f"download item {item!r} has no url/href/src", retryable=False)
            urls.append(found)
    return urls


def _download(step: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    folder = ctx.folder / step["folder"] if step.get("folder") else ctx.folder
    base = ctx.driver.current_url() or ""
    records = []
    with ctx.driver.http_client(timeout=_timeout(step)) as client:
        for url in _urls_from(step):
            ctx.run.check_cancelled()
            absolute = urljoin(base, url)
            try:
                file, _ = fetch.download(
                    client,
                    absolute,
                    folder,
                    max_bytes=step.get("maxBytes"),
                    min_bytes=int(step.get("minBytes", 0)),
                    content_types=step.get("contentTypes"),
                    filename=step.get("filename") if step.get("url") and not step.get("urls") else None,
                )
            except fetch.TooSmall as small:
                ctx.run.log(f"skipped {absolute}: {small.size} bytes is below minBytes")
                continue
            record = file.as_json(ctx.folder)
            records.append(record)
            ctx.files.append(record)
    return {"files": records, "count": len(records)}


def _http_request(step: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    import httpx  # imported on first use: a web process seldom needs it (16 MB RSS)
    url = urljoin(ctx.driver.current_url() or "", step["url"])
    method = step.get("method", "GET")
    problem = fetch.header_value_error(step.get("headers"))
    if problem:
        raise NodeError(problem, retryable=False)
    with ctx.driver.http_client(timeout=_timeout(step)) as client:
        try:
            response = client.request(
                method,
                url,
                headers=step.get("headers"),
                params=step.get("params"),
                json=step.get("json"),
                data=step.get("form"),
            )
        except httpx.HTTPError as exc:
            raise fetch.transport_error(exc, url, _timeout(step)) from exc
    expected = step.get("expectStatus")
    if (expected and response.status_code not in expected) or (not expected and response.status_code >= 400):
        raise fetch.status_error(response)
    result: dict[str, Any] = {
        "status": response.status_code,
        "url": str(response.url),
        "headers": {k: v for k, v in response.headers.items() if k.lower() != "set-cookie"},
    }
    if "json" in response.headers.get("content-type", ""):
        try:
            result["json"] = fetch.response_json(response)
        except ValueError as exc:
            raise NodeError(f"{url} said it returned JSON but the body is not valid JSON") from exc
    elif fetch.is_text_content(response.headers.get("content-type"), response.content):
        result["text"] = fetch.response_text(response)
    else:  # binary content: described, never decoded into junk text
        result["binary"] = {"size": len(response.content), "sha256": hashlib.sha256(response.content).hexdigest()}
    return result


def _save(step: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    data = step["data"]
    fmt = step.get("format") or ("csv" if step["filename"].endswith(".csv") else "json")
    rows = len(data) if isinstance(data, list) else 1
    if fmt == "json":
        body = json.dumps(data, ensure_ascii=False, indent=2)
    else:
        if not isinstance(data, list):
            raise NodeError("save as CSV needs a list (of objects or of lists)", retryable=False)
        buffer = io.StringIO()
        if data and all(isinstance(row, dict) for row in data):
            columns: list[str] = []
            for row in data:
                columns.extend(k for k in row if k not in columns)
            writer = csv.DictWriter(buffer, fieldnames=columns)
            writer.writeheader()
            for row in data:
                writer.writerow({k: _cell(v) for k, v in row.items()})
        else:
            writer_rows = csv.writer(buffer)
            for row in data:
                writer_rows.writerow([_cell(v) for v in row] if isinstance(row, list) else [_cell(row)])
        body = buffer.getvalue()
    raw = body.encode("utf-8")
    path = ctx.folder / fetch.filename_for("", "", step["filename"])
    tmp = path.with_name(f".partial-{path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp.write_bytes(raw)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    record = {
        "path": ctx.relative(path),
        "name": path.name,
        "size": len(raw),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "rows": rows,
        "contentType": "application/json" if fmt == "json" else "text/csv",
    }
    ctx.files.append(record)
    return record


def _cell(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


IMPLEMENTATIONS: dict[str, Callable[[dict[str, Any], StepContext], dict[str, Any]]] = {
    "goto": _goto,
    "click": _click,
    "fill": _fill,
    "scroll": _scroll,
    "wait_for": _wait_for,
    "extract": _extract,
    "screenshot": _screenshot,
    "download": _download,
    "http_request": _http_request,
    "save": _save,
}


def step_target(step: dict[str, Any]) -> str:
    """The selector or URL a step works on, for error messages."""
    for key in ("selector", "url"):
        if isinstance(step.get(key), str):
            return f"{key} {step[key]!r}"
    if step.get("urls"):
        return f"{len(step['urls'])} URLs"
    return ""
