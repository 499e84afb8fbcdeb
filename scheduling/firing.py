"""Firing schedules: clock fires (with misfire and overlap policies), event
fires, manual/webhook triggers, and what follows a run's end.

Every fire happens under a row lock on its schedule, and every fire record is
unique per (schedule, idempotency key), so two beats, a redelivered message or
a replayed webhook start a run at most once.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, IntegrityError, OperationalError, transaction
from django.utils import timezone

from orchestration import events
from orchestration.definitions import missing_secrets
from orchestration.errors import SecretsMissing
from orchestration.models import (
    EXECUTION_ACTIVE,
    EXECUTION_FINAL,
    Event,
    Execution,
    ExecutionStatus,
)
from scheduling import arming, cursor
from scheduling.models import (
    Fire,
    FireOutcome,
    FireSource,
    MisfirePolicy,
    Overlap,
    Schedule,
    ScheduleKind,
)

logger = logging.getLogger(__name__)

MAX_RECORDED_SLOTS = 1000
# How far back a cron schedule is walked after an outage.
MAX_CATCH_UP_WINDOW = timedelta(days=31)
FAILED_STATUSES = frozenset({ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT})
SUCCESS_STATUSES = frozenset({ExecutionStatus.COMPLETED, ExecutionStatus.COMPLETED_WITH_ERRORS})


class ScheduleInactive(Exception):
    """The schedule is paused or finished and does not accept triggers."""


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limit reached; retry in {retry_after} s")
        self.retry_after = retry_after


# --- Firing --------------------------------------------------------------------------------


def _event_data(schedule: Schedule, fire: Fire, **extra: Any) -> dict[str, Any]:
    data = {
        "scheduleId": schedule.pk,
        "taskId": schedule.task.task_id,
        "fireId": fire.pk,
        "scheduledTime": fire.scheduled_at.isoformat(),
        "outcome": fire.outcome,
        "lagMs": fire.lag_ms,
        "source": fire.source,
        "executionId": fire.execution_id,
    }
    if fire.detail:
        data["detail"] = fire.detail
    data.update(extra)
    return data


def _record(schedule: Schedule, **fields: Any) -> Fire | None:
    """Insert a fire record; None when this key was already recorded (a duplicate)."""
    try:
        with transaction.atomic():
            return Fire.objects.create(schedule=schedule, **fields)
    except IntegrityError:
        return None


TRIGGER_OF_SOURCE: dict[str, str] = {
    FireSource.CLOCK: "schedule",
    FireSource.EVENT: "event",
    FireSource.WEBHOOK: "webhook",
}


def _trigger_name(source: str) -> str:
    return TRIGGER_OF_SOURCE.get(source, "api")


# Retries of a run's creation after a deadlock or lock timeout.
START_MAX_RETRIES = 2
# Schedules the watchdog fires per transaction.
WATCHDOG_BATCH = 10


def _start_execution(schedule: Schedule, input: dict[str, Any], source: str) -> Execution:
    """Create the run in a savepoint; a deadlock or lock timeout (transient,
    under heavy admission traffic) is retried a couple of times before the fire
    counts as failed-to-start."""
    from orchestration import services as core

    retries = 0
    while True:
        try:
            with transaction.atomic():
                return core.execution_create(
                    task=schedule.task, input=input, trigger=_trigger_name(source),
                    triggered_by=f"schedule #{schedule.pk}",
                )
        except OperationalError:
            if retries >= START_MAX_RETRIES:
                raise
            retries += 1
            time.sleep(0.05 * retries)


def _start_failure_detail(exc: Exception) -> str:
    """The fire's ``detail`` for a start that raised ``exc`` (shown in the API,
    the webhook answer and the fire history). A database error's text holds
    SQL and the values sent, so it goes to the server log and the detail only
    says what happened."""
    if isinstance(exc, DatabaseError):
        logger.error("a fire failed to start: the database refused the run", exc_info=exc)
        return "the database refused to store the run (the server log has the details)"
    return f"{type(exc).__name__}: {exc}"[:2000]


def _fire(
    schedule: Schedule,
    *,
    scheduled_at: datetime,
    source: str,
    dedup_key: str,
    input: dict[str, Any],
    event: Event | None = None,
    catch_up: bool = False,
) -> Fire | None:
    """Start one run of a locked schedule, or record why not. Caller holds the row lock."""
    base = {
        "source": source,
        "scheduled_at": scheduled_at,
        "dedup_key": dedup_key,
        "event": event,
        "catch_up": catch_up,
    }
    if (schedule.start_at and scheduled_at < schedule.start_at) or (
        schedule.end_at and scheduled_at > schedule.end_at
    ):
        fire = _record(
            schedule, outcome=FireOutcome.SKIPPED_WINDOW, detail="outside startDate/endDate", **base
        )
        if fire:
            events.emit("schedule.skipped", task=schedule.task, data=_event_data(schedule, fire))
        return fire

    if not schedule.task.enabled:
        fire = _record(
            schedule,
            outcome=FireOutcome.FAILED_TO_START,
            detail=f'task "{schedule.task.task_id}" is disabled',
            **base,
        )
        if fire:
            events.emit(
                "schedule.failed_to_start", task=schedule.task, data=_event_data(schedule, fire)
            )
        return fire

    active: list[int] = []
    if schedule.overlap != Overlap.ALLOW:
        active = list(
            Execution.objects.filter(task=schedule.task, status__in=EXECUTION_ACTIVE).values_list(
                "pk", flat=True
            )
        )
    if active and schedule.overlap == Overlap.FORBID:
        detail = f"execution #{active[0]} is still active"
        fire = _record(schedule, outcome=FireOutcome.SKIPPED_OVERLAP, detail=detail, **base)
        if fire:
            events.emit("schedule.skipped", task=schedule.task, data=_event_data(schedule, fire))
        return fire

    from orchestration import services as core

    replaced: list[int] = []
    if active and schedule.overlap == Overlap.REPLACE:
        for execution_id in active:
            try:
                core.execution_cancel(
                    execution_id=execution_id,
                    reason=f"replaced by schedule #{schedule.pk} (fire at {scheduled_at.isoformat()})",
                )
                replaced.append(execution_id)
            except core.ExecutionStateError:
                pass  # finished on its own meanwhile

    # The fire row is written first (it claims the key), the execution in a
    # savepoint: if starting fails the claim stays, recorded as failed-to-start.
    fire = _record(schedule, outcome=FireOutcome.STARTED, **base)
    if fire is None:
        return None
    try:
        execution = _start_execution(schedule, input, source)
    except Exception as exc:  # anything that stops the start is recorded, never lost
        fire.outcome = FireOutcome.FAILED_TO_START
        fire.detail = _start_failure_detail(exc)
        fire.save(update_fields=["outcome", "detail"])
        events.emit(
            "schedule.failed_to_start", task=schedule.task, data=_event_data(schedule, fire)
        )
        _count_failure(schedule, f"fire at {scheduled_at.isoformat()} failed to start")
        return fire
    now = timezone.now()
    fire.execution = execution
    fire.fired_at = now
    fire.lag_ms = (now - scheduled_at).total_seconds() * 1000
    if replaced:
        fire.detail = "replaced " + ", ".join(f"#{pk}" for pk in replaced)
    fire.save(update_fields=["execution", "fired_at", "lag_ms", "detail"])
    events.emit(
        "schedule.fired", task=schedule.task, execution=execution, data=_event_data(schedule, fire)
    )
    if schedule.max_runs is not None and cursor.started_count(schedule) >= schedule.max_runs:
        cursor.finish(schedule, f"maxRuns ({schedule.max_runs}) reached", now)
    return fire


def _count_failure(schedule: Schedule, what: str) -> None:
    schedule.consecutive_failures += 1
    schedule.save(update_fields=["consecutive_failures", "updated_at"])
    limit = schedule.pause_after_failures
    if limit and schedule.consecutive_failures >= limit and schedule.enabled:
        schedule.enabled = False
        schedule.paused_reason = f"auto-paused after {schedule.consecutive_failures} consecutive failed runs (last: {what})"[
            :300
        ]
        schedule.save(update_fields=["enabled", "paused_reason", "updated_at"])
        arming.arm(schedule, None)
        events.emit(
            "schedule.paused",
            task=schedule.task,
            data={
                "scheduleId": schedule.pk,
                "reason": schedule.paused_reason,
                "auto": True,
                "consecutiveFailures": schedule.consecutive_failures,
            },
        )


@dataclass
class _Due:
    instants: list[datetime]
    older: int  # due slots before the recorded ones (long outages), only counted


def _due_slots(schedule: Schedule, now: datetime) -> _Due:
    first = schedule.next_fire_at
    assert first is not None
    older = 0
    if schedule.kind == ScheduleKind.INTERVAL:
        step = timedelta(milliseconds=int(schedule.interval_ms or 0))
        total = (now - first) // step + 1
        if total > MAX_RECORDED_SLOTS:
            older = total - MAX_RECORDED_SLOTS
            first = first + older * step
    elif now - first > MAX_CATCH_UP_WINDOW:
        # Cron slots older than the window are neither walked nor counted.
        first = cursor.next_instant(schedule, now - MAX_CATCH_UP_WINDOW) or first
    recent: deque[datetime] = deque(maxlen=MAX_RECORDED_SLOTS)
    for instant in cursor.instants(schedule, first):
        if instant > now:
            break
        if len(recent) == MAX_RECORDED_SLOTS:
            older += 1
        recent.append(instant)
    return _Due(list(recent), older)


def schedule_fire_due(*, schedule_id: int) -> list[Fire]:
    """Fire what is due of a cron/interval schedule and arm the next instant.

    Beat's message only wakes this up: what is due is read from the schedule's
    cursor under a row lock, so early, late, stale and duplicated messages (two
    beats, a beat restart, a broker redelivery) all come to the same result.
    After an outage each run starts in its own short transaction, so a long
    catch-up never holds the schedule's lock against pause or edit.
    """
    horizon = timezone.now()
    fires: list[Fire] = []
    while True:
        step, more = _fire_due_step(schedule_id, horizon)
        fires.extend(step)
        if not more:
            return fires


def _plan(schedule: Schedule, horizon: datetime) -> tuple[list[datetime], list[datetime], set[datetime], int]:
    """Due slots up to ``horizon`` split by the misfire policy: (missed, to run, catch-ups, older uncounted)."""
    due = _due_slots(schedule, horizon)
    grace = timedelta(seconds=schedule.misfire_grace_seconds)
    late = [t for t in due.instants if horizon - t > grace]
    on_time = [t for t in due.instants if horizon - t <= grace]
    if schedule.misfire_policy == MisfirePolicy.SKIP or not late:
        catch_up: list[datetime] = []
    elif schedule.misfire_policy == MisfirePolicy.RUN_ONCE:
        catch_up = [] if on_time else late[-1:]
    else:
        catch_up = late[-schedule.misfire_max_runs :]
    catch_up_set = set(catch_up)
    missed = [t for t in late if t not in catch_up_set]
    return missed, sorted(catch_up + on_time), catch_up_set, due.older


def _fire_due_step(schedule_id: int, horizon: datetime) -> tuple[list[Fire], bool]:
    """Record the misses and start the first due run; True when more runs are due."""
    with transaction.atomic():
        # Row lock: concurrent deliveries for the same schedule serialise here;
        # the second one finds the cursor already moved and does nothing.
        schedule = Schedule.objects.select_for_update(of=("self",)).select_related("task").filter(pk=schedule_id).first()
        if schedule is None:
            return [], False
        with _first_nodes_at_fire_priority():
            return _fire_due_locked(schedule, horizon)


@contextlib.contextmanager
def _first_nodes_at_fire_priority() -> Iterator[None]:
    """A clock fire's first nodes go to the broker at the top priority
    (``arming.FIRST_NODE_PRIORITY``): fires are served before node work, and
    nodes at their normal priority would wait behind every later fire (under
    a backlog of fires, for ever)."""
    from orchestration import services as core

    with core.dispatch_priority(arming.FIRST_NODE_PRIORITY):
        yield


def _fire_due_locked(schedule: Schedule, horizon: datetime) -> tuple[list[Fire], bool]:
    """``_fire_due_step`` for a schedule whose row the caller has locked."""
    if not schedule.is_clock or not schedule.enabled or schedule.finished_at:
        return [], False
    if schedule.next_fire_at is None:
        cursor.activate(schedule, timezone.now())
        return [], False
    if schedule.next_fire_at > horizon:
        return [], False
    missed, runs, catch_up, older = _plan(schedule, horizon)
    fires: list[Fire] = []
    for instant in missed:
        fire = _record(
            schedule, source=FireSource.CLOCK, scheduled_at=instant, dedup_key=instant.isoformat(),
            outcome=FireOutcome.MISSED,
            detail=f"late by {(horizon - instant).total_seconds():.0f} s (grace {schedule.misfire_grace_seconds} s, policy {schedule.misfire_policy})",
        )
        if fire:  # None: recorded by an earlier step of this catch-up
            fires.append(fire)
    if fires or older:
        events.emit(
            "schedule.missed", task=schedule.task,
            data={
                "scheduleId": schedule.pk, "taskId": schedule.task.task_id, "count": len(fires) + older,
                "first": fires[0].scheduled_at.isoformat() if fires else None,
                "last": fires[-1].scheduled_at.isoformat() if fires else None,
                "policy": schedule.misfire_policy,
            },
        )
    if runs:
        fire = _fire(
            schedule, scheduled_at=runs[0], source=FireSource.CLOCK, dedup_key=runs[0].isoformat(),
            input=schedule.input, catch_up=runs[0] in catch_up,
        )
        if fire:
            fires.append(fire)
    if not schedule.enabled or schedule.finished_at:
        return fires, False  # auto-paused or maxRuns reached
    if len(runs) > 1:
        # Slots before the next run were recorded above; the cursor moves on
        # to it, and the next step (its own transaction) starts it.
        schedule.next_fire_at = runs[1]
        schedule.save(update_fields=["next_fire_at", "updated_at"])
        return fires, True
    cursor.activate(schedule, horizon)
    return fires, False


def schedule_fire_batch(*, schedule_ids: list[int]) -> list[Fire]:
    """Fire what is due of several cron/interval schedules (beat's batch of
    one tick) in one transaction, and arm their next instants.

    The schedules are locked in id order (two beats sending overlapping
    batches wait for each other instead of deadlocking; the second finds the
    cursors moved and does nothing), every fire is recorded and its run
    created as ``schedule_fire_due`` does, and the runs are admitted together
    at the end (``admission.batched``: one pass under the resource pool's
    lock instead of one per run); the admitted runs' first nodes are
    dispatched in the same transaction, at the top broker priority. So a
    batch costs one commit, and exactly-once holds as for single fires (row
    lock, cursor, unique fire key). Schedules with more runs due (catching up
    after an outage or a backlog) continue in further batched steps, each its
    own transaction; a batch that fails as a whole is fired again one
    schedule at a time."""
    horizon = timezone.now()
    fires: list[Fire] = []
    ids = sorted(set(schedule_ids))
    while ids:
        try:
            step, ids = _fire_batch_step(ids, horizon)
        except DatabaseError:
            logger.warning("a batch of %d fires failed; firing them one by one", len(ids), exc_info=True)
            return fires + [fire for pk in ids for fire in schedule_fire_due(schedule_id=pk)]
        fires.extend(step)
    return fires


def _fire_batch_step(ids: list[int], horizon: datetime) -> tuple[list[Fire], list[int]]:
    """One step of each schedule in ``ids`` in one transaction; returns the
    fires and the schedules with more runs due (the next step fires them)."""
    from orchestration import admission

    fires: list[Fire] = []
    more: list[int] = []
    with transaction.atomic():
        schedules = list(
            Schedule.objects.select_for_update(of=("self",)).select_related("task")
            .filter(pk__in=ids).order_by("pk")
        )
        with _first_nodes_at_fire_priority(), admission.batched():
            for schedule in schedules:
                step, again = _fire_due_locked(schedule, horizon)
                fires.extend(step)
                if again:
                    more.append(schedule.pk)
    return fires, more


def _event_input(event: Event) -> dict[str, Any]:
    return {
        "event": {
            "id": event.pk,
            "type": event.type,
            "source": event.source,
            "data": event.data,
            "taskId": event.task.task_id if event.task else None,
            "executionId": event.execution_id,
            "createdAt": event.created_at.isoformat(),
        }
    }


def event_matches(
    *, pattern: str, spec: dict[str, Any] | None, schedule_task_id: int, event: Event
) -> bool:
    """True when ``event`` should start an event schedule (name pattern + data filter)."""
    from fnmatch import fnmatchcase

    from scheduling import filters

    if event.task_id is not None and event.task_id == schedule_task_id:
        return False  # a task never triggers itself through its own events (no loops)
    data = event.data if isinstance(event.data, dict) else {}
    return fnmatchcase(event.type, pattern) and filters.matches(spec, data)


def schedule_fire_event(*, schedule_id: int, event_id: int) -> Fire | None:
    """Start an event schedule's task for ``event`` (once per event)."""
    with transaction.atomic():
        schedule = (
            Schedule.objects.select_for_update(of=("self",))
            .select_related("task")
            .filter(pk=schedule_id)
            .first()
        )
        event = Event.objects.select_related("task").filter(pk=event_id).first()
        if schedule is None or event is None or schedule.kind != ScheduleKind.EVENT:
            return None
        if (
            not schedule.enabled
            or schedule.finished_at
            or not event_matches(
                pattern=schedule.event_name,
                spec=schedule.event_filter,
                schedule_task_id=schedule.task_id,
                event=event,
            )
        ):
            return None
        return _fire(
            schedule,
            scheduled_at=event.created_at,
            source=FireSource.EVENT,
            dedup_key=f"event:{event.pk}",
            input=_event_input(event),
            event=event,
        )


