"""HTTP helpers shared by the built-in kinds and the step operations: one
place that turns transport failures into messages an operator understands,
and one downloader that never leaves a partial file behind."""

from __future__ import annotations

import fnmatch
import hashlib
import mimetypes
import os
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from w3lib.encoding import html_to_unicode

from orchestration import secret_hosts
from orchestration.context import NodeError
from orchestration.urlpolicy import check_fetch_url

if TYPE_CHECKING:
    import httpx

DEFAULT_TIMEOUT = 30.0
DEFAULT_USER_AGENT = "WebAutoOrchestrator/1.0 (+https://github.com/webauto)"
_CHUNK = 64 * 1024


def header_value_error(headers: dict[str, Any] | None) -> str | None:
    """A message naming the first header whose value HTTP cannot carry (httpx
    sends header values as ASCII; RFC 9110 section 5.5 allows only visible
    ASCII, space and tab in practice), or None. The value is never quoted: it
    may be a resolved secret."""
    for name, value in (headers or {}).items():
        if isinstance(value, str) and not value.isascii():
            return (
                f'header "{name}" has non-ASCII characters in its value (a ${{secret}} there?): '
                "HTTP header values must be ASCII; percent-encode or base64 the value"
            )
    return None


def make_client(
    *,
    headers: dict[str, str] | None = None,
    cookies: Iterable[dict[str, Any]] | dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> httpx.Client:
    """An httpx client that follows redirects, with cookies given either as a
    name -> value map or as Playwright-style cookie dicts (with domain/path).

    Every request it sends, each hop of a redirect included, first passes
    :func:`orchestration.urlpolicy.check_fetch_url` (http/https only, and no
    private addresses when so configured); a refused one raises
    :class:`orchestration.urlpolicy.URLNotAllowed`. A header value that is not
    ASCII raises a NodeError (not retryable) naming the header."""
    import httpx  # imported on first use: a web process seldom needs it (16 MB RSS)
    problem = header_value_error(headers)
    if problem:
        raise NodeError(problem, retryable=False)
    jar = httpx.Cookies()
    if isinstance(cookies, dict):
        for name, value in cookies.items():
            jar.set(name, value)
    elif cookies:
        for cookie in cookies:
            if cookie.get("name") and cookie.get("value") is not None:
                domain = (cookie.get("domain") or "").lstrip(".")
                if domain and "." not in domain:
                    # http.cookiejar matches a dotless host (localhost) as "<host>.local".
                    domain = f"{domain}.local"
                jar.set(cookie["name"], str(cookie["value"]), domain=domain, path=cookie.get("path") or "/")
    return httpx.Client(
        headers={"User-Agent": DEFAULT_USER_AGENT, **(headers or {})},
        cookies=jar,
        timeout=timeout,
        follow_redirects=True,
        # Both run for each request, redirects included: only http(s) URLs, and a
        # restricted secret never leaves for a host it does not allow.
        event_hooks={"request": [_guard_request, secret_hosts.httpx_request_hook]},
    )


def _guard_request(request: httpx.Request) -> None:
    check_fetch_url(str(request.url))


def transport_error(exc: Exception, url: str, timeout: float | None = None) -> NodeError:
    """A NodeError with a plain-language message for an httpx failure."""
    import httpx  # imported on first use: a web process seldom needs it (16 MB RSS)
    host = urlsplit(url).netloc or url
    if isinstance(exc, httpx.TimeoutException):
        limit = f" after {timeout:g}s" if timeout else ""
        return NodeError(f"timed out{limit} waiting for {url}")
    if isinstance(exc, httpx.ConnectError):
        return NodeError(f"cannot reach host {host} ({exc or 'connection failed'}) for {url}")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return NodeError(f"invalid URL {url!r}: {exc}", retryable=False)
    if isinstance(exc, httpx.TooManyRedirects):
        return NodeError(f"too many redirects fetching {url}", retryable=False)
    return NodeError(f"HTTP request to {url} failed: {exc}")


def status_error(response: httpx.Response) -> NodeError:
    """A NodeError for a 4xx/5xx response (4xx other than 408/429 are not retryable)."""
    code = response.status_code
    retryable = code >= 500 or code in (408, 418, 429)
    return NodeError(
        f"HTTP {code} {response.reason_phrase} from {response.url}", retryable=retryable
    )


def get(client: httpx.Client, url: str, **kwargs: Any) -> httpx.Response:
    """GET ``url``; raise a clear NodeError on transport failure or 4xx/5xx."""
    import httpx  # imported on first use: a web process seldom needs it (16 MB RSS)
    try:
        response = client.get(url, **kwargs)
    except httpx.HTTPError as exc:
        raise transport_error(exc, url, _timeout_of(client)) from exc
    if response.status_code >= 400:
        raise status_error(response)
    return response


def _timeout_of(client: httpx.Client) -> float | None:
    return client.timeout.read


def _detect_encoding(body: bytes) -> str | None:
    """charset-normalizer's best guess for bytes that declare no encoding
    (None when it has none, e.g. for pure ASCII, which UTF-8 then decodes).
    Imported here: its 2.5 MB of tables only load once a page needs guessing."""
    from charset_normalizer import from_bytes

    best = from_bytes(body[:65536]).best()
    return best.encoding if best is not None else None


_CHARSET_LABEL = re.compile(r"charset\s*=\s*[\"']?\s*([A-Za-z0-9._:-]+)", re.IGNORECASE)
# WHATWG Encoding Standard: the labels of UTF-16LE.
_UTF16LE_LABELS = frozenset({"csunicode", "iso-10646-ucs-2", "ucs-2", "unicode", "unicodefeff", "utf-16"})


def decode_text(body: bytes, content_type: str | None) -> tuple[str, str]:
    """``(text, encoding)`` of a fetched body, decoded the way a browser does.

    Order (w3lib's ``html_to_unicode``, the one Scrapy uses): a byte-order
    mark; else the ``charset`` of the Content-Type header; else a
    ``<meta charset>`` or ``<meta http-equiv="Content-Type">`` in the first
    4 KB; else charset-normalizer's detection; else UTF-8. Labels follow the
    WHATWG Encoding Standard's mapping, so ``gb2312`` and ``gbk`` decode as
    GB18030 (a page declared gb2312 that uses GBK-only characters such as
    镕 or 喆 reads right) and ``iso-8859-1``/``ascii`` as windows-1252. Bytes
    the chosen encoding cannot decode become U+FFFD, never an exception.
    ``encoding`` is the Python codec name that was used. A bare ``utf-16``
    label (and its aliases ``unicode``, ``ucs-2`` ...) means UTF-16LE, as in
    the Encoding Standard, when no BOM says otherwise."""
    if content_type:
        label = _CHARSET_LABEL.search(content_type)
        if label and label.group(1).lower() in _UTF16LE_LABELS:
            content_type = content_type[: label.start(1)] + "utf-16le" + content_type[label.end(1):]
    encoding, text = html_to_unicode(content_type, body, auto_detect_fun=_detect_encoding)
    return text, encoding


def response_text(response: httpx.Response) -> str:
    """The decoded text of a response (see :func:`decode_text`); every fetch
    of text (page monitor, content analysis, step workflows, Weibo) uses it
    instead of httpx's own ``response.text``."""
    return decode_text(response.content, response.headers.get("content-type"))[0]


def response_json(response: httpx.Response) -> Any:
    """The JSON body of a response, decoded by :func:`response_text`.
    Raises ValueError when it is not JSON."""
    import json

    return json.loads(response_text(response))


_TEXT_TYPES = ("application/xhtml+xml", "application/xml", "application/json", "application/javascript",
               "application/rss+xml", "application/atom+xml", "application/ld+json")


_BINARY_BYTES = frozenset(b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0e\x0f\x10\x11"
                          b"\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1c\x1d\x1e\x1f")
_WIDE_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*(utf-?16|utf-?32|ucs-?2|ucs-?4)", re.IGNORECASE)


def is_text_content(content_type: str | None, body: bytes) -> bool:
    """Whether a body is text a page can be read from.

    The Content-Type must be ``text/*``, ``*+xml``, ``*+json`` or one of the
    XML/JSON/JavaScript types (a missing one counts as text). A body whose
    Content-Type declares a UTF-16/UTF-32 charset, or that starts with a UTF
    byte-order mark, is text (such text is full of NUL bytes). Otherwise, as
    in the WHATWG MIME Sniffing Standard's binary check, the first 1 KB must
    hold almost no NUL or other binary control byte: a few (at most 1 in 64
    bytes, and at least 1) are tolerated, since real pages carry a stray NUL,
    so ``image/png``, ``application/octet-stream`` or a PNG served as
    ``text/html`` are not text."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    if base and not (
        base.startswith("text/") or base.endswith(("+xml", "+json")) or base in _TEXT_TYPES
    ):
        return False
    if content_type and _WIDE_CHARSET.search(content_type):
        return True
    head = body[:1024]
    if head.startswith((b"\xef\xbb\xbf", b"\xfe\xff", b"\xff\xfe")):
        return True  # a UTF BOM: UTF-16 text holds NUL bytes
    binary = sum(1 for byte in head if byte in _BINARY_BYTES)
    return binary <= max(1, len(head) // 64)


def content_type_allowed(content_type: str, allowed: list[str] | None) -> bool:
    """``allowed`` holds patterns such as ``image/*`` or ``video/mp4``; empty allows all."""
    if not allowed:
        return True
    base = content_type.split(";", 1)[0].strip().lower()
    return any(fnmatch.fnmatch(base, pattern.lower()) for pattern in allowed)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def filename_for(url: str, content_type: str, preferred: str | None = None) -> str:
    """A safe file name from ``preferred`` or the URL's last path segment,
    with an extension guessed from the content type when it has none."""
    raw = preferred or unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]) or "download"
    name = _UNSAFE.sub("_", raw).strip("._") or "download"
    if "." not in name:
        guessed = mimetypes.guess_extension(content_type.split(";", 1)[0].strip()) or ""
        name += guessed
    return name[:150]


@dataclass
class DownloadedFile:
    url: str
    path: Path
    size: int
    sha256: str
    content_type: str

    def as_json(self, root: Path | None = None) -> dict[str, Any]:
        return {
            "url": self.url,
            "path": str(self.path.relative_to(root)) if root and self.path.is_relative_to(root) else str(self.path),
            "name": self.path.name,
            "size": self.size,
            "sha256": self.sha256,
            "contentType": self.content_type,
        }


class TooSmall(Exception):
    """The file is below the minimum size: skipped, not an error."""

    def __init__(self, size: int) -> None:
        super().__init__(f"{size} bytes")
        self.size = size


def download(
    client: httpx.Client,
    url: str,
    dest_dir: Path,
    *,
    max_bytes: int | None = None,
    min_bytes: int = 0,
    content_types: list[str] | None = None,
    filename: str | None = None,
    known_checksums: dict[str, str] | None = None,
) -> tuple[DownloadedFile, bool]:
    """Stream ``url`` into ``dest_dir``.

    The body goes to a hidden temporary file that is renamed into place only
    once complete and accepted, so any error (size limit, content type,
    timeout, connection drop, cancellation) leaves nothing behind. Returns the
    file and whether it is a duplicate: when the body's sha256 is a key of
    ``known_checksums`` the temporary file is dropped and the earlier file's
    path (the mapped value) is returned instead.
    """
    import httpx  # imported on first use: a web process seldom needs it (16 MB RSS)
    dest_dir.mkdir(parents=True, exist_ok=True)
    tmp = dest_dir / f".partial-{uuid.uuid4().hex}"
    try:
        with client.stream("GET", url) as response:
            if response.status_code >= 400:
                raise status_error(response)
            content_type = response.headers.get("content-type", "application/octet-stream")
            if not content_type_allowed(content_type, content_types):
                raise NodeError(
                    f"{url} has content type {content_type.split(';')[0]!r}, "
                    f"not one of the allowed types {', '.join(content_types or [])}",
                    retryable=False,
                )
            declared = response.headers.get("content-length")
            if max_bytes is not None and declared and declared.isdigit() and int(declared) > max_bytes:
                raise NodeError(
                    f"{url} is {int(declared)} bytes, over the size limit of {max_bytes} bytes",
                    retryable=False,
                )
            digest = hashlib.sha256()
            size = 0
            with tmp.open("wb") as fh:
                for chunk in response.iter_bytes(_CHUNK):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise NodeError(
                            f"{url} is over the size limit of {max_bytes} bytes", retryable=False
                        )
                    digest.update(chunk)
                    fh.write(chunk)
        if size < min_bytes:
            raise TooSmall(size)
        checksum = digest.hexdigest()
        if known_checksums and checksum in known_checksums:
            tmp.unlink(missing_ok=True)
            return DownloadedFile(url, Path(known_checksums[checksum]), size, checksum, content_type), True
        name = filename_for(url, content_type, filename)
        stem, dot, ext = name.partition(".")
        suffix = 0
        while True:
            tag = "" if suffix == 0 else f"-{checksum[:8]}" + (f"-{suffix}" if suffix > 1 else "")
            target = dest_dir / f"{stem}{tag}{dot}{ext}"
            try:
                # A hard link claims the name atomically: parallel downloads
                # never overwrite each other's files.
                os.link(tmp, target)
                break
            except FileExistsError:
                suffix += 1
        return DownloadedFile(url, target, size, checksum, content_type), False
    except httpx.HTTPError as exc:
        raise transport_error(exc, url, _timeout_of(client)) from exc
    finally:
        tmp.unlink(missing_ok=True)
