"""Notification channels, deliveries, alerts, and the aggregates kept after pruning."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class ChannelKind(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Webhook"


class ChannelSource(models.TextChoices):
    DEFINITION = "definition", "Task definition"
    MANUAL = "manual", "Created by an operator"


class Channel(models.Model):
    """Where notifications go: an email list or a webhook endpoint.

    Channels of a task come from its definition's ``notificationChannels`` and
    are replaced whenever the definition is saved. Channels without a task are
    shared (a team list, a manager's pager) and are reached through
    ``actions``: an escalation level whose action is ``notify-team`` goes to
    every enabled channel that lists ``notify-team``.
    """

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=ChannelKind.choices)
    task = models.ForeignKey(
        "orchestration.Task", null=True, blank=True, on_delete=models.CASCADE, related_name="channels"
    )
    source = models.CharField(max_length=20, choices=ChannelSource.choices, default=ChannelSource.MANUAL)
    # Index in the definition's notificationChannels list (definition channels only).
    position = models.PositiveIntegerField(null=True, blank=True)
    config = models.JSONField(default=dict)
    actions = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # Set when the receiver said retrying cannot help (410 Gone, 4xx, bad
    # address); cleared by the next successful delivery.
    failing_permanently = models.BooleanField(default=False)
    last_success_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["task_id", "position", "name"]
        indexes = [models.Index(fields=["task", "kind"])]

    def __str__(self) -> str:
        return self.name

    def has_action(self, action: str) -> bool:
        return action in (self.actions or [])


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    RETRYING = "retrying", "Waiting to retry"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


DELIVERY_FINAL = frozenset({DeliveryStatus.SENT, DeliveryStatus.FAILED})


class Delivery(models.Model):
    """One message to one channel, with every attempt to send it.

    ``headers`` keeps the request headers as configured (``${secret}``
    references unresolved, literal credentials masked): what was sent, never
    the secret itself.
    """

    channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    channel_name = models.CharField(max_length=200)
    channel_kind = models.CharField(max_length=20, choices=ChannelKind.choices)
    alert = models.ForeignKey(
        "monitoring.Alert", null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    # What the message is about: alert.triggered, alert.escalated, alert.resolved, report, test.
    purpose = models.CharField(max_length=50)
    execution = models.ForeignKey(
        "orchestration.Execution", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    node_id = models.CharField(max_length=200, blank=True)
    subject = models.CharField(max_length=500, blank=True)
    text = models.TextField(blank=True)
    html = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    permanent_error = models.BooleanField(default=False)
    duration_ms = models.FloatField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    attempt_log = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["execution", "node_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} -> {self.channel_name} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in DELIVERY_FINAL


class AlertRule(models.TextChoices):
    FAILURE = "failure", "Execution failures"
    SLOW = "slow", "Slow execution"
    SCHEDULE = "schedule", "Missed or late schedule"
    STUCK = "stuck", "Stuck run"


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class Alert(models.Model):
    """A problem an operator should know about. At most one unresolved alert
    exists per rule and task (``fingerprint``); repeats add to ``occurrences``."""

    rule = models.CharField(max_length=20, choices=AlertRule.choices, db_index=True)
    task = models.ForeignKey(
        "orchestration.Task", null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    fingerprint = models.CharField(max_length=300)
    status = models.CharField(max_length=20, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    title = models.CharField(max_length=500)
    message = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    # Escalation level reached (0: none); only ever goes up while the alert is open.
    level = models.PositiveIntegerField(default=0)
    occurrences = models.PositiveIntegerField(default=1)
    last_execution = models.ForeignKey(
        "orchestration.Execution", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now_add=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["fingerprint"],
                condition=~Q(status="resolved"),
                name="alert_one_unresolved_per_fingerprint",
            )
        ]
        indexes = [models.Index(fields=["status", "-last_seen_at"])]

    def __str__(self) -> str:
        return f"{self.rule}: {self.title} ({self.status})"


class DailyRollup(models.Model):
    """Per task and day aggregates of executions that retention pruned, so
    per-day totals survive pruning (the Prometheus counters are
    ``ExecutionTally``, which pruning never touches)."""

    day = models.DateField()
    task_key = models.CharField(max_length=200, help_text="taskId at the time of pruning")
    counts = models.JSONField(default=dict, help_text="executions by final status")
    duration_count = models.PositiveBigIntegerField(default=0)
    duration_sum = models.FloatField(default=0.0)
    # Cumulative histogram bucket counts keyed by upper bound ("+Inf" last).
    duration_buckets = models.JSONField(default=dict)
    queue_wait_sum = models.FloatField(default=0.0)
    node_failures = models.PositiveIntegerField(default=0)
    cpu_seconds = models.FloatField(default=0.0)

    class Meta:
        ordering = ["-day", "task_key"]
        constraints = [models.UniqueConstraint(fields=["day", "task_key"], name="rollup_unique_day_task")]

    def __str__(self) -> str:
        return f"{self.task_key} {self.day}"


class ExecutionTally(models.Model):
    """Running totals of finished executions behind the Prometheus counters.

    A row counts the executions that finished with ``status`` and whose
    duration (finished_at - started_at, seconds, floored at 0) falls in the
    histogram bucket ``le`` (the smallest bound of ``DURATION_BUCKETS`` it fits
    under, as text, or "+Inf"; "" for a run that never started). The count is
    added in the same transaction that finishes the execution, and nothing
    ever subtracts: deleting a task or an execution and retention pruning
    leave these rows alone, so the counters only grow, as Prometheus requires.
    ``shard`` (execution id modulo a small number) spreads concurrent
    increments over several rows, so finishing runs do not queue on one lock.
    """

    status = models.CharField(max_length=30)
    le = models.CharField(max_length=10, blank=True)
    shard = models.PositiveSmallIntegerField(default=0)
    count = models.PositiveBigIntegerField(default=0)
    duration_sum = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["status", "le", "shard"], name="executiontally_unique_status_le_shard")
        ]

    def __str__(self) -> str:
        return f"{self.status} le={self.le or '-'} #{self.shard}: {self.count}"


class ExecutionRollup(models.Model):
    """Per task and UTC day (of ``created_at``) aggregates of the finished
    executions, behind the 7- and 30-day metrics summary (issue 13, point 10).

    A row gains an execution in the same transaction that gives it its final
    status (``monitoring.rollups.rollup_add_execution``, hooked where the
    Prometheus counters are counted), and nothing subtracts from it:
    retention pruning leaves it alone; deleting the task deletes its rows,
    as it deletes its executions. Durations (finished - started, decided
    runs only) and queue waits (started - queued) are in seconds, floored at
    0; ``*_hist`` maps a histogram bucket number (text, see
    ``monitoring.rollups.histogram_bucket``) to a count; ``node_failures``
    maps ``["<node id>", "<workflow>"]`` (JSON text) to the count of failed
    or timed-out node runs; ``node_*`` cover the node runs of the rolled-up
    executions.
    """

    task = models.ForeignKey("orchestration.Task", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    completed = models.PositiveBigIntegerField(default=0)
    completed_with_errors = models.PositiveBigIntegerField(default=0)
    failed = models.PositiveBigIntegerField(default=0)
    cancelled = models.PositiveBigIntegerField(default=0)
    timed_out = models.PositiveBigIntegerField(default=0)
    d_count = models.PositiveBigIntegerField(default=0)
    d_sum = models.FloatField(default=0.0)
    d_min = models.FloatField(null=True, blank=True)
    d_max = models.FloatField(null=True, blank=True)
    d_hist = models.JSONField(default=dict)
    w_count = models.PositiveBigIntegerField(default=0)
    w_sum = models.FloatField(default=0.0)
    w_min = models.FloatField(null=True, blank=True)
    w_max = models.FloatField(null=True, blank=True)
    w_hist = models.JSONField(default=dict)
    node_cpu_sum = models.FloatField(default=0.0)
    node_cpu_count = models.PositiveBigIntegerField(default=0)
    node_rss_max = models.PositiveBigIntegerField(null=True, blank=True)
    node_failures = models.JSONField(default=dict)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "day"], name="executionrollup_unique_task_day")]
        indexes = [models.Index(fields=["day"], name="executionrollup_day")]

    def __str__(self) -> str:
        return f"task #{self.task_id} {self.day}"
