"""A tiny local web server whose answers a test sets byte for byte (status,
headers, body): pages in GBK, empty 200s, PNGs, frames."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Page:
    body: bytes
    content_type: str | None = "text/html"
    status: int = 200


@dataclass
class PageServer:
    """``pages[path] = Page(...)``; anything else is a 404."""

    base: str
    pages: dict[str, Page] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


def _serve(server: PageServer) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            page = server.pages.get(self.path.split("?", 1)[0])
            if page is None:
                self.send_error(404)
                return
            self.send_response(page.status)
            if page.content_type is not None:
                self.send_header("Content-Type", page.content_type)
            self.send_header("Content-Length", str(len(page.body)))
            self.end_headers()
            self.wfile.write(page.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    return httpd


@pytest.fixture
def page_server() -> Iterator[PageServer]:
    server = PageServer(base="")
    httpd = _serve(server)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
