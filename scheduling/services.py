"""Writes of the scheduling app: create, edit, pause, resume and delete
schedules, keep them in step with task definitions, webhooks and external
events. Firing lives in ``firing`` and is re-exported here, so callers have
one place to go."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from orchestration import blocks, events
from orchestration.errors import DefinitionInvalid
from orchestration.models import Event, Task
from scheduling import arming, cursor, spec
from scheduling.cursor import next_fire_times, preview_cron
from scheduling.firing import (
    MAX_RECORDED_SLOTS,
    RateLimited,
    ScheduleInactive,
    event_matches,
    schedule_execution_finished,
    schedule_fire_batch,
    schedule_fire_due,
    schedule_fire_event,
    schedule_trigger,
    schedules_prune_history,
    schedules_watchdog,
)
from scheduling.models import (
    Fire,
    FireSource,
    Origin,
    Schedule,
    ScheduleKind,
    WebhookMessage,
)
from webauto import webhook_signatures

__all__ = [
    "MAX_RECORDED_SLOTS", "RateLimited", "ScheduleDefinitionEdit", "ScheduleFromDefinition", "ScheduleInactive", "event_ingest", "event_ingest_errors",
    "event_matches", "next_fire_times", "preview_cron", "schedule_create", "schedule_delete",
    "schedule_execution_finished", "schedule_fire_batch", "schedule_fire_due", "schedule_fire_event", "schedule_pause",
    "schedule_resume", "schedule_rotate_webhook_token", "schedule_sync_from_definition",
    "schedule_trigger", "schedule_update", "schedules_follow_task_enabled", "schedules_prune_history",
    "schedules_release_for_task", "schedules_watchdog", "webhook_lookup", "webhook_signature_valid",
    "webhook_trigger", "nul_path", "idempotency_key_error",
]

# --- Create, edit, pause, resume, delete -------------------------------------------------


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_webhook_token(schedule: Schedule) -> str:
    token = secrets.token_urlsafe(32)
    schedule.webhook_token_hash = _hash_token(token)
    # Not a model field: the plain token is handed back once, to whoever made it.
    schedule.new_webhook_token = token  # type: ignore[attr-defined]
    return token


def _apply(schedule: Schedule, parsed: spec.Parsed) -> None:
    for name, value in parsed.fields.items():
        setattr(schedule, name, value)
    if parsed.webhook_secret is not None:
        schedule.webhook_secret = parsed.webhook_secret
    if schedule.kind == ScheduleKind.MANUAL and schedule.manual_trigger == "webhook":
        if not schedule.webhook_token_hash:
            _new_webhook_token(schedule)
    else:
        schedule.webhook_token_hash = None


def _parse_or_raise(block: Any, prefix: str) -> spec.Parsed:
    parsed = spec.parse_block(block, prefix)
    if parsed.errors:
        raise DefinitionInvalid(parsed.errors)
    return parsed


def schedule_create(
    *, task: Task, block: dict[str, Any], origin: str = Origin.API, prefix: str = ""
) -> Schedule:
    """Create a schedule for ``task`` from a schedule block (raises DefinitionInvalid)."""
    block = blocks.normalise("schedule", block)  # 60.0 for an integer field is 60
    parsed = _parse_or_raise(block, prefix)
    now = timezone.now()
    with transaction.atomic():
        schedule = Schedule(task=task, origin=origin, anchor_at=None)
        _apply(schedule, parsed)
        schedule.anchor_at = schedule.start_at or now
        if origin == Origin.DEFINITION:
            schedule.definition_block = _without_secret(block)
        schedule.save()
        cursor.activate(schedule, now)
        events.emit(
            "schedule.created",
            task=task,
            data={"scheduleId": schedule.pk, "taskId": task.task_id, "type": schedule.kind},
        )
    return schedule


def schedule_update(*, schedule: Schedule, block: dict[str, Any], prefix: str = "") -> Schedule:
    """Replace the schedule's settings; takes effect at once, beat is not restarted.

    ``prefix`` is ``"schedule"`` only when the task's definition is being
    synced (``schedule_sync_from_definition``). Any other caller (API, pages)
    editing a schedule that comes from a task's ``schedule`` block may change
    nothing but ``enabled`` (pause/resume): any other change raises
    ScheduleDefinitionEdit, since the task's definition owns those settings.
    Raises DefinitionInvalid for a bad block."""
    block = blocks.normalise("schedule", block)
    parsed = _parse_or_raise(block, prefix)
    now = timezone.now()
    with transaction.atomic():
        # Row lock: an edit must not interleave with a fire advancing the cursor.
        locked = Schedule.objects.select_for_update(of=("self",)).select_related("task").get(pk=schedule.pk)
        if locked.origin == Origin.DEFINITION and prefix != "schedule":
            changed = sorted(_changed_fields(locked, parsed) - {"enabled"})
            if changed:
                raise ScheduleDefinitionEdit(locked, changed)
        timing_before = (
            locked.kind,
            locked.expression,
            locked.timezone,
            locked.interval_ms,
            locked.start_at,
        )
        _apply(locked, parsed)
        if (
            locked.kind,
            locked.expression,
            locked.timezone,
            locked.interval_ms,
            locked.start_at,
        ) != timing_before:
            locked.anchor_at = locked.start_at or now
        if locked.origin == Origin.DEFINITION and prefix == "schedule":
            locked.definition_block = _without_secret(block)
        if locked.finished_at and cursor.can_run_again(locked, now):
            locked.finished_at = None
            locked.finished_reason = ""
        locked.save()
        cursor.activate(locked, now)
        events.emit("schedule.updated", task=locked.task, data={"scheduleId": locked.pk})
    if hasattr(locked, "new_webhook_token"):
        schedule.new_webhook_token = locked.new_webhook_token  # type: ignore[attr-defined]
    return locked


def _changed_fields(schedule: Schedule, parsed: spec.Parsed) -> set[str]:
    """Names of the Schedule fields ``parsed`` would change (the webhook secret
    counts as ``webhook_secret`` when a different one is given)."""
    changed = {name for name, value in parsed.fields.items() if getattr(schedule, name) != value}
    if parsed.webhook_secret is not None and parsed.webhook_secret != schedule.webhook_secret:
        changed.add("webhook_secret")
    return changed


def schedule_pause(*, schedule: Schedule, reason: str = "paused by operator") -> Schedule:
    with transaction.atomic():
        locked = Schedule.objects.select_for_update(of=("self",)).select_related("task").get(pk=schedule.pk)
        if not locked.enabled:
            return locked
        locked.enabled = False
        locked.paused_reason = reason[:300]
        locked.save(update_fields=["enabled", "paused_reason", "updated_at"])
        arming.arm(locked, None)
        events.emit(
            "schedule.paused",
            task=locked.task,
            data={"scheduleId": locked.pk, "reason": locked.paused_reason},
        )
    return locked


def schedule_resume(*, schedule: Schedule) -> Schedule:
    """Enable a paused schedule. Fires that fell while it was paused are not run."""
    now = timezone.now()
    with transaction.atomic():
        locked = Schedule.objects.select_for_update(of=("self",)).select_related("task").get(pk=schedule.pk)
        if locked.finished_at:
            if not cursor.can_run_again(locked, now):
                raise DefinitionInvalid(
                    [
                        {
                            "path": "",
                            "message": f"schedule finished ({locked.finished_reason}); raise maxRuns or move endDate to resume it",
                        }
                    ]
                )
            locked.finished_at = None
            locked.finished_reason = ""
        locked.enabled = True
        locked.paused_reason = ""
        locked.consecutive_failures = 0
        locked.save()
        cursor.activate(locked, now)
        events.emit("schedule.resumed", task=locked.task, data={"scheduleId": locked.pk})
    return locked


class ScheduleFromDefinition(Exception):
    """The schedule comes from its task's ``schedule`` block: deleting it alone
    would not stick (the next save of the task re-creates it), so it is refused."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule_id = schedule.pk
        self.task_id = schedule.task.task_id
        super().__init__(
            f"schedule {schedule.pk} comes from the schedule block of task "
            f"'{schedule.task.task_id}' and cannot be deleted on its own: pause it "
            f"(POST /api/v1/schedules/{schedule.pk}/pause/) to stop its fires, or remove "
            "'schedule' from the task's definition to unschedule it"
        )


