"""Where a step workflow's operations act: a plain HTTP client, or headless
Chromium through Playwright (the system's ``/usr/bin/chromium``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings

from orchestration import secret_hosts
from orchestration.context import NodeError
from orchestration.urlpolicy import URLNotAllowed, check_fetch_url, host_checks_active
from webflows import fetch, html

if TYPE_CHECKING:
    import httpx

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Playwright calls that take no timeout of their own (content, title, evaluate)
# fall back to this many milliseconds (the context's default timeout).
DEFAULT_TIMEOUT_MS = 30_000
# Frames a page builds from its own markup: no fetch behind them.
_INLINE_FRAME_URLS = ("about:blank", "about:srcdoc")


def chromium_path() -> str:
    """The Chromium binary Playwright launches (``WEBAUTO_CHROMIUM_PATH``)."""
    return str(settings.WEBAUTO_CHROMIUM_PATH)


class Driver(Protocol):
    is_browser: bool

    def goto(self, url: str, *, timeout: float) -> dict[str, Any]: ...
    def click(self, selector: str, *, timeout: float, frame: str | None = None) -> None: ...
    def fill(self, selector: str, value: str, *, timeout: float, frame: str | None = None) -> None: ...
    def scroll(self, *, selector: str | None, times: int, pixels: int | None, pause_ms: int) -> dict[str, Any]: ...
    def wait_for(
        self, *, selector: str | None, state: str, url: str | None, timeout: float, frame: str | None = None
    ) -> None: ...
    def current_url(self) -> str: ...
    def html(self, frame: str | None = None) -> str | None: ...
    def frame_url(self, frame: str) -> str: ...
    def screenshot(self, path: Path, *, full_page: bool) -> None: ...
    def cookies(self) -> list[dict[str, Any]]: ...
    def http_client(self, *, timeout: float) -> httpx.Client: ...
    def close(self) -> None: ...


def _cookie_from_httpx(cookie: Any) -> dict[str, Any]:
    domain = cookie.domain
    if domain.endswith(".local") and "." not in domain[: -len(".local")].lstrip("."):
        domain = domain[: -len(".local")]  # undo http.cookiejar's naming of dotless hosts
    return {
        "name": cookie.name,
        "value": cookie.value,
        "domain": domain,
        "path": cookie.path or "/",
        "expires": cookie.expires if cookie.expires else -1,
        "httpOnly": bool(cookie.has_nonstandard_attr("HttpOnly")),
        "secure": bool(cookie.secure),
    }


class HttpDriver:
    """Runs workflows that need no browser: ``goto`` is an HTTP GET whose body
    becomes the current page."""

    is_browser = False

    def __init__(self, cookies: list[dict[str, Any]]) -> None:
        self.client = fetch.make_client(cookies=cookies)
        self._url = ""
        self._html: str | None = None

    def goto(self, url: str, *, timeout: float) -> dict[str, Any]:
        check_fetch_url(url)
        response = fetch.get(self.client, url, timeout=timeout)
        self._url = str(response.url)
        content_type = response.headers.get("content-type", "")
        if not fetch.is_text_content(content_type, response.content):
            self._html = None
            raise NodeError(
                f"{self._url} answered with {content_type.split(';')[0].strip() or 'binary data'} "
                "(binary content), not a page; fetch files with a download step",
                retryable=False,
            )
        self._html = fetch.response_text(response)
        title = ""
        if "html" in content_type:
            soup = html.parse(self._html)
            title = html.text_of(soup.title) if soup.title else ""
        return {"url": self._url, "status": response.status_code, "title": title, "contentType": content_type}

    def _browser_only(self, op: str) -> NodeError:
        return NodeError(f"{op} needs a browser; this workflow runs without one", retryable=False)

    def click(self, selector: str, *, timeout: float, frame: str | None = None) -> None:
        raise self._browser_only("click")

    def fill(self, selector: str, value: str, *, timeout: float, frame: str | None = None) -> None:
        raise self._browser_only("fill")

    def scroll(self, *, selector: str | None, times: int, pixels: int | None, pause_ms: int) -> dict[str, Any]:
        raise self._browser_only("scroll")

    def wait_for(
        self, *, selector: str | None, state: str, url: str | None, timeout: float, frame: str | None = None
    ) -> None:
        raise self._browser_only("wait_for")

    def screenshot(self, path: Path, *, full_page: bool) -> None:
        raise self._browser_only("screenshot")

    def current_url(self) -> str:
        return self._url

    def html(self, frame: str | None = None) -> str | None:
        if frame:
            raise NodeError(
                f"frame {frame!r}: reading inside an <iframe> needs a browser, and this workflow runs "
                'without one (set "browser": true on the workflow)',
                retryable=False,
            )
        return self._html

    def frame_url(self, frame: str) -> str:
        return self.html(frame) or ""  # raises: frames need a browser

    def cookies(self) -> list[dict[str, Any]]:
        return [_cookie_from_httpx(c) for c in self.client.cookies.jar]

    def http_client(self, *, timeout: float) -> httpx.Client:
        return fetch.make_client(cookies=self.cookies(), timeout=timeout)

    def close(self) -> None:
        self.client.close()


def playwright_error(exc: Exception, timeout: float | None = None, target: str = "") -> NodeError:
    """A clear NodeError from a Playwright exception (first line only:
    Playwright appends long call logs)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    first = re.sub(r"^\w+(\.\w+)*: ", "", first)
    if isinstance(exc, PlaywrightTimeout):
        return NodeError(f"timed out after {timeout:g}s waiting for {target or 'the page'}")
    if first.startswith("Download is starting"):
        return NodeError(
            f"{target or 'the page'} is a file download (binary content), not a page; "
            "fetch it with a download step or batch-download",
            retryable=False,
        )
    if "net::ERR_" in first:
        code = re.search(r"net::(ERR_[A-Z_]+)", first)
        return NodeError(f"cannot load {target}: {code.group(1) if code else first}")
    if "selector" in first.lower() or "unexpected token" in first.lower():
        return NodeError(f"invalid selector: {first}", retryable=False)
    return NodeError(first)


