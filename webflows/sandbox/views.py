"""The sandbox site: a small public site (no WebAuto login) that workflows
watch, log in to, scrape and download from, offline. Mounted under /sandbox/."""

from __future__ import annotations

import time
from typing import Any

from django.core import signing
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from webflows.sandbox import content
from webflows.sandbox.png import png
from webflows.sandbox.state import sandbox_revision

MEMBER_COOKIE = "sandbox_member"
WEIBO_COOKIE = "SUB"
WEIBO_COOKIE_VALUE = "sandbox-sub-cookie"
_SALT = "webflows.sandbox.member"
# The feed variants: the real shape, and the failures a real Weibo client meets.
FEEDS = {"weibo", "weibo-private", "weibo-login", "weibo-ratelimited", "weibo-notok"}


def _png_response(data: bytes) -> HttpResponse:
    response = HttpResponse(data, content_type="image/png")
    response["Cache-Control"] = "no-store"
    return response


def index(request: HttpRequest) -> HttpResponse:
    return render(request, "webflows/sandbox/index.html", {"revision": sandbox_revision()})


def news(request: HttpRequest) -> HttpResponse:
    revision = sandbox_revision()
    return render(
        request,
        "webflows/sandbox/news.html",
        {"revision": revision, "items": content.news_items(revision)},
    )


def article(request: HttpRequest, slug: str) -> HttpResponse:
    revision = sandbox_revision()
    item = next((i for i in content.news_items(revision) if i["slug"] == slug), None)
    if item is None:
        raise Http404("no such article")
    return render(request, "webflows/sandbox/article.html", {"item": item, "revision": revision})


def js_app(request: HttpRequest) -> HttpResponse:
    return render(request, "webflows/sandbox/app.html", {})


def app_items(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"items": content.app_items(sandbox_revision())})


def banner(request: HttpRequest) -> HttpResponse:
    """Same URL, new bytes after every revision: what a page monitor's media check sees."""
    return _png_response(png(f"banner-{sandbox_revision()}", 120, 40))


def news_image(request: HttpRequest, number: int) -> HttpResponse:
    return _png_response(png(f"news-{number}", 80, 60))


# --- members area (form login) ----------------------------------------------


def _member(request: HttpRequest) -> str | None:
    try:
        return signing.loads(request.COOKIES.get(MEMBER_COOKIE, ""), salt=_SALT, max_age=86400)
    except signing.BadSignature:
        return None


def _to_login(request: HttpRequest) -> HttpResponseRedirect:
    return HttpResponseRedirect(f"{reverse('sandbox-login')}?next={request.get_full_path()}")


# The sandbox plays a third-party site whose login form scripts post to
# without a Django CSRF token (as a real site's form would be filled).
@csrf_exempt
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or reverse("sandbox-members")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = reverse("sandbox-members")
    error = ""
    if request.method == "POST":
        if (
            request.POST.get("username") == content.MEMBER_USER
            and request.POST.get("password") == content.MEMBER_PASSWORD
        ):
            response = HttpResponseRedirect(next_url)
            response.set_cookie(
                MEMBER_COOKIE, signing.dumps(content.MEMBER_USER, salt=_SALT), httponly=True, samesite="Lax"
            )
            return response
        error = "Wrong user name or password."
    status = 401 if error else 200
    return render(request, "webflows/sandbox/login.html", {"next": next_url, "error": error}, status=status)


def logout(request: HttpRequest) -> HttpResponse:
    response = HttpResponseRedirect(reverse("sandbox-login"))
    response.delete_cookie(MEMBER_COOKIE)
    return response


def _member_files(revision: int) -> list[dict[str, Any]]:
    files = [
        {"name": f"photo-{n}.png", "title": f"Member photo {n}", "type": "image/png"} for n in (1, 2)
    ]
    files.append({"name": "report.csv", "title": "Monthly report", "type": "text/csv"})
    if revision:
        files.append({"name": f"photo-{2 + revision}.png", "title": f"Member photo {2 + revision}", "type": "image/png"})
    return files


def members(request: HttpRequest) -> HttpResponse:
    user = _member(request)
    if user is None:
        return _to_login(request)
    revision = sandbox_revision()
    return render(
        request,
        "webflows/sandbox/members.html",
        {"user": user, "files": _member_files(revision), "revision": revision},
    )


def member_file(request: HttpRequest, name: str) -> HttpResponse:
    if _member(request) is None:
        return _to_login(request)
    if name == "report.csv":
        rows = ["month,visits", *(f"2026-{m:02d},{1000 + 37 * m}" for m in range(1, 7))]
        return HttpResponse("\n".join(rows) + "\n", content_type="text/csv")
    if name.startswith("photo-") and name.endswith(".png"):
        return _png_response(png(f"member-{name}", 64, 64))
    raise Http404("no such file")


# --- files for error handling ------------------------------------------------