class ScheduleDefinitionEdit(ScheduleFromDefinition):
    """A change to the settings (timing, type, window, limits...) of a schedule
    that comes from its task's ``schedule`` block, made anywhere but in the
    task's definition: refused like deleting it, since the definition would
    still say otherwise (and its next change would undo the edit). Pausing and
    resuming stay allowed. ``fields`` are the Schedule fields that would change."""

    def __init__(self, schedule: Schedule, fields: list[str]) -> None:
        self.fields = fields
        Exception.__init__(
            self,
            f"schedule {schedule.pk} comes from the schedule block of task "
            f"'{schedule.task.task_id}': change its settings by editing the task's definition "
            f"(PATCH /api/v1/tasks/{schedule.task.task_id}/ with a new 'schedule'); here only "
            f"pause (POST /api/v1/schedules/{schedule.pk}/pause/) and resume are allowed",
        )
        self.schedule_id = schedule.pk
        self.task_id = schedule.task.task_id


def schedule_delete(*, schedule: Schedule) -> None:
    """Unschedule (delete) a schedule made through the API or the pages.

    Raises ScheduleFromDefinition for a schedule that comes from a task's
    ``schedule`` block: that one goes when the block goes (or with its task),
    and is stopped meanwhile by pausing it, which later saves of the task keep."""
    with transaction.atomic():
        locked = Schedule.objects.select_for_update(of=("self",)).select_related("task").get(pk=schedule.pk)
        if locked.origin == Origin.DEFINITION:
            raise ScheduleFromDefinition(locked)
        _remove(locked)