def schedule_trigger(
    *,
    schedule: Schedule,
    input: dict[str, Any],
    source: str = FireSource.API,
    idempotency_key: str = "",
) -> Fire:
    """Run a manual schedule now (API call or webhook). Replaying the same
    ``idempotency_key`` returns the first fire instead of starting again.

    An operator's trigger (``source`` API: the API and the pages' "Run now")
    raises ``SecretsMissing``, recording no fire, when the task references
    secrets that are not in the store, as ``POST /api/v1/tasks/<id>/execute/``
    does. Webhook, clock and event fires record such a fire as failed-to-start
    instead (their caller is not the operator who can add the secret)."""
    with transaction.atomic():
        locked = Schedule.objects.select_for_update(of=("self",)).select_related("task").get(pk=schedule.pk)
        if not locked.enabled or locked.finished_at:
            raise ScheduleInactive(f"schedule #{locked.pk} is {locked.state}")
        key = f"{source}:{idempotency_key}" if idempotency_key else f"{source}:{uuid.uuid4().hex}"
        existing = Fire.objects.filter(schedule=locked, dedup_key=key[:200]).first()
        if existing is not None:
            return existing
        if source == FireSource.API:
            task = locked.task
            missing = missing_secrets(
                workflows=task.workflows, parameters=task.parameters, channels=task.notification_channels
            )
            if missing:
                raise SecretsMissing(task.task_id, missing)
        now = timezone.now()
        if source == FireSource.WEBHOOK:
            # Counted under the row lock, so concurrent requests cannot both slip under the limit.
            window_start = now - timedelta(seconds=60)
            recent = list(
                Fire.objects.filter(
                    schedule=locked, source=FireSource.WEBHOOK, created_at__gte=window_start
                )
                .order_by("created_at")
                .values_list("created_at", flat=True)[: locked.rate_limit_per_minute]
            )
            if len(recent) >= locked.rate_limit_per_minute:
                retry_after = max(
                    1, int((recent[0] + timedelta(seconds=60) - now).total_seconds()) + 1
                )
                raise RateLimited(retry_after)
        fire = _fire(locked, scheduled_at=now, source=source, dedup_key=key[:200], input=input)
        assert fire is not None  # a fresh key cannot collide
        return fire



