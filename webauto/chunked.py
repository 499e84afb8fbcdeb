"""Request bodies sent with ``Transfer-Encoding: chunked``.

Django reads a request body only as far as ``Content-Length`` says, and a
chunked request has none, so its body reads as empty (a correctly signed
webhook sent chunked was refused for a signature mismatch). A WSGI server
that decodes chunked framing itself says so with ``wsgi.input_terminated``
(gunicorn, the shipped server, does): its ``wsgi.input`` ends where the body
ends. This middleware reads such a body, bounded by Django's
``DATA_UPLOAD_MAX_MEMORY_SIZE``, and hands Django a stream with a length.
Servers that pass the framing through (Django's runserver) get a clear 411.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
READ_SIZE = 64 * 1024


def _error(start_response: Callable[..., Any], status: str, message: str) -> list[bytes]:
    body = json.dumps({"errors": [{"path": "body", "message": message}]}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class ChunkedBodyMiddleware:
    """WSGI middleware: give chunked request bodies a ``CONTENT_LENGTH``."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if not chunked or environ.get("CONTENT_LENGTH"):
            return self.app(environ, start_response)
        if not environ.get("wsgi.input_terminated"):
            return _error(
                start_response, "411 Length Required",
                "this server cannot read chunked request bodies; send a Content-Length",
            )
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        stream = environ["wsgi.input"]
        data = bytearray()
        while True:
            piece = stream.read(READ_SIZE)
            if not piece:
                break
            data.extend(piece)
            if limit is not None and len(data) > limit:
                return _error(start_response, "413 Content Too Large", f"the body is larger than {limit} bytes")
        environ["wsgi.input"] = io.BytesIO(bytes(data))
        environ["CONTENT_LENGTH"] = str(len(data))
        return self.app(environ, start_response)
