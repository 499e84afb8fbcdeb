"""Schedule pages (list, form with live cron preview, history) and the public
webhook endpoint. Views stay thin: look up, call one service, render."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import RequestDataTooBig
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from orchestration import jsoninput
from orchestration.access.decorators import forbidden, role_required
from orchestration.access.roles import Role, has_role
from orchestration.errors import DefinitionInvalid, SecretsMissing
from orchestration.models import Task
from scheduling import forms, presenters, selectors, services, spec, timing
from scheduling.models import FireOutcome, FireSource, Schedule
from webauto import webhook_signatures

PAGE_SIZE = 50
PREVIEW_COUNT = 5
MAX_WEBHOOK_BODY = 1024 * 1024
# Actions of schedule_action that change the schedule (the others operate it).
EDITOR_ACTIONS = ("rotate", "delete")


def _decorate(schedule: Schedule) -> Schedule:
    schedule.description = presenters.describe(schedule)  # type: ignore[attr-defined]
    return schedule


@role_required(Role.VIEWER)
@require_GET
def schedule_list(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    kind = request.GET.get("type", "")
    page = Paginator(
        selectors.schedule_list(state=state, kind=kind, task_id=request.GET.get("task", "")),
        PAGE_SIZE,
    ).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "schedules": [_decorate(s) for s in page.object_list],
        "state": state,
        "kind": kind,
        "kinds": spec.KINDS,
        "now": timezone.now(),
    }
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.boosted:
        return render(request, "scheduling/schedule_list.html#schedule-table", context)
    return render(request, "scheduling/schedule_list.html", context)


@role_required(Role.OPERATOR)
@require_POST
def schedule_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = get_object_or_404(Schedule, pk=pk)
    enable = request.POST.get("enabled") == "on" if "set" in request.POST else not schedule.enabled
    try:
        if enable:
            services.schedule_resume(schedule=schedule)
        else:
            services.schedule_pause(
                schedule=schedule, reason=f"paused by {request.user.get_username()}"
            )
    except DefinitionInvalid as exc:
        messages.error(request, "; ".join(e["message"] for e in exc.errors))
    if getattr(request, "htmx", None):
        row = _decorate(selectors.schedule_list().get(pk=pk))
        return render(
            request,
            "scheduling/schedule_list.html#schedule-row",
            {"schedule": row, "now": timezone.now()},
        )
    return redirect(request.POST.get("next") or reverse("scheduling:schedule-list"))


def _form_context(
    request: HttpRequest,
    values: dict[str, Any],
    errors: list[dict[str, str]],
    schedule: Schedule | None,
) -> dict[str, Any]:
    return {
        "values": values,
        "errors": errors,
        "schedule": schedule,
        "tasks": Task.objects.order_by("task_id").values_list("task_id", "name"),
        "choices": forms.CHOICES,
        "timezones": sorted(timing.timezone_names()),
        "default_timezone": settings.TIME_ZONE,
    }


@role_required(Role.EDITOR)
def schedule_create(request: HttpRequest) -> HttpResponse:
    values: dict[str, Any] = {
        "type": "cron",
        "timezone": "UTC",
        "enabled": True,
        "expression": "0 * * * *",
        "concurrent": "forbid",
        "misfirePolicy": "run-once",
        "taskId": request.GET.get("task", ""),
    }
    errors: list[dict[str, str]] = []
    if request.method == "POST":
        block, errors = forms.block_from_form(request.POST)
        values = {**request.POST.dict(), "enabled": request.POST.get("enabled") == "on"}
        task = Task.objects.filter(task_id=request.POST.get("taskId", "")).first()
        if task is None:
            errors.append({"path": "taskId", "message": "choose a task"})
        if not errors and task is not None:
            try:
                schedule = services.schedule_create(task=task, block=block)
            except DefinitionInvalid as exc:
                errors = exc.errors
            else:
                _announce_webhook(request, schedule)
                return redirect("scheduling:schedule-detail", pk=schedule.pk)
    return render(
        request, "scheduling/schedule_form.html", _form_context(request, values, errors, None)
    )


@role_required(Role.EDITOR)
def schedule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = get_object_or_404(Schedule.objects.select_related("task"), pk=pk)
    values = {**forms.initial_from_block(spec.to_block(schedule)), "taskId": schedule.task.task_id}
    errors: list[dict[str, str]] = []
    if request.method == "POST":
        block, errors = forms.block_from_form(request.POST)
        values = {
            **request.POST.dict(),
            "enabled": request.POST.get("enabled") == "on",
            "taskId": schedule.task.task_id,
        }
        if not errors:
            try:
                schedule = services.schedule_update(schedule=schedule, block=block)
            except DefinitionInvalid as exc:
                errors = exc.errors
            except services.ScheduleDefinitionEdit as exc:
                errors = [{"path": "", "message": str(exc)}]
            else:
                _announce_webhook(request, schedule)
                messages.success(request, "Schedule saved; it takes effect at once.")
                return redirect("scheduling:schedule-detail", pk=schedule.pk)
    return render(
        request, "scheduling/schedule_form.html", _form_context(request, values, errors, schedule)
    )


def _announce_webhook(request: HttpRequest, schedule: Schedule) -> None:
    token = getattr(schedule, "new_webhook_token", None)
    if token:
        url = request.build_absolute_uri(reverse("scheduling:webhook", args=[token]))
        messages.warning(request, f"Webhook URL (shown only now, keep it secret): {url}")


@role_required(Role.VIEWER)
@require_GET
def schedule_preview(request: HttpRequest) -> HttpResponse:
    """The form's live preview: what the cron means and its next fire times."""
    expression = request.GET.get("expression", "")
    tz = request.GET.get("timezone") or "UTC"
    context: dict[str, Any] = {"expression": expression, "timezone": tz}
    problem = timing.cron_error(expression) or timing.timezone_error(tz)
    if problem:
        context["problem"] = problem
    else:
        context["description"] = timing.describe_cron(expression)
        context["warnings"] = timing.cron_warnings(expression)
        context["times"] = services.preview_cron(expression=expression, tz_name=tz, count=PREVIEW_COUNT)
    return render(request, "scheduling/_preview.html", context)