# --- Reactions to executions finishing ----------------------------------------------------


def schedule_execution_finished(*, execution_id: int) -> None:
    """Track the outcome of a run a schedule started (for auto-pause)."""
    execution = Execution.objects.filter(pk=execution_id).first()
    if execution is None or execution.status not in EXECUTION_FINAL:
        return
    if execution.status in FAILED_STATUSES and execution.previous_attempts < int(
        execution.definition.get("maxRetries") or 0
    ):
        return  # the engine retries it; the retry's end is the run's end
    root_id = execution.retry_of_id or execution.pk
    fire = Fire.objects.filter(execution_id=root_id).first()
    if fire is None or fire.schedule_id is None:
        return  # not a scheduled run, or its schedule was deleted (the fire outlives it)
    with transaction.atomic():
        schedule = (
            Schedule.objects.select_for_update(of=("self",)).select_related("task").filter(pk=fire.schedule_id).first()
        )
        if schedule is None:
            return
        # Conditional: a redelivered event must not count the same run twice.
        if not Fire.objects.filter(pk=fire.pk, execution_status="").update(
            execution_status=execution.status
        ):
            return
        if execution.status in FAILED_STATUSES:
            _count_failure(schedule, f"execution #{execution.pk} {execution.status}")
        elif execution.status in SUCCESS_STATUSES and schedule.consecutive_failures:
            schedule.consecutive_failures = 0
            schedule.save(update_fields=["consecutive_failures", "updated_at"])