def big_file(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """``?bytes=N`` of data; ``?declared=0`` streams without a Content-Length
    (so only counting the body can enforce a size limit)."""
    size = min(int(request.GET.get("bytes", "1048576")), 50 * 1024 * 1024)
    if request.GET.get("declared", "1") == "0":
        def body():
            sent = 0
            while sent < size:
                chunk = min(65536, size - sent)
                sent += chunk
                yield b"x" * chunk
        return StreamingHttpResponse(body(), content_type="application/octet-stream")
    return HttpResponse(b"x" * size, content_type="application/octet-stream")


def slow_file(request: HttpRequest) -> HttpResponse:
    time.sleep(min(float(request.GET.get("seconds", "3")), 30))
    return _png_response(png("slow", 16, 16))


def text_file(request: HttpRequest) -> HttpResponse:
    return HttpResponse("plain text, not an image\n", content_type="text/plain")


def tiny_file(request: HttpRequest) -> HttpResponse:
    return _png_response(png("tiny", 1, 1))


# --- the Weibo-shaped feed -----------------------------------------------------


def _feed_error(feed: str, request: HttpRequest) -> HttpResponse | None:
    if feed == "weibo-ratelimited":
        return HttpResponse("", status=418)
    if feed == "weibo-login" or (
        feed == "weibo-private" and request.COOKIES.get(WEIBO_COOKIE) != WEIBO_COOKIE_VALUE
    ):
        # What m.weibo.cn answers when a login is needed: an HTML page, not JSON.
        return render(request, "webflows/sandbox/weibo_login.html", {})
    if feed == "weibo-notok":
        return JsonResponse({"ok": 0, "msg": "这里还没有内容"})
    return None


def weibo_get_index(request: HttpRequest, feed: str) -> HttpResponse:
    if feed not in FEEDS:
        raise Http404("no such feed")
    error = _feed_error(feed, request)
    if error is not None:
        return error
    uid = request.GET.get("value") or content.SANDBOX_UID
    containerid = request.GET.get("containerid", "")
    if containerid.startswith("107603"):
        uid = containerid[len("107603"):]
    if not uid.isdigit():
        return JsonResponse({"ok": 0, "msg": "invalid uid"})
    revision = sandbox_revision()
    total = content.post_count(revision)
    if not containerid:
        return JsonResponse(
            {
                "ok": 1,
                "data": {
                    "userInfo": {
                        "id": int(uid),
                        "screen_name": "沙盒用户",
                        "statuses_count": total,
                        "followers_count": 1234,
                        "follow_count": 56,
                        "description": "WebAuto 沙盒里的示例账号",
                        "avatar_hd": request.build_absolute_uri(
                            reverse("sandbox-weibo-media", args=[feed, "large", "avatar"])
                        ),
                    },
                    "tabsInfo": {"tabs": [{"containerid": f"107603{uid}", "title": "微博", "tabKey": "weibo"}]},
                },
            }
        )
    media_base = request.build_absolute_uri(f"/sandbox/{feed}/media")
    numbers = list(range(total, 0, -1))
    since = request.GET.get("since_id")
    if since:
        start = content.number_of(since)
        numbers = [n for n in numbers if start is not None and n < start]
    elif request.GET.get("page", "1").isdigit() and int(request.GET.get("page", "1")) > 1:
        page = int(request.GET["page"])
        numbers = numbers[(page - 1) * content.PAGE_SIZE :]
    page_numbers = numbers[: content.PAGE_SIZE]
    cards = [
        {"card_type": 9, "itemid": f"post-{n}", "mblog": content.post(n, uid, media_base)} for n in page_numbers
    ]
    # A non-post card, as the real timeline mixes them in.
    cards.insert(0, {"card_type": 11, "card_group": []})
    info: dict[str, Any] = {"containerid": f"107603{uid}", "total": total, "page": None}
    if len(numbers) > content.PAGE_SIZE:
        info["since_id"] = int(content.post_id(page_numbers[-1]))
    return JsonResponse({"ok": 1, "data": {"cardlistInfo": info, "cards": cards}})


def weibo_extend(request: HttpRequest, feed: str) -> HttpResponse:
    error = _feed_error(feed, request)
    if error is not None:
        return error
    number = content.number_of(request.GET.get("id", ""))
    if number is None or number > content.post_count(sandbox_revision()):
        return JsonResponse({"ok": 0, "msg": "not found"})
    return JsonResponse({"ok": 1, "data": {"ok": 1, "longTextContent": content.full_text(number)}})


def weibo_comments(request: HttpRequest, feed: str) -> HttpResponse:
    error = _feed_error(feed, request)
    if error is not None:
        return error
    number = content.number_of(request.GET.get("id", ""))
    if number is None or number > content.post_count(sandbox_revision()):
        return JsonResponse({"ok": 0, "msg": "not found"})
    return JsonResponse({"ok": 1, "data": {"data": content.comments(number), "total_number": number * 5}})


def weibo_media(request: HttpRequest, feed: str, quality: str, pid: str) -> HttpResponse:
    size = content.QUALITY_SIZES.get(quality)
    if size is None:
        raise Http404("no such size")
    return _png_response(png(f"{pid}-{quality}", size, size))


def weibo_profile(request: HttpRequest, feed: str, uid: str) -> HttpResponse:
    return render(request, "webflows/sandbox/weibo_profile.html", {"uid": uid, "feed": feed})
