"""Small helpers for the local HTTP servers tests start with http.server."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler


def send_html(handler: BaseHTTPRequestHandler, body: bytes, status: int = 200) -> None:
    """Answer the request in hand with ``body`` as a complete text/html response."""
    handler.send_response(status)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
