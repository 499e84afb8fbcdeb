"""HTML parsing helpers (BeautifulSoup + lxml) shared by the page monitor,
the extract operation and content analysis."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from orchestration.context import NodeError

if TYPE_CHECKING:
    # BeautifulSoup, lxml and soupsieve cost about 9 MB in every process that
    # imports them; they are imported when a page is first parsed, so the web
    # process and workers that never parse HTML do not carry them.
    from bs4 import BeautifulSoup, Tag

# Elements whose text is one "item" of a page when no item selector is given.
BLOCK_TAGS = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "td", "th", "dt", "dd", "blockquote", "pre", "figcaption"]
NOISE_TAGS = ["script", "style", "noscript", "template", "svg", "iframe"]


def parse(html: str) -> BeautifulSoup:
    from bs4 import BeautifulSoup

    return BeautifulSoup(html, "lxml")


def select(root: BeautifulSoup | Tag, selector: str) -> list[Tag]:
    """All matches of a CSS selector; an invalid selector is a clear, non-retryable error."""
    from soupsieve import SelectorSyntaxError

    try:
        return list(root.select(selector))
    except SelectorSyntaxError as exc:
        first_line = str(exc).splitlines()[0]
        raise NodeError(f"invalid CSS selector {selector!r}: {first_line}", retryable=False) from exc


def text_of(element: Tag) -> str:
    return " ".join(element.get_text(" ", strip=True).split())


def strip_noise(root: BeautifulSoup | Tag) -> None:
    for tag in root.find_all(NOISE_TAGS):
        tag.decompose()


def items_of(root: BeautifulSoup | Tag, item_selector: str | None = None) -> list[str]:
    """The page's content as a list of text items: matches of ``item_selector``
    or, without one, the innermost block elements' text (in document order)."""
    if item_selector:
        elements = select(root, item_selector)
    else:
        elements = [
            el for el in root.find_all(BLOCK_TAGS) if not el.find(BLOCK_TAGS)
        ]
        if not elements:
            text = text_of(root)
            return [text] if text else []
    return [t for t in (text_of(el) for el in elements) if t]


def links_of(root: BeautifulSoup | Tag, base_url: str) -> list[dict[str, str]]:
    seen: set[str] = set()
    links: list[dict[str, str]] = []
    for a in root.select("a[href]"):
        href = str(a.get("href", "")).strip()
        if not href or href.startswith(("javascript:", "mailto:", "#")):
            continue
        url = urljoin(base_url, href)
        if url not in seen:
            seen.add(url)
            links.append({"url": url, "text": text_of(a)})
    return links


def media_of(root: BeautifulSoup | Tag, base_url: str) -> list[dict[str, Any]]:
    """Images, videos and audio referenced by the page (absolute URLs, de-duplicated)."""
    seen: set[str] = set()
    media: list[dict[str, Any]] = []

    def add(kind: str, src: str, alt: str = "") -> None:
        src = src.strip()
        if not src or src.startswith("data:"):
            return
        url = urljoin(base_url, src)
        if url not in seen:
            seen.add(url)
            media.append({"type": kind, "url": url, "alt": alt})

    for img in root.select("img[src]"):
        add("image", str(img.get("src", "")), str(img.get("alt", "")))
    for video in root.select("video[src], video source[src]"):
        add("video", str(video.get("src", "")))
    for audio in root.select("audio[src], audio source[src]"):
        add("audio", str(audio.get("src", "")))
    return media


def main_text(html: str) -> tuple[str, str]:
    """(title, main text) of an HTML document, one paragraph a line.

    Scripts, styles, ``<nav>``, ``<header>``, ``<footer>``, ``<aside>`` and
    ``<form>`` are removed first; the main text is then trafilatura's
    extraction (a maintained main-content extractor that handles Chinese
    news layouts such as text in ``<div>``s split by ``<br>``; it reads only
    the string given, nothing is fetched), or :func:`_own_main_text` when it
    finds nothing. The title is the document's ``<title>``."""
    import trafilatura

    soup = parse(html)
    title = text_of(soup.title) if soup.title else ""
    strip_noise(soup)
    for tag in soup.find_all(["nav", "header", "footer", "aside", "form"]):
        tag.decompose()
    extracted = trafilatura.extract(str(soup), include_comments=False, include_tables=True)
    if extracted and extracted.strip():
        lines = (" ".join(line.split()) for line in extracted.splitlines())
        return title, "\n".join(line for line in lines if line)
    return title, _own_main_text(soup)


def _own_main_text(soup: BeautifulSoup) -> str:
    """The ``<article>``/``<main>`` or else the element holding the most
    paragraph text, of a document whose noise is already removed."""
    container: Tag | None = soup.find("article") or soup.find("main")
    if container is None:
        best, best_len = None, 0
        for candidate in soup.find_all(["div", "section", "body"]):
            length = sum(len(text_of(p)) for p in candidate.find_all("p", recursive=False))
            if length > best_len:
                best, best_len = candidate, length
        container = best or soup.body or soup
    paragraphs = items_of(container)
    return "\n".join(paragraphs)
