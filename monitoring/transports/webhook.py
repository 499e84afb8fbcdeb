"""Webhooks: an HTTP request with configured headers, a JSON body and, with a
signing secret, two signatures: ``X-WebAuto-Signature-256: sha256=<hex>`` of
the body, and the Standard Webhooks headers (``webhook-id``,
``webhook-timestamp``, ``webhook-signature``) so receivers can refuse replays.
``webhook-id`` is the same on every retry of one delivery."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.conf import settings

from monitoring.transports import Message, SendResult, Transport, TransportError
from monitoring.transports.templating import render_json, resolve_secrets
from orchestration import secret_hosts
from orchestration.urlpolicy import ALLOWED_SCHEMES, URLNotAllowed, check_fetch_url, scheme_of
from webauto.webhook_signatures import legacy_signature, standard_headers

SIGNATURE_HEADER = "X-WebAuto-Signature-256"
# 4xx answers that mean "not now" rather than "never".
TEMPORARY_4XX = frozenset({408, 409, 423, 425, 429})


def sign(secret: str, body: bytes) -> str:
    """The signature header value for ``body``: ``sha256=<hex digest>``."""
    return legacy_signature(secret, body)


def message_id(delivery_id: int | None) -> str:
    """The ``webhook-id`` of a delivery: stable across its retries (a fresh
    one for a send that is not a stored delivery, such as a direct call)."""
    return f"msg_webauto_delivery_{delivery_id}" if delivery_id else f"msg_{uuid.uuid4().hex}"


def _hide(text: str, url: str, shown: str) -> str:
    """``text`` with the resolved URL (and its host) replaced by the URL as
    configured, so a ``${secret}`` in it stays hidden."""
    from urllib.parse import urlsplit

    text = text.replace(url, shown)
    host, shown_host = urlsplit(url).hostname or "", urlsplit(shown).hostname or ""
    return text.replace(host, shown_host or "the host") if host and host != shown_host else text


class WebhookTransport(Transport):
    kind = "webhook"

    def body(self, message: Message) -> Any:
        template = self.config.get("body")
        if template is None:
            return message.data
        return render_json(template, {**message.data, "subject": message.subject, "text": message.text})

    def send(self, message: Message, *, delivery_id: int | None = None) -> SendResult:
        import httpx  # imported on first use: a web process seldom needs it (16 MB RSS)
        # Messages name the URL as configured: a ${secret} in it stays hidden.
        shown = str(self.config.get("url") or "")
        url = resolve_secrets(shown)
        if scheme_of(url) not in ALLOWED_SCHEMES:
            raise TransportError(f"webhook URL {shown!r} is not an http(s) URL", permanent=True)
        method = str(self.config.get("method") or "POST").upper()
        configured: dict[str, str] = {str(k): str(v) for k, v in (self.config.get("headers") or {}).items()}
        body = json.dumps(self.body(message), ensure_ascii=False, default=str).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "WebAuto-Orchestrator"}
        if delivery_id:
            headers["X-WebAuto-Delivery"] = str(delivery_id)
        headers["X-WebAuto-Event"] = message.purpose
        headers.update({name: resolve_secrets(value) for name, value in configured.items()})
        for name, value in headers.items():
            if not value.isascii():
                # Never retried: the same value fails the same way every time.
                raise TransportError(
                    f'webhook header "{name}" has non-ASCII characters in its value (a ${{secret}} there?): '
                    "HTTP header values must be ASCII",
                    permanent=True,
                )
        signing_secret = str(self.config.get("signingSecret") or settings.WEBAUTO_WEBHOOK_SIGNING_SECRET)
        try:
            secret_hosts.check_references([shown, *configured.values(), signing_secret], url)
        except secret_hosts.SecretHostRefused as exc:
            raise TransportError(str(exc), permanent=True) from None
        if signing_secret:
            secret = resolve_secrets(signing_secret)
            headers[SIGNATURE_HEADER] = sign(secret, body)
            headers.update(standard_headers(secret, message_id(delivery_id), body))
        timeout = float(self.config.get("timeout") or settings.WEBAUTO_WEBHOOK_TIMEOUT_SECONDS)
        try:
            # The same policy as a node's fetches (orchestration/urlpolicy.py): no
            # host in WEBAUTO_BLOCKED_NETWORKS and, with WEBAUTO_BLOCK_PRIVATE_ADDRESSES,
            # no private one. Redirects are not followed, so the one request is all.
            check_fetch_url(url)
            with httpx.Client(timeout=timeout, follow_redirects=False) as client:
                response = client.request(method, url, content=body, headers=headers)
        except URLNotAllowed as exc:
            raise TransportError(f"webhook URL {shown!r} is refused: {_hide(str(exc), url, shown)}",
                                 permanent=True) from None
        except httpx.InvalidURL as exc:
            raise TransportError(f"webhook URL {shown!r} is invalid: {exc}", permanent=True) from None
        except httpx.TimeoutException:
            raise TransportError(f"no answer from {shown} within {timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise TransportError(f"cannot reach {shown}: {str(exc).replace(url, shown)}") from None
        code = response.status_code
        if 200 <= code < 300:
            return SendResult(response_code=code, detail=response.text[:500])
        snippet = response.text[:300].strip()
        reason = f"{shown} answered {code} {response.reason_phrase}" + (f": {snippet}" if snippet else "")
        permanent = code < 500 and code not in TEMPORARY_4XX
        raise TransportError(reason, permanent=permanent, response_code=code)