class BrowserDriver:
    """Headless Chromium through Playwright's sync API, one context per run
    (so cookies from the stored session and captured ones stay per run).

    Every request and navigation the page makes is routed through
    :func:`orchestration.urlpolicy.check_fetch_url`: anything but http/https
    (``file:``, ``data:``, ``chrome:``, ``view-source:`` ...) is aborted, and
    ``goto`` or an action that lands on such a URL raises
    :class:`orchestration.urlpolicy.URLNotAllowed`.

    Playwright routes only the first request of a redirect chain. So when the
    policy looks at hosts (``WEBAUTO_BLOCK_PRIVATE_ADDRESSES`` or
    ``WEBAUTO_BLOCKED_NETWORKS``), the route handler fetches the request
    itself without following redirects and checks the ``Location`` of a 3xx
    answer before the browser sees it (a refused one is aborted, never
    requested); every later hop is checked as it is reported (the
    ``request`` event), and a frame whose document came from a refused URL
    cannot be read (``html(frame=...)``/``frame_url`` raise).
    """

    is_browser = True

    def __init__(self, cookies: list[dict[str, Any]]) -> None:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        try:
            self.browser = self._pw.chromium.launch(
                executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
            )
        except Exception as exc:
            self._pw.stop()
            raise NodeError(f"cannot start Chromium at {chromium_path()}: {exc}") from exc
        self.context = self.browser.new_context(accept_downloads=False)
        self.context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        self.context.set_default_navigation_timeout(DEFAULT_TIMEOUT_MS)
        self._refused: list[str] = []
        # URL -> refusal, for redirect hops the route handler never saw.
        self._refused_hops: dict[str, str] = {}
        self._check_hosts = host_checks_active()
        self.context.route("**/*", self._guard)
        self.context.on("request", self._watch_redirect)
        self.secret_refused: secret_hosts.SecretHostRefused | None = None
        self._guard_secrets(secret_hosts.active())
        usable = [c for c in cookies if c.get("name") and (c.get("domain") or c.get("url"))]
        if usable:
            self.context.add_cookies([_playwright_cookie(c) for c in usable])  # type: ignore[misc]
        self.page = self.context.new_page()

    def _guard_secrets(self, restrictions: tuple[secret_hosts.Restriction, ...]) -> None:
        """Abort every browser request (navigations, subresources, form posts)
        that would carry a restricted secret to a host it does not allow; the
        next driver call raises the refusal."""
        if not restrictions:
            return

        def guard(route: Any, request: Any) -> None:
            try:
                secret_hosts.check_request(
                    request.url, *request.headers.values(), request.post_data_buffer, restrictions=restrictions
                )
            except secret_hosts.SecretHostRefused as exc:
                self.secret_refused = self.secret_refused or exc
                route.abort("blockedbyclient")
                return
            route.fallback()

        self.context.route("**/*", guard)

    def _raise_refused(self) -> None:
        if self.secret_refused is not None:
            raise self.secret_refused

    def _guard(self, route: Any) -> None:
        """Route handler: let allowed requests through, abort the others.

        With host checks on, an allowed request is fetched here with
        redirects off; a 3xx answer whose ``Location`` the policy refuses is
        aborted, any other answer is handed to the browser as is (which
        follows an allowed redirect itself)."""
        from playwright.sync_api import Error

        url = route.request.url
        try:
            check_fetch_url(url)
        except URLNotAllowed as exc:
            self._refused.append(str(exc))
            route.abort("blockedbyclient")
            return
        if not self._check_hosts:
            route.fallback()
            return
        try:
            response = route.fetch(max_redirects=0, timeout=DEFAULT_TIMEOUT_MS)
        except Error:
            route.abort("failed")
            return
        location = response.headers.get("location")
        if 300 <= response.status < 400 and location:
            from urllib.parse import urljoin

            try:
                check_fetch_url(urljoin(url, location))
            except URLNotAllowed as exc:
                self._refused.append(str(exc))
                route.abort("blockedbyclient")
                return
        route.fulfill(response=response)

    def _watch_redirect(self, request: Any) -> None:
        """``request`` event: remember a redirect hop (which no route handler
        sees) to a URL the policy refuses; frames that land there are refused."""
        if request.redirected_from is None:
            return
        try:
            check_fetch_url(request.url)
        except URLNotAllowed as exc:
            self._refused_hops[request.url] = str(exc)
            self._refused.append(str(exc))

    def _blank(self) -> None:
        """Leave a failed or refused navigation (and Chromium's error page)
        behind: the run goes on in a fresh tab of the same context, cookies kept."""
        from playwright.sync_api import Error

        try:
            self.page.close()
        except Error:
            pass
        self.page = self.context.new_page()

    def _check_landing(self) -> None:
        """Raise if the page ended on a URL a node may not load (a redirect or
        script that slipped past the request guard); the page is blanked."""
        url = self.current_url() or "about:blank"
        try:
            check_fetch_url(url)
            if url in self._refused_hops:
                raise URLNotAllowed(self._refused_hops[url])
        except URLNotAllowed:
            self._blank()
            raise

    def _check_frame(self, child: Any, frame: str) -> None:
        """Raise unless the document in ``child`` (the frame ``frame`` picks)
        may be read: it must have loaded (a refused or failed load leaves no
        document, and reading it would wait forever) from a URL the policy
        allows (``data:`` documents included: refused), or be an inline
        ``about:blank``/``about:srcdoc`` one."""
        url = child.url or ""
        if url in _INLINE_FRAME_URLS:
            return
        if not url or url.startswith("chrome-error:"):
            refused = f": {self._refused[-1]}" if self._refused else ""
            raise NodeError(
                f"frame {frame!r} has no document: its load was refused or failed{refused}", retryable=False
            )
        try:
            check_fetch_url(url)
            if url in self._refused_hops:
                raise URLNotAllowed(self._refused_hops[url])
        except URLNotAllowed as exc:
            raise URLNotAllowed(f"frame {frame!r}: {exc}") from None

    def goto(self, url: str, *, timeout: float) -> dict[str, Any]:
        from playwright.sync_api import Error

        check_fetch_url(url)
        self._refused.clear()
        try:
            response = self.page.goto(url, timeout=timeout * 1000, wait_until="load")
        except Error as exc:
            self._blank()
            self._raise_refused()
            if self._refused:
                raise URLNotAllowed(self._refused[0]) from exc
            raise playwright_error(exc, timeout, url) from exc
        self._raise_refused()
        self._check_landing()
        status = response.status if response else 0
        if status >= 400:
            raise NodeError(f"HTTP {status} from {url}", retryable=status >= 500)
        content_type = (response.headers.get("content-type") or "") if response else ""
        return {"url": self.page.url, "status": status, "title": self.page.title(), "contentType": content_type}

    def _locator(self, selector: str, frame: str | None) -> Any:
        """The first element matching ``selector`` in the page, or inside the
        ``<iframe>`` that the CSS selector ``frame`` picks (Playwright's
        ``frame_locator``; nested frames: ``frame`` may chain with ``>>``)."""
        root: Any = self.page
        if frame:
            for part in frame.split(">>"):
                root = root.frame_locator(part.strip()).first
        return root.locator(selector).first

    def _element_error(self, exc: Exception, timeout: float, selector: str, frame: str | None) -> NodeError:
        """A playwright_error naming the frame, with a hint when the selector
        timed out in the page but matches inside one of its frames."""
        target = f"selector {selector!r}" + (f" in frame {frame!r}" if frame else "")
        error = playwright_error(exc, timeout, target)
        if not frame:
            hint = self._frame_hint(selector)
            if hint:
                error = NodeError(f"{error} ({hint})", retryable=False)
        return error

    def _frame_hint(self, selector: str) -> str:
        from playwright.sync_api import Error

        for child in self.page.frames[1:]:
            try:
                if child.query_selector(selector) is None:
                    continue
                element = child.frame_element()
                ident, name, src = (element.get_attribute(a) for a in ("id", "name", "src"))
            except Error:
                continue
            if ident:
                address = f"#{ident}"
            elif name:
                address = f'iframe[name="{name}"]'
            else:
                address = f'iframe[src="{src or child.url}"]'
            return f'it matches inside the frame {address}: add "frame": "{address}" to the step'
        return ""

    def click(self, selector: str, *, timeout: float, frame: str | None = None) -> None:
        from playwright.sync_api import Error

        try:
            self._locator(selector, frame).click(timeout=timeout * 1000)
            self.page.wait_for_load_state("load", timeout=timeout * 1000)
        except Error as exc:
            self._raise_refused()
            raise self._element_error(exc, timeout, selector, frame) from exc
        self._raise_refused()
        self._check_landing()

    def fill(self, selector: str, value: str, *, timeout: float, frame: str | None = None) -> None:
        from playwright.sync_api import Error

        try:
            self._locator(selector, frame).fill(value, timeout=timeout * 1000)
        except Error as exc:
            raise self._element_error(exc, timeout, selector, frame) from exc

    def scroll(self, *, selector: str | None, times: int, pixels: int | None, pause_ms: int) -> dict[str, Any]:
        from playwright.sync_api import Error

        try:
            if selector:
                self.page.locator(selector).first.scroll_into_view_if_needed(timeout=15000)
            else:
                for _ in range(times):
                    self.page.mouse.wheel(0, pixels or 800)
                    self.page.wait_for_timeout(pause_ms)
            return {"scrollY": self.page.evaluate("window.scrollY")}
        except Error as exc:
            raise playwright_error(exc, 15, f"selector {selector!r}" if selector else "scroll") from exc

    def wait_for(
        self, *, selector: str | None, state: str, url: str | None, timeout: float, frame: str | None = None
    ) -> None:
        from playwright.sync_api import Error

        try:
            if selector:
                self._locator(selector, frame).wait_for(state=state, timeout=timeout * 1000)
            if url:
                self.page.wait_for_url(url, timeout=timeout * 1000)
        except Error as exc:
            if selector:
                raise self._element_error(exc, timeout, selector, frame) from exc
            raise playwright_error(exc, timeout, f"URL {url!r}") from exc

    def current_url(self) -> str:
        url = self.page.url
        # about:blank and Chromium's own error page mean "no page loaded".
        return "" if url == "about:blank" or url.startswith("chrome-error:") else url

    def html(self, frame: str | None = None) -> str | None:
        """The page's HTML, or that of the document inside the ``<iframe>``
        the CSS selector ``frame`` picks (a NodeError naming the frame
        when none matches)."""
        if not self.current_url():
            return None
        self._check_landing()
        if not frame:
            return self.page.content()
        child = self._frame(frame)
        self._check_frame(child, frame)
        from playwright.sync_api import Error

        try:
            # content() takes no timeout: a bounded wait for the document first.
            child.wait_for_load_state("domcontentloaded", timeout=DEFAULT_TIMEOUT_MS)
            return str(child.content())
        except Error as exc:
            raise playwright_error(exc, DEFAULT_TIMEOUT_MS / 1000, f"frame {frame!r}") from exc

    def frame_url(self, frame: str) -> str:
        """The URL of the document inside the ``<iframe>`` that ``frame`` picks
        (what relative links found in it resolve against); a NodeError
        naming the frame when its load was refused or failed."""
        child = self._frame(frame)
        self._check_frame(child, frame)
        return str(child.url)

    def _frame(self, frame: str) -> Any:
        """The Playwright Frame that the CSS selector ``frame`` picks
        (``outer >> inner`` for nested frames); a NodeError naming the
        frame when no ``<iframe>`` matches."""
        from playwright.sync_api import Error

        current: Any = self.page.main_frame
        for part in frame.split(">>"):
            try:
                element = current.query_selector(part.strip())
                child = element.content_frame() if element is not None else None
            except Error as exc:
                raise playwright_error(exc, None, f"frame {frame!r}") from exc
            if child is None:
                raise NodeError(f"no <iframe> matches frame {frame!r} on {self.current_url()}", retryable=False)
            current = child
        return current

    def screenshot(self, path: Path, *, full_page: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=full_page)

    def cookies(self) -> list[dict[str, Any]]:
        return [dict(c) for c in self.context.cookies()]

    def http_client(self, *, timeout: float) -> httpx.Client:
        user_agent = self.page.evaluate("navigator.userAgent")
        return fetch.make_client(cookies=self.cookies(), timeout=timeout, headers={"User-Agent": user_agent})

    def close(self) -> None:
        try:
            self.context.close()
            self.browser.close()
        finally:
            self._pw.stop()


def _playwright_cookie(cookie: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": cookie["name"], "value": str(cookie.get("value", ""))}
    if cookie.get("url"):
        out["url"] = cookie["url"]
    else:
        out["domain"] = cookie["domain"]
        out["path"] = cookie.get("path") or "/"
    expires = cookie.get("expires", cookie.get("expirationDate"))
    if isinstance(expires, int | float) and expires > 0:
        out["expires"] = float(expires)
    for key in ("httpOnly", "secure"):
        if key in cookie:
            out[key] = bool(cookie[key])
    same_site = str(cookie.get("sameSite") or "").capitalize()
    if same_site in ("Strict", "Lax", "None"):
        out["sameSite"] = same_site
    return out