@role_required(Role.VIEWER)
@require_GET
def schedule_detail(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = _decorate(
        get_object_or_404(Schedule.objects.select_related("task", "periodic_task"), pk=pk)
    )
    outcome = request.GET.get("outcome", "")
    if outcome not in FireOutcome.values:
        outcome = ""
    page = Paginator(
        selectors.schedule_history(schedule=schedule, outcome=outcome), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    context = {
        "schedule": schedule,
        "page": page,
        "fires": page.object_list,
        "outcome": outcome,
        "outcomes": FireOutcome.choices,
        "run_count": selectors.schedule_run_count(schedule),
        "upcoming": services.next_fire_times(schedule, PREVIEW_COUNT) if schedule.is_clock and schedule.enabled else [],
        "block": json.dumps(spec.to_block(schedule), indent=2, ensure_ascii=False),
    }
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.boosted:
        return render(request, "scheduling/schedule_detail.html#history", context)
    return render(request, "scheduling/schedule_detail.html", context)


@role_required(Role.OPERATOR)
@require_POST
def schedule_action(request: HttpRequest, pk: str, action: str) -> HttpResponse:
    if action in EDITOR_ACTIONS and not has_role(request.user, Role.EDITOR):
        return forbidden(request, Role.EDITOR)
    schedule = get_object_or_404(Schedule, pk=int(pk))
    try:
        if action == "pause":
            services.schedule_pause(
                schedule=schedule, reason=f"paused by {request.user.get_username()}"
            )
        elif action == "resume":
            services.schedule_resume(schedule=schedule)
        elif action == "run":
            fire = services.schedule_trigger(
                schedule=schedule, input=schedule.input, source=FireSource.API
            )
            messages.info(request, f"Fired now: {fire.get_outcome_display()}.")
        elif action == "rotate":
            token = services.schedule_rotate_webhook_token(schedule=schedule)
            url = request.build_absolute_uri(reverse("scheduling:webhook", args=[token]))
            messages.warning(request, f"New webhook URL (shown only now, keep it secret): {url}")
        elif action == "delete":
            services.schedule_delete(schedule=schedule)
            messages.success(request, "Schedule deleted.")
            return redirect("scheduling:schedule-list")
    except (
        DefinitionInvalid, SecretsMissing, services.ScheduleInactive, services.ScheduleFromDefinition
    ) as exc:
        errors = exc.errors if isinstance(exc, DefinitionInvalid) else [{"message": str(exc)}]
        messages.error(request, "; ".join(e["message"] for e in errors))
    return redirect("scheduling:schedule-detail", pk=pk)


def _error(status: int, path: str, message: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"errors": [{"path": path, "message": message}]}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def _webhook_input(request: HttpRequest, body: bytes) -> dict[str, Any] | JsonResponse:
    if not body:
        return {}
    content_type = request.content_type or ""
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            parsed = jsoninput.load(body, path="body")
        except jsoninput.JsonInputError as exc:
            first = exc.errors[0]
            message = f"the body is {first['message']}" if exc.syntax else first["message"]
            return _error(400, first["path"], message)
        return parsed if isinstance(parsed, dict) else {"body": parsed}
    if content_type == "application/x-www-form-urlencoded":
        form = QueryDict(body, encoding=request.encoding or "utf-8")
        return {key: values[0] if len(values) == 1 else values for key, values in form.lists()}
    return {"body": body.decode("utf-8", errors="replace"), "contentType": content_type}


def _webhook_body(request: HttpRequest) -> bytes | JsonResponse:
    raw_length = request.META.get("CONTENT_LENGTH") or "0"
    if not raw_length.isascii() or not raw_length.isdigit():
        return _error(400, "headers.Content-Length", "Content-Length must be a number of bytes")
    if int(raw_length) > MAX_WEBHOOK_BODY:
        return _error(413, "body", f"the body is larger than {MAX_WEBHOOK_BODY} bytes")
    try:
        body = request.body
    except RequestDataTooBig:
        return _error(413, "body", f"the body is larger than {MAX_WEBHOOK_BODY} bytes")
    if len(body) > MAX_WEBHOOK_BODY:
        return _error(413, "body", f"the body is larger than {MAX_WEBHOOK_BODY} bytes")
    return body


def _webhook_message_id(request: HttpRequest, schedule: Schedule, body: bytes) -> str | JsonResponse:
    """Check the request's signature; the Standard Webhooks id ("" without one)."""
    secret = schedule.webhook_secret
    try:
        if webhook_signatures.uses_standard(request.headers):
            return webhook_signatures.verify_standard(
                secret, body, request.headers, tolerance=settings.WEBAUTO_WEBHOOK_TOLERANCE_SECONDS
            )
        if not settings.WEBAUTO_WEBHOOK_LEGACY_SIGNATURES:
            raise webhook_signatures.SignatureRefused(
                401, "webhook-signature",
                "signature missing: send the Standard Webhooks headers webhook-id, webhook-timestamp and webhook-signature",
            )
        for header in ("X-Webauto-Signature", "X-Hub-Signature-256"):
            value = request.headers.get(header)
            if value:
                webhook_signatures.verify_legacy(secret, body, header, value)
                return ""
        raise webhook_signatures.SignatureRefused(
            401, "X-Webauto-Signature",
            "signature missing: send X-Webauto-Signature: sha256=<hex HMAC-SHA256 of the raw body with the "
            "webhook secret>, or the Standard Webhooks headers webhook-id, webhook-timestamp and webhook-signature",
        )
    except webhook_signatures.SignatureRefused as exc:
        return _error(exc.status, f"headers.{exc.header}", exc.message)


@csrf_exempt
@require_POST
def webhook(request: HttpRequest, token: str) -> HttpResponse:
    """``POST /hooks/{token}/``: the body becomes the execution's input."""
    schedule = services.webhook_lookup(token)
    if schedule is None:
        return _error(404, "token", "unknown webhook URL")
    body = _webhook_body(request)
    if isinstance(body, JsonResponse):
        return body
    message_id = ""
    if schedule.webhook_secret:
        checked = _webhook_message_id(request, schedule, body)
        if isinstance(checked, JsonResponse):
            return checked
        message_id = checked
    payload = _webhook_input(request, body)
    if isinstance(payload, JsonResponse):
        return payload
    where = services.nul_path(payload, "body")
    if where is not None:
        return _error(400, where, "a NUL character (\\u0000) cannot be stored")
    idempotency_key = request.headers.get("Idempotency-Key", "")[:150]
    if problem := services.idempotency_key_error(idempotency_key):
        return _error(400, "headers.Idempotency-Key", problem)
    try:
        fire, duplicate = services.webhook_trigger(
            schedule=schedule,
            input=payload,
            message_id=message_id,
            idempotency_key=idempotency_key,
        )
    except services.ScheduleInactive as exc:
        return _error(409, "", str(exc))
    except services.RateLimited as exc:
        return _error(429, "", str(exc), **{"Retry-After": str(exc.retry_after)})
    if duplicate:
        return JsonResponse(
            {
                "fireId": fire.pk if fire else None,
                "duplicate": True,
                "detail": f"webhook-id {message_id} was already received; nothing new was started",
            },
            status=200,
        )
    assert fire is not None
    return JsonResponse(
        {
            "fireId": fire.pk,
            "outcome": fire.outcome,
            "executionId": fire.execution_id,
            "detail": fire.detail,
        },
        status=202,
    )
