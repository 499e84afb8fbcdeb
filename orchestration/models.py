"""Persistent state of the orchestrator: task definitions, executions, node runs,
secrets, events and per-node state kept across runs."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


PRIORITY_RANK = {"low": 0, "normal": 1, "high": 2, "critical": 3}


class Task(models.Model):
    """A task definition: the seed's JSON document, field by field."""

    # Set by task_create/task_update for the caller to show (not stored):
    # references to secrets that do not exist yet, as [{"path", "message"}].
    definition_warnings: list[dict[str, str]] = []

    task_id = models.CharField("taskId", max_length=200, unique=True)
    name = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    version = models.CharField(max_length=50, blank=True)
    category = models.CharField(max_length=100, blank=True, db_index=True)
    tags = models.JSONField(default=list, blank=True)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    timeout_ms = models.PositiveBigIntegerField(null=True, blank=True)
    max_retries = models.PositiveIntegerField(default=0)
    retry_delay_ms = models.PositiveBigIntegerField(default=0)
    schedule = models.JSONField(null=True, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    workflows = models.JSONField(default=list)
    notification_channels = models.JSONField(default=list, blank=True)
    resource_requirements = models.JSONField(null=True, blank=True)
    error_handling = models.JSONField(null=True, blank=True)
    # Top-level keys of the definition this model has no column for, kept so an
    # export gives back what was imported.
    extra = models.JSONField(default=dict, blank=True)
    template_id = models.CharField(max_length=200, blank=True, db_index=True)
    template_version = models.CharField(max_length=50, blank=True)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["task_id"]

    def __str__(self) -> str:
        return self.task_id


class ExecutionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors", "Completed with errors"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    TIMED_OUT = "timed_out", "Timed out"


EXECUTION_FINAL = frozenset(
    {
        ExecutionStatus.COMPLETED,
        ExecutionStatus.COMPLETED_WITH_ERRORS,
        ExecutionStatus.FAILED,
        ExecutionStatus.CANCELLED,
        ExecutionStatus.TIMED_OUT,
    }
)
EXECUTION_ACTIVE = frozenset({ExecutionStatus.PENDING, ExecutionStatus.QUEUED, ExecutionStatus.RUNNING})


class Trigger(models.TextChoices):
    MANUAL = "manual", "Manual"
    API = "api", "API"
    SCHEDULE = "schedule", "Schedule"
    EVENT = "event", "Event"
    WEBHOOK = "webhook", "Webhook"
    RETRY = "retry", "Retry"
    RERUN = "rerun", "Re-run"


class Execution(models.Model):
    """One run of a task. Holds a snapshot of the definition it runs, so that
    editing the task never changes a run already under way."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="executions")
    status = models.CharField(
        max_length=30, choices=ExecutionStatus.choices, default=ExecutionStatus.PENDING, db_index=True
    )
    status_reason = models.TextField(blank=True)
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.API)
    triggered_by = models.CharField(max_length=200, blank=True)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    input = models.JSONField(default=dict, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    definition = models.JSONField(default=dict)
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )
    # Attempts of this run that came before this execution: 0 for the first
    # attempt, n for its n-th retry (see README -> Glossary, "Retries").
    previous_attempts = models.PositiveIntegerField(default=0, db_column="retry_number")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    not_before = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    # Why the execution is being stopped early: "" (it is not), "cancel",
    # "fail" (a node failed under stop-on-error), "timeout"; decides the final status.
    stop_mode = models.CharField(max_length=20, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["task", "-created_at"]),
            models.Index(fields=["status", "not_before"]),
            models.Index(fields=["status", "deadline_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.task.task_id} #{self.pk} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in EXECUTION_FINAL

    @property
    def duration_seconds(self) -> float | None:
        """Wall time from start to finish (or None while it has not finished)."""
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    @property
    def attempt_number(self) -> int:
        """Which attempt of its run this execution is, from 1 (2 is the first retry)."""
        return self.previous_attempts + 1


class NodeStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    CANCELLED = "cancelled", "Cancelled"
    TIMED_OUT = "timed_out", "Timed out"


NODE_FINAL = frozenset(
    {NodeStatus.COMPLETED, NodeStatus.FAILED, NodeStatus.SKIPPED, NodeStatus.CANCELLED, NodeStatus.TIMED_OUT}
)


class NodeRun(models.Model):
    """One workflow node within one execution, across all its attempts."""

    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="node_runs")
    node_id = models.CharField(max_length=200)
    workflow = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=NodeStatus.choices, default=NodeStatus.PENDING)
    reason = models.TextField(blank=True)
    # Attempts started so far (each claim by a worker, numbered from 1), and
    # how many of them were retries after a failure. A node dispatched again
    # after its worker was lost makes an attempt without using up a retry.
    attempts = models.PositiveIntegerField(default=0)
    retries = models.PositiveIntegerField(default=0, db_column="retries_used")
    # A fresh id for every dispatch: a message whose id no longer matches is a
    # duplicate or stale delivery and is dropped (a node runs once per dispatch).
    dispatch_id = models.UUIDField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Set on a running node to ask its worker to stop it: "cancel", "timeout",
    # "fail" (stop-on-error elsewhere) or "preempt" (return it to pending).
    stop_requested = models.CharField(max_length=20, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    input = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    logs = models.JSONField(default=list, blank=True)
    # One record per finished attempt: {"attempt", "startedAt", "status", ...}.
    attempt_log = models.JSONField(default=list, blank=True, db_column="attempt_history")
    reused_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cpu_seconds = models.FloatField(null=True, blank=True)
    # Peak growth of the worker process's resident memory while the node ran.
    peak_rss_bytes = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["execution_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["execution", "node_id"], name="noderun_unique_node_per_execution")
        ]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"]),
            models.Index(fields=["status", "next_attempt_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.node_id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in NODE_FINAL

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class Secret(models.Model):
    """A named secret referenced as ``${name}``. The value is write-only: no page,
    API response, log or event ever shows it."""

    name = models.CharField(max_length=200, unique=True)
    value = models.TextField()
    description = models.CharField(max_length=500, blank=True)
    # Host names the secret may be sent to (``*.example.com`` for subdomains);
    # empty: anywhere. See orchestration/secret_hosts.py.
    allowed_hosts = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Event(models.Model):
    """An entry of the event log (``execution.started``, ``workflow.failed``, ...)."""

    type = models.CharField(max_length=100, db_index=True)
    data = models.JSONField(default=dict, blank=True)
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    execution = models.ForeignKey(
        Execution, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    node_id = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=50, default="system")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["type", "-created_at"]),
            models.Index(fields=["task", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.type} @ {self.created_at:%Y-%m-%d %H:%M:%S}"


class NodeState(models.Model):
    """State a workflow keeps for one node of one task across runs (a page
    snapshot, post ids already seen, checksums already downloaded)."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="node_states")
    node_id = models.CharField(max_length=200)
    key = models.CharField(max_length=100)
    data = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "node_id", "key"], name="nodestate_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.task_id}:{self.node_id}:{self.key}"


def new_dispatch_id() -> uuid.UUID:
    return uuid.uuid4()


JSON = dict[str, Any]


class SubscriberGeneration(models.Model):
    """A change marker for one kind of event subscriber (``name``: e.g.
    ``scheduling.event_schedules``). Whoever changes the subscribers writes a
    fresh ``token`` in the same transaction; processes that keep the
    subscribers in memory (``orchestration.subscribers``) reload them when the
    token they read differs from the one they loaded with. A random token,
    not a counter: a table emptied and refilled (tests) never repeats one."""

    name = models.CharField(max_length=100, primary_key=True)
    token = models.UUIDField(default=uuid.uuid4)
    changed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} @ {self.token}"