def _remove(locked: Schedule) -> None:
    """Delete a schedule whose row lock the caller holds (inside its transaction)."""
    arming.release(locked)
    events.emit(
        "schedule.deleted",
        task=locked.task,
        data={"scheduleId": locked.pk, "taskId": locked.task.task_id},
    )
    locked.delete()


def schedule_rotate_webhook_token(*, schedule: Schedule) -> str:
    """A new secret webhook URL token (the old one stops working at once)."""
    if not (schedule.kind == ScheduleKind.MANUAL and schedule.manual_trigger == "webhook"):
        raise DefinitionInvalid(
            [{"path": "trigger", "message": "only webhook schedules have a webhook URL"}]
        )
    with transaction.atomic():
        locked = Schedule.objects.select_for_update().get(pk=schedule.pk)
        token = _new_webhook_token(locked)
        locked.save(update_fields=["webhook_token_hash", "updated_at"])
    return token


def _without_secret(block: Any) -> Any:
    # The webhook secret lives only in its write-only column, never in a JSON copy.
    if not isinstance(block, dict):
        return block
    return {key: value for key, value in block.items() if key != "webhookSecret"}


def schedule_sync_from_definition(*, task: Task, definition: dict[str, Any]) -> Schedule | None:
    """Keep the task's definition schedule in step with its ``schedule`` block."""
    block = definition.get("schedule")
    existing = Schedule.objects.filter(task=task, origin=Origin.DEFINITION).first()
    if block is None:
        if existing is not None:
            with transaction.atomic():
                _remove(Schedule.objects.select_for_update().select_related("task").get(pk=existing.pk))
        return None
    if existing is None:
        return schedule_create(task=task, block=block, origin=Origin.DEFINITION, prefix="schedule")
    secret = block.get("webhookSecret") if isinstance(block, dict) else None
    if existing.definition_block == _without_secret(block) and secret in (None, existing.webhook_secret):
        # Unchanged block: keep pauses and API edits made since.
        return existing
    return schedule_update(schedule=existing, block=block, prefix="schedule")


TASK_DISABLED = "task disabled"


def schedules_follow_task_enabled(*, task: Task) -> None:
    """A disabled task's schedules pause; enabling it resumes the ones it paused."""
    if not task.enabled:
        for schedule in Schedule.objects.filter(task=task, enabled=True, finished_at__isnull=True):
            schedule_pause(schedule=schedule, reason=TASK_DISABLED)
    else:
        for schedule in Schedule.objects.filter(task=task, enabled=False, paused_reason=TASK_DISABLED):
            schedule_resume(schedule=schedule)


def schedules_release_for_task(*, task: Task) -> None:
    for schedule in Schedule.objects.filter(task=task):
        arming.release(schedule)


def webhook_lookup(token: str) -> Schedule | None:
    return (
        Schedule.objects.select_related("task")
        .filter(
            webhook_token_hash=_hash_token(token),
            kind=ScheduleKind.MANUAL,
            manual_trigger="webhook",
        )
        .first()
    )


