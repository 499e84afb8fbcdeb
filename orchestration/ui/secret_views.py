"""Secrets: names and descriptions are listed; values are write-only (a value
typed here is stored and never shown again, on this page or anywhere)."""

from __future__ import annotations

import re

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from orchestration import secret_services
from orchestration.access.decorators import role_required
from orchestration.access.roles import Role
from orchestration.errors import DefinitionInvalid
from orchestration.models import Secret


@role_required(Role.ADMIN, get=Role.VIEWER)
@require_http_methods(["GET", "POST"])
def secret_list(request: HttpRequest) -> HttpResponse:
    errors: list[dict[str, str]] = []
    form = {"name": "", "description": "", "allowed_hosts": ""}
    if request.method == "POST":
        form = {"name": request.POST.get("name", "").strip(), "description": request.POST.get("description", "")}
        form["allowed_hosts"] = request.POST.get("allowed_hosts", "")
        hosts = [h for h in re.split(r"[,\s]+", form["allowed_hosts"]) if h]
        existing = Secret.objects.filter(name=form["name"]).first()
        try:
            if existing is not None:
                secret_services.secret_update(
                    secret=existing, value=request.POST.get("value", ""), description=form["description"],
                    allowed_hosts=hosts,
                )
                messages.success(request, f"Secret “{existing.name}” updated.")
            else:
                secret_services.secret_create(
                    name=form["name"], value=request.POST.get("value", ""), description=form["description"],
                    allowed_hosts=hosts,
                )
                messages.success(request, f"Secret “{form['name']}” saved.")
            return redirect("ui:secret-list")
        except DefinitionInvalid as exc:
            errors = exc.errors
    secrets = Secret.objects.only("name", "description", "allowed_hosts", "updated_at").order_by("name")
    return render(request, "orchestration/secret_list.html", {"secrets": secrets, "errors": errors, "form": form},
                  status=400 if errors else 200)


@role_required(Role.ADMIN)
@require_POST
def secret_delete(request: HttpRequest, name: str) -> HttpResponse:
    secret = get_object_or_404(Secret, name=name)
    secret_services.secret_delete(secret=secret)
    messages.success(request, f"Secret “{name}” deleted.")
    return redirect("ui:secret-list")
