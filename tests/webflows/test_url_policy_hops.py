"""The URL policy at every hop (breaker1 review of issue 16 point 1).

Playwright routes only the first request of a redirect chain, so an iframe
or image on a public page that redirects to an internal host once slipped
past ``WEBAUTO_BLOCK_PRIVATE_ADDRESSES``; a frame whose load was refused hung
``html(frame=...)``; and validation read the scheme of ``"fi\\tle:///..."``
differently from a browser. On one machine, 127.0.0.1 plays the public site
and 127.0.0.2 the internal network, refused through the operator setting
``WEBAUTO_BLOCKED_NETWORKS`` (the same check as private addresses)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orchestration.context import NodeError
from orchestration.urlpolicy import URLNotAllowed, check_fetch_url, preprocess, url_problems
from tests.support.http import send_html
from webflows import fetch
from webflows.drivers import BrowserDriver

SECRET = "TOP-SECRET-INTERNAL"
BROWSER_PARSES_AS_FILE = [
    "\x01file:///etc/passwd",
    "fi\tle:///etc/passwd",
    "file\n:///etc/passwd",
    "f\ri\nle:///etc/passwd",
]


@dataclass
class Sites:
    public: str
    internal: str
    internal_hits: list[str] = field(default_factory=list)


def _serve(host: str, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def sites(settings) -> Iterator[Sites]:
    """A "public" site on 127.0.0.1 whose pages embed or redirect to an
    "internal" one on 127.0.0.2, which WEBAUTO_BLOCKED_NETWORKS refuses."""
    settings.WEBAUTO_BLOCKED_NETWORKS = ["127.0.0.2/32"]
    hits: list[str] = []

    class Internal(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            hits.append(self.path)
            body = f"<html><body>{SECRET}</body></html>".encode()
            send_html(self, body)

        def log_message(self, *args: object) -> None:
            pass

    internal = _serve("127.0.0.2", Internal)
    inside = f"http://127.0.0.2:{internal.server_address[1]}"

    class Public(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path.startswith("/redir?to="):
                self.send_response(302)
                self.send_header("Location", self.path[len("/redir?to="):])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            me = f"http://127.0.0.1:{self.server.server_address[1]}"
            pages = {
                "/iframe-redir": f'<iframe id="f" src="{me}/redir?to={inside}/frame"></iframe>',
                "/iframe-two-hops": f'<iframe id="f" src="{me}/redir?to={me}/redir?to={inside}/hop2"></iframe>',
                "/iframe-direct": f'<iframe id="f" src="{inside}/direct"></iframe>',
                "/img-redir": f'<img src="{me}/redir?to={inside}/img.png"><p id="ok">page</p>',
                "/iframe-public": f'<iframe id="f" src="{me}/redir?to={me}/inner"></iframe>',
                "/inner": "<p id='inner'>inner page</p>",
                "/iframe-file": '<iframe id="f" src="file:///etc/hostname"></iframe>',
                "/iframe-data": '<iframe id="f" src="data:text/html,<b>DATA-IFRAME</b>"></iframe>',
                "/iframe-srcdoc": '<iframe id="f" srcdoc="<b>inline srcdoc</b>"></iframe>',
            }
            body = f"<html><body>{pages.get(self.path, 'hello')}</body></html>".encode()
            send_html(self, body)

        def log_message(self, *args: object) -> None:
            pass

    public = _serve("127.0.0.1", Public)
    yield Sites(f"http://127.0.0.1:{public.server_address[1]}", inside, hits)
    for server in (public, internal):
        server.shutdown()
        server.server_close()


@pytest.fixture
def driver() -> Iterator[BrowserDriver]:
    browser = BrowserDriver([])
    try:
        yield browser
    finally:
        browser.close()


# --- validation and run time read the scheme the way a browser does -------
@pytest.mark.parametrize("url", BROWSER_PARSES_AS_FILE)
def test_validation_refuses_file_urls_a_browser_would_parse_as_file(url):
    problems = url_problems({"url": url}, "config")
    assert problems and problems[0][0] == "config.url" and "not file: URLs" in problems[0][1]


@pytest.mark.parametrize("url", BROWSER_PARSES_AS_FILE)
def test_run_time_refuses_file_urls_a_browser_would_parse_as_file(url):
    with pytest.raises(URLNotAllowed, match="not file URLs"):
        check_fetch_url(url)


def test_preprocessing_follows_the_url_standard():
    assert preprocess("\x00 \thttp://ex\nample.com/a\rb \x1f") == "http://example.com/ab"


# --- WEBAUTO_BLOCKED_NETWORKS ----------------------------------------------
def test_blocked_networks_are_refused_whatever_the_private_switch(settings):
    settings.WEBAUTO_BLOCK_PRIVATE_ADDRESSES = False
    settings.WEBAUTO_BLOCKED_NETWORKS = ["127.0.0.2/32", "fd00::/8"]
    for url in ("http://127.0.0.2/", "http://2130706434/", "http://[::ffff:127.0.0.2]/", "http://[fd00::1]/"):
        with pytest.raises(URLNotAllowed, match="WEBAUTO_BLOCKED_NETWORKS"):
            check_fetch_url(url)
    assert check_fetch_url("http://127.0.0.1/") == "http://127.0.0.1/"


def test_the_http_client_refuses_a_redirect_into_a_blocked_network(sites):
    with fetch.make_client(timeout=10) as client, pytest.raises(URLNotAllowed, match="WEBAUTO_BLOCKED_NETWORKS"):
        client.get(f"{sites.public}/redir?to={sites.internal}/http")
    assert sites.internal_hits == []


# --- the browser checks every hop -----------------------------------------
@pytest.mark.browser
def test_an_iframe_redirecting_to_an_internal_host_is_never_loaded_or_read(sites, driver):
    driver.goto(f"{sites.public}/iframe-redir", timeout=10)
    with pytest.raises(NodeError, match="frame '#f'.*WEBAUTO_BLOCKED_NETWORKS"):
        driver.html(frame="#f")
    with pytest.raises(NodeError, match="frame '#f'"):
        driver.frame_url("#f")
    assert sites.internal_hits == []


@pytest.mark.browser
def test_an_iframe_reaching_an_internal_host_on_a_later_hop_cannot_be_read(sites, driver):
    # The second hop is reported, not routed: whether Chromium got to send it
    # or not, the frame's document is never handed out.
    driver.goto(f"{sites.public}/iframe-two-hops", timeout=10)
    with pytest.raises(NodeError, match="frame '#f'.*WEBAUTO_BLOCKED_NETWORKS"):
        driver.html(frame="#f")
    with pytest.raises(NodeError, match="frame '#f'.*WEBAUTO_BLOCKED_NETWORKS"):
        driver.frame_url("#f")


@pytest.mark.browser
def test_a_subresource_redirecting_to_an_internal_host_is_not_requested(sites, driver):
    driver.goto(f"{sites.public}/img-redir", timeout=10)
    driver.wait_for(selector="#ok", state="attached", url=None, timeout=5)
    assert sites.internal_hits == []


@pytest.mark.browser
def test_a_main_frame_redirect_to_an_internal_host_is_refused(sites, driver):
    with pytest.raises(URLNotAllowed, match="WEBAUTO_BLOCKED_NETWORKS"):
        driver.goto(f"{sites.public}/redir?to={sites.internal}/main", timeout=10)
    assert sites.internal_hits == []
    assert SECRET not in (driver.html() or "")
    # Allowed redirects still land where they point, in the page and in frames.
    result = driver.goto(f"{sites.public}/redir?to={sites.public}/inner", timeout=10)
    assert result["url"] == f"{sites.public}/inner" and result["status"] == 200
    driver.goto(f"{sites.public}/iframe-public", timeout=10)
    assert driver.frame_url("#f") == f"{sites.public}/inner"
    assert "inner page" in (driver.html(frame="#f") or "")


# --- frames whose load was refused fail fast and name the frame ------------
@pytest.mark.browser
@pytest.mark.timeout(60)
def test_reading_a_frame_whose_file_load_was_refused_fails_naming_the_frame(sites, driver):
    driver.goto(f"{sites.public}/iframe-file", timeout=10)
    with pytest.raises(NodeError, match="frame '#f' has no document"):
        driver.frame_url("#f")
    with pytest.raises(NodeError, match="frame '#f' has no document"):
        driver.html(frame="#f")


@pytest.mark.browser
def test_a_data_iframe_is_refused_and_a_srcdoc_one_is_read(sites, driver):
    driver.goto(f"{sites.public}/iframe-data", timeout=10)
    with pytest.raises(URLNotAllowed, match="frame '#f': only http and https URLs may be loaded, not data"):
        driver.html(frame="#f")
    driver.goto(f"{sites.public}/iframe-srcdoc", timeout=10)
    assert "inline srcdoc" in (driver.html(frame="#f") or "")