def webhook_signature_valid(schedule: Schedule, body: bytes, header: str) -> bool:
    """Whether ``header`` is ``sha256=<hex HMAC-SHA256 of the raw body>`` with
    the schedule's secret (any other format, non-ASCII included, is not)."""
    try:
        webhook_signatures.verify_legacy(schedule.webhook_secret, body, "X-Webauto-Signature", header)
    except webhook_signatures.SignatureRefused:
        return False
    return True


def webhook_trigger(
    *, schedule: Schedule, input: dict[str, Any], message_id: str = "", idempotency_key: str = ""
) -> tuple[Fire | None, bool]:
    """Fire a webhook schedule; returns (fire, duplicate).

    With a Standard Webhooks ``message_id`` the id is remembered together with
    the fire, in one transaction: a second request with the same id starts
    nothing and gets the first fire back (``duplicate`` True; the fire is None
    if its history was pruned). A request refused (paused, rate-limited)
    leaves no id behind, so the sender's retry of it is not a duplicate.
    Raises ScheduleInactive and RateLimited like ``schedule_trigger``."""
    if not message_id:
        fire = schedule_trigger(
            schedule=schedule, input=input, source=FireSource.WEBHOOK, idempotency_key=idempotency_key
        )
        return fire, False
    now = timezone.now()
    keep = timedelta(seconds=2 * settings.WEBAUTO_WEBHOOK_TOLERANCE_SECONDS)
    WebhookMessage.objects.filter(received_at__lt=now - keep).delete()
    seen = WebhookMessage.objects.filter(schedule=schedule, message_id=message_id).first()
    if seen is not None:
        return seen.fire, True
    try:
        with transaction.atomic():
            fire = schedule_trigger(
                schedule=schedule,
                input=input,
                source=FireSource.WEBHOOK,
                idempotency_key=idempotency_key or f"webhook-id:{message_id}",
            )
            WebhookMessage.objects.create(schedule=schedule, message_id=message_id, fire=fire, received_at=now)
    except IntegrityError:
        # A concurrent request with the same id committed first; ours rolled back whole.
        first = WebhookMessage.objects.get(schedule=schedule, message_id=message_id)
        return first.fire, True
    return fire, False


def nul_path(value: Any, path: str = "") -> str | None:
    """The JSON path of the first string or key of ``value`` holding a NUL
    character (PostgreSQL cannot store one in text or JSON), else None."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return where
        elif isinstance(item, dict):
            for key, child in item.items():
                inner = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and "\x00" in key:
                    return inner
                stack.append((inner, child))
        elif isinstance(item, list):
            stack.extend((f"{where}[{index}]", child) for index, child in enumerate(item))
    return None


def idempotency_key_error(key: str) -> str | None:
    """Why an ``Idempotency-Key`` header cannot be used (control characters), else None."""
    if not key.isprintable():
        return "Idempotency-Key must hold printable characters only"
    return None


EVENT_TYPE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-")


def event_ingest_errors(body: dict[str, Any]) -> list[dict[str, str]]:
    """Problems with an external event document ``{"type", "data", "source"}``."""
    errors = []
    kind = body.get("type")
    if not isinstance(kind, str) or not 1 <= len(kind) <= 100 or not set(kind) <= EVENT_TYPE_CHARS:
        errors.append(
            {
                "path": "type",
                "message": "type must be 1-100 characters of letters, digits, '.', '_', ':' or '-'",
            }
        )
    if "data" in body and not isinstance(body["data"], dict):
        errors.append({"path": "data", "message": "data must be an object"})
    if "source" in body and (not isinstance(body["source"], str) or len(body["source"]) > 50):
        errors.append(
            {"path": "source", "message": "source must be a string of at most 50 characters"}
        )
    for key in ("data", "source"):
        where = nul_path(body.get(key), key)
        if where is not None:
            errors.append({"path": where, "message": "a NUL character (\\u0000) cannot be stored"})
    unknown = set(body) - {"type", "data", "source"}
    errors.extend({"path": key, "message": f"unknown field '{key}'"} for key in sorted(unknown))
    return errors


def event_ingest(*, type: str, data: dict[str, Any], source: str = "api") -> Event:
    """Record an external event; matching event schedules start after commit."""
    with transaction.atomic():
        return events.emit(type, data=data, source=source[:50])

