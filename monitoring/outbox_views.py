"""The Outbox page: email the embedded default wrote to var/outbox/ instead
of sending it (see monitoring/outbox.py)."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from monitoring import outbox
from orchestration.access.decorators import role_required
from orchestration.access.roles import Role


@role_required(Role.VIEWER)
@require_GET
def outbox_page(request: HttpRequest) -> HttpResponse:
    """The newest outbox messages, and whether email goes there at all."""
    context = {
        "enabled": outbox.outbox_enabled(),
        "directory": outbox.outbox_directory(),
        "backend": settings.EMAIL_BACKEND,
        "messages": outbox.outbox_messages(),
    }
    return render(request, "monitoring/outbox.html", context)


@role_required(Role.VIEWER)
@require_GET
def outbox_detail(request: HttpRequest, file: str, index: int) -> HttpResponse:
    """One message (headers and text); 404 for an unknown file or position."""
    try:
        message = outbox.outbox_message(file=file, index=index)
    except LookupError as exc:
        raise Http404(str(exc)) from None
    return render(request, "monitoring/outbox_detail.html", {"message": message})
