"""Signing and checking webhook requests: the Standard Webhooks scheme and
the older ``sha256=<hex>`` body signature.

Standard Webhooks (https://www.standardwebhooks.com/): three headers,
``webhook-id`` (unique per message, the same on every retry of it),
``webhook-timestamp`` (integer Unix seconds) and ``webhook-signature``, a
space-separated list of ``v1,<base64 HMAC-SHA256>`` entries, each over
``{id}.{timestamp}.{raw body}``. A secret written ``whsec_<base64>`` is
base64-decoded into the key, as the scheme says; any other secret is used as
its UTF-8 bytes. The legacy ``sha256=<hex>`` signature uses that same key
(``standard_key``): one secret is one key, whichever scheme signs with it. The ``standardwebhooks`` package is not used: its verifier
fixes the tolerance window at five minutes, decodes the body as text, and
raises on a malformed entry instead of refusing it, which is the kind of fault
(a 500 from a header) these functions exist to prevent.

Every check works on ASCII bytes: a client's header may hold any character,
and ``hmac.compare_digest`` raises on non-ASCII ``str``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Mapping

LEGACY_RE = re.compile(r"sha256=([0-9a-fA-F]{64})", re.ASCII)
TIMESTAMP_RE = re.compile(r"[0-9]{1,12}", re.ASCII)
MAX_ID_LENGTH = 255
STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class SignatureRefused(Exception):
    """A request whose signature headers are missing (``status`` 401) or
    wrong (403); ``header`` names the header at fault."""

    def __init__(self, status: int, header: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.header = header
        self.message = message


def legacy_signature(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of body>``, keyed with ``standard_key(secret)``
    (a ``whsec_<base64>`` secret decoded, any other its UTF-8 bytes), the key
    the Standard Webhooks signature uses."""
    return "sha256=" + hmac.new(standard_key(secret), body, hashlib.sha256).hexdigest()


def verify_legacy(secret: str, body: bytes, header: str, value: str) -> None:
    """Check ``value`` of ``header`` against ``legacy_signature``; raises
    SignatureRefused (403) when it is not ``sha256=`` and 64 hex digits, or
    does not match."""
    match = LEGACY_RE.fullmatch(value.strip())
    if match is None:
        raise SignatureRefused(
            403, header, f"{header} must be sha256=<64 hex digits of the HMAC-SHA256 of the raw body>"
        )
    expected = legacy_signature(secret, body).encode()
    if not hmac.compare_digest(expected, b"sha256=" + match.group(1).lower().encode()):
        raise SignatureRefused(403, header, "signature does not match the body")


def standard_key(secret: str) -> bytes:
    """The HMAC key of a secret: ``whsec_<base64>`` decoded, else its UTF-8 bytes."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_") :], validate=True)
        except (binascii.Error, ValueError):
            pass
    return secret.encode()


def standard_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature entry for the message."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(standard_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def standard_headers(secret: str, message_id: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers for an outgoing message."""
    timestamp = int(time.time() if now is None else now)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature(secret, message_id, timestamp, body),
    }


def uses_standard(headers: Mapping[str, str]) -> bool:
    """Whether a request carries any Standard Webhooks header."""
    return any(headers.get(name) for name in STANDARD_HEADERS)


def verify_standard(
    secret: str, body: bytes, headers: Mapping[str, str], *, tolerance: float, now: float | None = None
) -> str:
    """Check a Standard Webhooks request; returns its ``webhook-id``.

    ``headers`` is looked up by the lower-case names (Django's
    ``request.headers`` is case-insensitive). Raises SignatureRefused: 401 for
    a missing header, 403 for a malformed id, timestamp or signature list, a
    timestamp more than ``tolerance`` seconds from ``now``, or no matching
    ``v1`` entry."""
    for name in STANDARD_HEADERS:
        if not headers.get(name):
            raise SignatureRefused(
                401, name, f"{name} missing: Standard Webhooks requests carry webhook-id, webhook-timestamp and webhook-signature"
            )
    message_id = headers["webhook-id"].strip()
    if not (message_id.isascii() and message_id.isprintable() and 0 < len(message_id) <= MAX_ID_LENGTH):
        raise SignatureRefused(403, "webhook-id", f"webhook-id must be 1-{MAX_ID_LENGTH} printable ASCII characters")
    raw_timestamp = headers["webhook-timestamp"].strip()
    if not TIMESTAMP_RE.fullmatch(raw_timestamp):
        raise SignatureRefused(403, "webhook-timestamp", "webhook-timestamp must be an integer number of Unix seconds")
    timestamp = int(raw_timestamp)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureRefused(
            403, "webhook-timestamp",
            f"webhook-timestamp is more than {tolerance:g} s away from the server's clock; "
            "sign each request when it is sent",
        )
    expected = base64.b64decode(standard_signature(secret, message_id, timestamp, body)[3:])
    well_formed = False
    for entry in headers["webhook-signature"].split():
        version, _, encoded = entry.partition(",")
        if version != "v1" or not encoded.isascii():
            continue
        try:
            given = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        well_formed = True
        if hmac.compare_digest(expected, given):
            return message_id
    if not well_formed:
        raise SignatureRefused(
            403, "webhook-signature", "webhook-signature must be a space-separated list of v1,<base64 signature>"
        )
    raise SignatureRefused(403, "webhook-signature", "signature does not match the body")
