"""Role checks for pages and htmx actions."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render

from orchestration.access.roles import Role, has_role, role_of

View = TypeVar("View", bound=Callable[..., HttpResponseBase])


def role_required(role: Role, *, get: Role | None = None) -> Callable[[View], View]:
    """Let a page or htmx action through only for accounts with ``role``
    (``get``, when given, is the role needed for GET and HEAD; ``role`` then
    applies to the other methods, e.g. a list page with a form of admins).

    Not logged in: redirect to the login page. Logged in without any role:
    403 with the "no role yet, ask an admin" page. Role too low: 403 naming
    the role needed (a short text for htmx requests, which swap it in).
    The wrapped view carries ``required_roles`` (read by the page tests).
    """

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            needed = get if get is not None and request.method in ("GET", "HEAD") else role
            if has_role(request.user, needed):
                return view(request, *args, **kwargs)
            return forbidden(request, needed)

        wrapper.required_roles = {"GET": get or role, "POST": role}  # type: ignore[attr-defined]
        return cast(View, wrapper)

    return decorator


def forbidden(request: HttpRequest, needed: Role) -> HttpResponse:
    """The 403 page: "no role yet" for accounts without a role, else the role needed."""
    current = role_of(request.user)
    context = {"needed": needed.label, "current": current.label if current else None}
    if getattr(request, "htmx", False):
        if current is None:
            text = "Your account has no role yet: ask an admin to give you one."
        else:
            text = f"This needs the {needed.label} role; your role is {current.label}."
        return HttpResponse(text, status=403, content_type="text/plain")
    return render(request, "access/forbidden.html", context, status=403)
