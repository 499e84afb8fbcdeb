"""Schedules and their fire history.

A cron or interval schedule keeps its own cursor (``next_fire_at``) and is
armed in django-celery-beat as a one-off clocked ``PeriodicTask`` for exactly
that instant; every fire is a ``Fire`` row, unique per (schedule, scheduled
time), so a double delivery or a second beat can never start a run twice.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q
from django_celery_beat.models import PeriodicTask

from orchestration.models import Event, Execution, Task


class ScheduleKind(models.TextChoices):
    CRON = "cron", "Cron"
    INTERVAL = "interval", "Interval"
    EVENT = "event", "Event"
    MANUAL = "manual", "Manual"


class ManualTrigger(models.TextChoices):
    API = "api", "API"
    WEBHOOK = "webhook", "Webhook"


class Overlap(models.TextChoices):
    ALLOW = "allow", "Allow (run concurrently)"
    FORBID = "forbid", "Forbid (skip while a run is active)"
    REPLACE = "replace", "Replace (cancel the active run)"


class MisfirePolicy(models.TextChoices):
    RUN_ONCE = "run-once", "Run once"
    SKIP = "skip", "Skip"
    RUN_ALL = "run-all", "Run all (bounded)"


class Origin(models.TextChoices):
    DEFINITION = "definition", "Task definition"
    API = "api", "API / UI"


class Schedule(models.Model):
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="schedules")
    name = models.CharField(max_length=200, blank=True)
    origin = models.CharField(max_length=20, choices=Origin.choices, default=Origin.API)
    kind = models.CharField(max_length=20, choices=ScheduleKind.choices)
    expression = models.CharField(max_length=200, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    interval_value = models.PositiveBigIntegerField(null=True, blank=True)
    interval_unit = models.CharField(max_length=2, blank=True)
    interval_ms = models.PositiveBigIntegerField(null=True, blank=True)
    event_name = models.CharField(max_length=100, blank=True, db_index=True)
    event_filter = models.JSONField(default=dict, blank=True)
    manual_trigger = models.CharField(max_length=10, choices=ManualTrigger.choices, blank=True)
    start_at = models.DateTimeField(null=True, blank=True)
    end_at = models.DateTimeField(null=True, blank=True)
    max_runs = models.PositiveIntegerField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    overlap = models.CharField(max_length=10, choices=Overlap.choices, default=Overlap.ALLOW)
    misfire_policy = models.CharField(
        max_length=10, choices=MisfirePolicy.choices, default=MisfirePolicy.RUN_ONCE
    )
    misfire_grace_seconds = models.PositiveIntegerField(default=60)
    misfire_max_runs = models.PositiveIntegerField(default=10)
    pause_after_failures = models.PositiveIntegerField(null=True, blank=True)
    input = models.JSONField(default=dict, blank=True)
    # Only a hash of the webhook token is kept: the URL is shown once, when made.
    webhook_token_hash = models.CharField(max_length=64, null=True, blank=True, unique=True)
    webhook_secret = models.TextField(blank=True)
    rate_limit_per_minute = models.PositiveIntegerField(default=60)

    # Origin of the interval grid (slots are anchor + k * interval).
    anchor_at = models.DateTimeField(null=True, blank=True)
    next_fire_at = models.DateTimeField(null=True, blank=True)
    armed_at = models.DateTimeField(null=True, blank=True)
    periodic_task = models.OneToOneField(
        PeriodicTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="webauto_schedule"
    )
    consecutive_failures = models.PositiveIntegerField(default=0)
    paused_reason = models.CharField(max_length=300, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    finished_reason = models.CharField(max_length=300, blank=True)
    # The task definition's schedule block as last applied, so that a task
    # update that leaves the block alone does not undo a pause or an API edit.
    definition_block = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["task__task_id", "id"]
        indexes = [
            models.Index(fields=["enabled", "next_fire_at"]),
            models.Index(fields=["kind", "enabled"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["task"], condition=Q(origin="definition"), name="schedule_one_definition_schedule_per_task"
            )
        ]

    def __str__(self) -> str:
        return f"{self.task.task_id}: {self.summary}"

    @property
    def summary(self) -> str:
        if self.kind == ScheduleKind.CRON:
            return f"cron {self.expression} ({self.timezone})"
        if self.kind == ScheduleKind.INTERVAL:
            return f"every {self.interval_value}{self.interval_unit}"
        if self.kind == ScheduleKind.EVENT:
            return f"on {self.event_name}"
        return f"manual ({self.manual_trigger})"

    @property
    def is_clock(self) -> bool:
        """True for schedules that fire on a clock (cron, interval)."""
        return self.kind in (ScheduleKind.CRON, ScheduleKind.INTERVAL)

    @property
    def state(self) -> str:
        """``active``, ``paused`` or ``finished`` (end date or maxRuns reached)."""
        if self.finished_at:
            return "finished"
        return "active" if self.enabled else "paused"


class FireOutcome(models.TextChoices):
    STARTED = "started", "Started"
    SKIPPED_OVERLAP = "skipped-overlap", "Skipped (overlap)"
    SKIPPED_WINDOW = "skipped-window", "Skipped (outside start/end)"
    MISSED = "missed", "Missed"
    FAILED_TO_START = "failed-to-start", "Failed to start"


class FireSource(models.TextChoices):
    CLOCK = "clock", "Clock"
    EVENT = "event", "Event"
    WEBHOOK = "webhook", "Webhook"
    API = "api", "API"


class Fire(models.Model):
    """One fire of a schedule and what came of it.

    The history outlives its schedule and task: deleting either leaves the
    fire rows (``schedule`` becomes NULL), and the schedule's id and name and
    the task's taskId and name are kept on the row, so the schedule-lag
    metrics read the same figures before and after a deletion.
    """

    schedule = models.ForeignKey(Schedule, null=True, blank=True, on_delete=models.SET_NULL, related_name="fires")
    # Copies taken when the fire is recorded (see ``save``); they stay after deletion.
    schedule_key = models.PositiveBigIntegerField(null=True, blank=True, help_text="id of the schedule")
    schedule_name = models.CharField(max_length=300, blank=True, help_text="the schedule's name or summary")
    task_key = models.CharField(max_length=200, blank=True, help_text="taskId of the schedule's task")
    task_name = models.CharField(max_length=300, blank=True)
    source = models.CharField(max_length=10, choices=FireSource.choices)
    scheduled_at = models.DateTimeField()
    # Idempotency key: the scheduled instant for clock fires, the event id for
    # event fires, the caller's Idempotency-Key (or a fresh id) for webhooks.
    dedup_key = models.CharField(max_length=200)
    fired_at = models.DateTimeField(null=True, blank=True)
    lag_ms = models.FloatField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=FireOutcome.choices)
    catch_up = models.BooleanField(default=False)
    detail = models.TextField(blank=True)
    execution = models.ForeignKey(
        Execution, null=True, blank=True, on_delete=models.SET_NULL, related_name="schedule_fires"
    )
    event = models.ForeignKey(Event, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The run's final status once counted for auto-pause (also makes counting idempotent).
    execution_status = models.CharField(max_length=30, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-scheduled_at", "-id"]
        indexes = [
            models.Index(fields=["schedule", "-scheduled_at"]),
            models.Index(fields=["schedule", "outcome"]),
            # The metrics read lags by time range, overall or per taskId.
            models.Index(fields=["scheduled_at"], name="fire_scheduled_at"),
            models.Index(fields=["task_key", "scheduled_at"], name="fire_task_key_scheduled_at"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["schedule", "dedup_key"], name="fire_unique_dedup_key"),
            models.UniqueConstraint(
                fields=["schedule", "scheduled_at"],
                condition=Q(source="clock"),
                name="fire_unique_clock_instant",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.schedule_key} @ {self.scheduled_at:%Y-%m-%d %H:%M:%S} {self.outcome}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.schedule is not None and self.schedule_key is None:
            self.keep_names(self.schedule)
        super().save(*args, **kwargs)

    def keep_names(self, schedule: Schedule) -> None:
        """Copy the schedule's and its task's identity onto this fire."""
        self.schedule_key = schedule.pk
        self.schedule_name = (schedule.name or schedule.summary)[:300]
        self.task_key = schedule.task.task_id
        self.task_name = schedule.task.name[:300]


class WebhookMessage(models.Model):
    """A Standard Webhooks ``webhook-id`` a schedule has accepted, kept for
    twice the tolerance window (a timestamp may be that far ahead of the
    clock at the edges): a replay inside the window is recognised by its id,
    one outside it by its timestamp."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="+")
    message_id = models.CharField(max_length=255)
    fire = models.ForeignKey(Fire, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    received_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["received_at"])]
        constraints = [
            models.UniqueConstraint(fields=["schedule", "message_id"], name="webhook_message_unique_id")
        ]

    def __str__(self) -> str:
        return f"{self.message_id} (schedule #{self.schedule_id})"