# --- Watchdog ------------------------------------------------------------------------------


def schedules_watchdog(
    *, late_after_seconds: float = 10.0, horizon_seconds: float = 120.0
) -> dict[str, int]:
    """Safety net run by beat every few seconds: fire schedules whose beat entry
    did not (beat was down, or the entry was lost), make beat load entries it
    skipped as too far ahead, and delete fired entries."""
    from django_celery_beat.models import PeriodicTasks

    now = timezone.now()
    clock = Schedule.objects.filter(
        enabled=True, finished_at__isnull=True, kind__in=[ScheduleKind.CRON, ScheduleKind.INTERVAL]
    )
    overdue = list(
        clock.filter(next_fire_at__lte=now - timedelta(seconds=late_after_seconds)).values_list(
            "pk", flat=True
        )
    )
    unarmed = list(clock.filter(next_fire_at__isnull=True).values_list("pk", flat=True))
    late = overdue + unarmed
    for start in range(0, len(late), WATCHDOG_BATCH):
        schedule_fire_batch(schedule_ids=late[start : start + WATCHDOG_BATCH])
    # DatabaseScheduler only loads clocked entries due within 5 minutes and
    # re-reads the table every 5 minutes, so an entry armed far ahead could be
    # picked up late; a change notice makes beat load it in good time.
    soon = clock.filter(
        next_fire_at__gt=now,
        next_fire_at__lte=now + timedelta(seconds=horizon_seconds),
        armed_at__lt=now - timedelta(seconds=240),
    ).exists()
    if soon:
        PeriodicTasks.update_changed()
    collected = arming.collect_garbage(now)
    return {
        "overdue": len(overdue),
        "unarmed": len(unarmed),
        "notified": int(soon),
        "collected": collected,
    }


def schedules_prune_history(*, older_than: timedelta, batch: int = 10_000) -> int:
    """Delete fire records older than ``older_than``. Schedules with maxRuns
    keep theirs: their run count is the count of their fire records."""
    cutoff = timezone.now() - older_than
    deleted = 0
    while True:
        ids = list(
            Fire.objects.filter(created_at__lt=cutoff, schedule__max_runs__isnull=True).values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return deleted
        deleted += Fire.objects.filter(pk__in=ids).delete()[0]
