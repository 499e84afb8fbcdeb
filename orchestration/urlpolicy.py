"""What a node may fetch: only ``http`` and ``https`` URLs, and optionally no
private or loopback addresses.

A browser will happily open ``file:///etc/passwd``, ``data:`` documents,
``chrome://`` pages or ``view-source:``; an HTTP client follows redirects
wherever they point. Every way a node loads something (page monitor in HTTP
or browser mode, step workflow ``goto``/``download``/``http_request``,
redirects, batch downloads, content analysis) goes through this module:

- at validation, :func:`url_problems` refuses any literal URL whose scheme is
  not ``http``/``https`` (URLs built from ``${...}`` references are checked at
  run time instead);
- at run time, :func:`check_fetch_url` is called for every request the HTTP
  client sends (redirects included) and for every request and navigation the
  browser makes.

The rule follows changedetection.io, which allows only ``http``/``https`` and
makes other schemes an explicit opt-in. Refusing private and loopback
addresses (``WEBAUTO_BLOCK_PRIVATE_ADDRESSES``) is off by default, because a
self-hosted tool is usually pointed at an intranet on purpose; README's
security section says so.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from orchestration.context import NodeError

ALLOWED_SCHEMES = frozenset({"http", "https"})
# A scheme is letters, digits, "+", "-", "." after a leading letter (RFC 3986 §3.1).
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
# WHATWG URL Standard, basic URL parser: leading and trailing "C0 control or
# space" are stripped, and every ASCII tab or newline is removed, before the
# scheme is read (so a browser opens "\x01fi\tle:///etc/passwd" as file:).
_C0_OR_SPACE = "".join(chr(c) for c in range(0x21))
_TAB_OR_NEWLINE = re.compile("[\t\n\r]")
# Config keys that name something a node loads: url, targetUrl, urls, startUrl, ...
_URL_KEY_RE = re.compile(r"(^|[a-z_])(url|urls|href|src)$", re.IGNORECASE)


class URLNotAllowed(NodeError):
    """A node tried to load a URL the policy refuses (never worth a retry)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


def preprocess(url: str) -> str:
    """``url`` as a browser reads it before parsing (WHATWG URL Standard,
    basic URL parser): leading/trailing C0 controls and spaces stripped,
    ASCII tabs and newlines removed anywhere."""
    return _TAB_OR_NEWLINE.sub("", url.strip(_C0_OR_SPACE))


def scheme_of(url: str) -> str | None:
    """The lower-cased scheme of ``url`` (after :func:`preprocess`), or None
    for a relative URL (``/path``, ``page.html``) or a glob such as
    ``**/members/**``."""
    match = _SCHEME_RE.match(preprocess(url))
    return match.group(1).lower() if match else None


def scheme_problem(url: str) -> str | None:
    """A message if ``url`` has a scheme other than http/https, else None.

    ``url`` is a literal string; one that contains a ``${...}`` reference is
    not judged here (its value is known only at run time).
    """
    if "${" in url:
        return None
    scheme = scheme_of(url)
    if scheme is None or scheme in ALLOWED_SCHEMES:
        return None
    return (
        f"only http and https URLs may be loaded, not {scheme}: URLs "
        f"(got {_shorten(url)!r})"
    )


def _shorten(url: str, limit: int = 80) -> str:
    return url if len(url) <= limit else url[: limit - 1] + "…"


def _url_strings(value: Any, path: str, under_url_key: bool) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        if under_url_key:
            yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            yield from _url_strings(item, child, under_url_key or bool(_URL_KEY_RE.search(str(key))))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _url_strings(item, f"{path}[{index}]", under_url_key)


def url_problems(config: Any, path: str) -> list[tuple[str, str]]:
    """``[(json_path, message)]`` for every literal URL in ``config`` (a node's
    config or a step workflow's steps) whose scheme is not http/https.

    A URL is any string under a key named ``url``, ``urls``, ``href``, ``src``
    or ending in ``Url``/``Urls`` (``targetUrl``, ``startUrl``), at any depth.
    """
    found = []
    for where, url in _url_strings(config, path, False):
        message = scheme_problem(url)
        if message:
            found.append((where, message))
    return found


def blocked_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The networks of ``settings.WEBAUTO_BLOCKED_NETWORKS`` (CIDR strings such
    as ``169.254.169.254/32`` or ``10.20.0.0/16``), refused whatever
    ``WEBAUTO_BLOCK_PRIVATE_ADDRESSES`` says. Raises ValueError for a string
    that is not a network."""
    return [ipaddress.ip_network(str(net).strip(), strict=False)
            for net in getattr(settings, "WEBAUTO_BLOCKED_NETWORKS", ()) or () if str(net).strip()]


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _in_blocked_network(address: str) -> bool:
    ip = _ip(address)
    return any(ip.version == net.version and ip in net for net in blocked_networks())


def _is_private(address: str) -> bool:
    ip = _ip(address)
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


def private_address_problem(host: str, *, block_private: bool = True) -> str | None:
    """A message if ``host`` is, or resolves to, an address in
    ``WEBAUTO_BLOCKED_NETWORKS`` or (with ``block_private``) a private,
    loopback, link-local or otherwise non-public address; None when it is
    allowed or cannot be resolved (the fetch itself then reports the DNS
    failure).

    The check resolves the name itself; the HTTP client and Chromium resolve
    it again when they connect, so a name whose DNS answer changes between
    the two (DNS rebinding) is not caught: README's security section says so.
    """
    host = host.strip("[]")
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return None
    for info in infos:
        address = str(info[4][0])
        if _in_blocked_network(address):
            return (
                f"{host} resolves to {address}, in a network this installation refuses "
                "(WEBAUTO_BLOCKED_NETWORKS)"
            )
        if block_private and _is_private(address):
            return (
                f"{host} resolves to the private or loopback address {address}, which this "
                "installation refuses (WEBAUTO_BLOCK_PRIVATE_ADDRESSES)"
            )
    return None


def host_checks_active() -> bool:
    """Whether run-time checks look at the host (and not only the scheme):
    ``WEBAUTO_BLOCK_PRIVATE_ADDRESSES`` is on or ``WEBAUTO_BLOCKED_NETWORKS``
    names a network."""
    return bool(settings.WEBAUTO_BLOCK_PRIVATE_ADDRESSES or getattr(settings, "WEBAUTO_BLOCKED_NETWORKS", ()))


def check_fetch_url(url: str) -> str:
    """Return ``url`` if a node may load it; raise :class:`URLNotAllowed` if not.

    Allowed: ``http``/``https`` URLs, plus ``about:blank``; the scheme is read
    the way a browser reads it (:func:`preprocess`). The host must not resolve
    to an address in ``settings.WEBAUTO_BLOCKED_NETWORKS``, and with
    ``settings.WEBAUTO_BLOCK_PRIVATE_ADDRESSES`` on, only to public addresses.
    """
    if url == "about:blank":
        return url
    scheme = scheme_of(url)
    if scheme not in ALLOWED_SCHEMES:
        raise URLNotAllowed(
            f"only http and https URLs may be loaded, not {scheme or 'scheme-less'} URLs "
            f"(got {_shorten(url)!r})"
        )
    if host_checks_active():
        host = urlsplit(preprocess(url).replace("\\", "/")).hostname or ""
        message = private_address_problem(host, block_private=bool(settings.WEBAUTO_BLOCK_PRIVATE_ADDRESSES))
        if message:
            raise URLNotAllowed(message)
    return url
