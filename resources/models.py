"""Resource manager state: live workers and their capacity, what each execution
asked for, what it was granted, preemptions, and sampled system usage."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from orchestration.models import Execution, Priority


class ResourcePool(models.Model):
    """The cluster as one row. Admissions lock it (``select_for_update``) so that
    two of them never both spend the same free capacity. Optional limits cap
    what the cluster offers below what its workers report (an operator keeping
    headroom, or a test wanting room for exactly one execution)."""

    name = models.CharField(max_length=50, unique=True, default="default")
    cpu_limit_millicores = models.PositiveIntegerField(
        null=True, blank=True, help_text="Cap on the CPU the cluster offers, in thousandths of a core."
    )
    memory_limit_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    # Bumped by every dispatch pass; lets a dispatch request skip itself when a
    # later pass (which saw the capacity it was sent for) already ran.
    dispatch_seq = models.PositiveBigIntegerField(default=0)
    last_dispatch_at = models.DateTimeField(null=True, blank=True)
    last_reconcile_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class WorkerStatus(models.TextChoices):
    ALIVE = "alive", "Alive"
    LOST = "lost", "Lost"
    STOPPED = "stopped", "Stopped"


class Worker(models.Model):
    """A Celery worker as it describes itself in its heartbeats."""

    name = models.CharField(max_length=255, unique=True, help_text="Celery node name (name@host).")
    host = models.CharField(max_length=255, db_index=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=WorkerStatus.choices, default=WorkerStatus.ALIVE)
    slots = models.PositiveIntegerField(default=1, help_text="Configured concurrency.")
    cores = models.PositiveIntegerField(default=1)
    cpu_percent = models.FloatField(default=0.0)
    load_1m = models.FloatField(default=0.0)
    memory_total_bytes = models.PositiveBigIntegerField(default=0)
    memory_available_bytes = models.PositiveBigIntegerField(default=0)
    disk_free_bytes = models.PositiveBigIntegerField(default=0)
    rss_bytes = models.PositiveBigIntegerField(default=0, help_text="RSS of the worker and its pool.")
    # What the worker offers when its operator limits it below the machine.
    cpu_limit_millicores = models.PositiveIntegerField(null=True, blank=True)
    memory_limit_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    last_heartbeat_at = models.DateTimeField(db_index=True)
    lost_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["host", "name"]

    def __str__(self) -> str:
        return self.name


class ResourceRequest(models.Model):
    """What one execution needs, and its place in the admission queue while
    ``waiting_since`` is set."""

    class Source(models.TextChoices):
        EXPLICIT = "explicit", "Explicit (resourceRequirements)"
        DERIVED = "derived", "Derived from the graph"

    execution = models.OneToOneField(Execution, on_delete=models.CASCADE, related_name="resource_request")
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    cpu_millicores = models.PositiveIntegerField()
    memory_bytes = models.PositiveBigIntegerField()
    disk_bytes = models.PositiveBigIntegerField()
    network_bytes_per_second = models.PositiveBigIntegerField()
    source = models.CharField(max_length=10, choices=Source.choices)
    complexity = models.PositiveIntegerField(default=0)
    # Set when first queued and kept across preemptions, so a preempted
    # execution keeps its age (ageing and the order among equals).
    first_requested_at = models.DateTimeField()
    waiting_since = models.DateTimeField(null=True, blank=True, db_index=True)
    reason = models.CharField(max_length=300, blank=True)
    admissions = models.PositiveIntegerField(default=0)
    preemptions = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["first_requested_at", "id"]

    def __str__(self) -> str:
        return f"request for execution #{self.execution_id}"

    @property
    def cores(self) -> float:
        return self.cpu_millicores / 1000


class ReleaseReason(models.TextChoices):
    FINISHED = "finished", "Execution finished"
    PREEMPTED = "preempted", "Preempted"
    WORKER_LOST = "worker_lost", "Worker lost"
    RECONCILED = "reconciled", "Freed by reconciliation"


class Allocation(models.Model):
    """Capacity granted to one execution, from admission until release. At most
    one open allocation per execution (a database constraint)."""

    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="allocations")
    worker = models.ForeignKey(Worker, null=True, blank=True, on_delete=models.SET_NULL, related_name="allocations")
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    # Priority rank (0 low .. 3 critical) it was admitted with, ageing included;
    # only higher-ranked requests may preempt it.
    rank = models.PositiveSmallIntegerField(default=0)
    cpu_millicores = models.PositiveIntegerField()
    memory_bytes = models.PositiveBigIntegerField()
    disk_bytes = models.PositiveBigIntegerField()
    network_bytes_per_second = models.PositiveBigIntegerField()
    requested_at = models.DateTimeField(help_text="When the wait that this allocation ended began.")
    allocated_at = models.DateTimeField(db_index=True)
    released_at = models.DateTimeField(null=True, blank=True, db_index=True)
    release_reason = models.CharField(max_length=20, choices=ReleaseReason.choices, blank=True)

    class Meta:
        ordering = ["-allocated_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["execution"], condition=Q(released_at__isnull=True), name="allocation_one_open_per_execution"
            )
        ]

    def __str__(self) -> str:
        return f"allocation #{self.pk} for execution #{self.execution_id}"

    @property
    def cores(self) -> float:
        return self.cpu_millicores / 1000

    @property
    def wait_seconds(self) -> float:
        return max(0.0, (self.allocated_at - self.requested_at).total_seconds())


class Preemption(models.Model):
    """A lower-priority execution stopped to make room for a higher one."""

    victim = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="preemptions_suffered")
    beneficiary = models.ForeignKey(
        Execution, null=True, blank=True, on_delete=models.SET_NULL, related_name="preemptions_caused"
    )
    victim_priority = models.CharField(max_length=10, choices=Priority.choices)
    beneficiary_priority = models.CharField(max_length=10, choices=Priority.choices)
    freed_cpu_millicores = models.PositiveIntegerField(default=0)
    freed_memory_bytes = models.PositiveBigIntegerField(default=0)
    reason = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    resumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"#{self.victim_id} preempted for #{self.beneficiary_id}"


class SystemSample(models.Model):
    """One psutil reading of a host, taken by the periodic sampling job."""

    host = models.CharField(max_length=255, db_index=True)
    taken_at = models.DateTimeField(db_index=True)
    cpu_percent = models.FloatField()
    cores = models.PositiveIntegerField()
    memory_used_bytes = models.PositiveBigIntegerField()
    memory_total_bytes = models.PositiveBigIntegerField()
    disk_used_bytes = models.PositiveBigIntegerField()
    disk_total_bytes = models.PositiveBigIntegerField()
    load_1m = models.FloatField()
    load_5m = models.FloatField()
    load_15m = models.FloatField()
    running_executions = models.PositiveIntegerField(default=0)
    queued_executions = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-taken_at", "-id"]

    def __str__(self) -> str:
        return f"{self.host} @ {self.taken_at:%Y-%m-%d %H:%M:%S}"

    @property
    def memory_percent(self) -> float:
        return 100.0 * self.memory_used_bytes / self.memory_total_bytes if self.memory_total_bytes else 0.0
