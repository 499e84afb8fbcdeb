"""Secrets that cannot walk out: a secret's ``allowedHosts`` and the check
that refuses to send it anywhere else.

A secret may list the host names it may be sent to (``api.example.com``,
``*.example.com`` for any subdomain, not the bare domain; an empty list
means anywhere). While a node runs, the runner makes the restricted secrets
it resolved *active* (:func:`restrict`); every outbound request of the node
then goes through :func:`check_request` (the httpx clients of
``webflows.fetch`` through a request hook, the browser through a route
handler): a request to a host the secret does not allow, whose URL, headers
or body contains the secret (raw, percent-encoded in any mix, JSON-escaped), fails
the node with :class:`SecretHostRefused`. Notifications check the
``${name}`` references of a channel against its URL's host
(:func:`check_references`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from orchestration.context import NodeError

# A host name (letters, digits, '-', '.', '_'; IPv4 too), optionally "*." first.
HOST_PATTERN_RE = re.compile(r"^(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$")
MAX_HOSTS = 50


class SecretHostRefused(NodeError):
    """A request would carry a secret to a host its ``allowedHosts`` do not list (not retryable)."""

    def __init__(self, name: str, host: str, allowed: list[str]) -> None:
        super().__init__(
            f'secret "{name}" may not be sent to host {host or "(none)"}: '
            f"its allowedHosts are {', '.join(allowed)}",
            retryable=False,
        )
        self.name = name
        self.host = host


@dataclass(frozen=True)
class Restriction:
    """One restricted secret: its name, value and allowed host patterns."""

    name: str
    value: str
    allowed_hosts: tuple[str, ...]


def allowed_hosts_errors(value: Any, *, path: str = "allowedHosts") -> list[dict[str, str]]:
    """Validation errors (``{"path", "message"}``) for an ``allowedHosts`` value:
    a list of at most 50 host names, each optionally starting with ``*.``."""
    if not isinstance(value, list):
        return [{"path": path, "message": "must be a list of host names"}]
    if len(value) > MAX_HOSTS:
        return [{"path": path, "message": f"at most {MAX_HOSTS} host names"}]
    errors = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or not HOST_PATTERN_RE.match(item.strip().lower()):
            errors.append(
                {
                    "path": f"{path}[{index}]",
                    "message": f"{item!r} is not a host name (like api.example.com or *.example.com)",
                }
            )
    return errors


def normalize_hosts(value: Iterable[str]) -> list[str]:
    """Lower-case, stripped, without duplicates, in the order given."""
    out: list[str] = []
    for item in value:
        host = item.strip().lower()
        if host not in out:
            out.append(host)
    return out


def host_allowed(host: str, patterns: Iterable[str]) -> bool:
    """Whether ``host`` matches one of ``patterns`` (exact, or ``*.domain`` for
    any subdomain of ``domain``); case-insensitive, a trailing dot ignored."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


_state = threading.local()


def active() -> tuple[Restriction, ...]:
    """The restrictions in force in this thread (empty outside a node run)."""
    return getattr(_state, "restrictions", ())


@contextmanager
def restrict(restrictions: Iterable[Restriction]) -> Iterator[None]:
    """Make ``restrictions`` active for the requests made inside the block."""
    previous = active()
    _state.restrictions = tuple(restrictions)
    try:
        yield
    finally:
        _state.restrictions = previous


def restrictions_for(values: Iterable[str]) -> list[Restriction]:
    """The restricted secrets (non-empty ``allowedHosts``) among the secret ``values`` a node resolved."""
    from orchestration.models import Secret

    wanted = [v for v in set(values) if v]
    if not wanted:
        return []
    rows = Secret.objects.filter(value__in=wanted).exclude(allowed_hosts=[]).values_list(
        "name", "value", "allowed_hosts"
    )
    return [Restriction(name, value, tuple(hosts)) for name, value, hosts in rows]


def _decoded(text: str) -> str:
    """``text`` percent-decoded (``+`` as a space) repeatedly until it no longer changes (at most 5 rounds)."""
    for _ in range(5):
        decoded = unquote_plus(text, errors="surrogatepass")
        if decoded == text:
            break
        text = decoded
    return text


def _carries(restriction: Restriction, texts: Iterable[str]) -> bool:
    """Whether any text carries the secret in any form a client writes: matched
    by :func:`references.secret_pattern` (each character raw or %XX) on the
    text as sent and on its percent-decoded form."""
    from orchestration.references import secrets_regex

    pattern = secrets_regex([restriction.value])
    if pattern is None:
        return False
    return any(pattern.search(text) or pattern.search(_decoded(text)) for text in texts)


def check_request(url: str, *parts: str | bytes | None, restrictions: Iterable[Restriction] | None = None) -> None:
    """Raise SecretHostRefused when a request to ``url`` carries (in the URL or
    any of ``parts``: header values, body) an active secret whose
    ``allowedHosts`` do not match the URL's host."""
    chosen = tuple(restrictions) if restrictions is not None else active()
    if not chosen:
        return
    host = urlsplit(url).hostname or ""
    texts = [url]
    for part in parts:
        if isinstance(part, bytes):
            texts.append(part.decode("utf-8", "replace"))
        elif part:
            texts.append(part)
    for restriction in chosen:
        if not host_allowed(host, restriction.allowed_hosts) and _carries(restriction, texts):
            raise SecretHostRefused(restriction.name, host, list(restriction.allowed_hosts))


def httpx_request_hook(request: Any) -> None:
    """httpx ``event_hooks["request"]`` hook: runs for every request, redirects included."""
    if not active():
        return
    body: bytes | None
    try:
        body = request.content
    except Exception:  # a streaming body that was not read: only URL and headers can be checked
        body = None
    check_request(str(request.url), *request.headers.values(), body)


def check_references(texts: Iterable[str], url: str) -> None:
    """For notifications: raise SecretHostRefused when a ``${name}`` reference in
    ``texts`` names a secret whose ``allowedHosts`` do not match ``url``'s host."""
    from orchestration.credentials import SECRET_REF
    from orchestration.models import Secret

    names = {name for text in texts for name in SECRET_REF.findall(text or "")}
    if not names:
        return
    host = urlsplit(url).hostname or ""
    for name, hosts in Secret.objects.filter(name__in=names).exclude(allowed_hosts=[]).values_list(
        "name", "allowed_hosts"
    ):
        if not host_allowed(host, hosts):
            raise SecretHostRefused(name, host, list(hosts))
