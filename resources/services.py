"""Admission control: grant capacity to executions, queue those that do not
fit, preempt lower-priority work for critical/high work, and free capacity
when executions end or workers disappear.

Locking. Every decision that spends capacity runs under the row lock of the
single ``ResourcePool`` row, so two admissions never both spend the same free
capacity (the race this prevents: two requests reading the same free total and
both allocating it). Releasing does not take the pool lock: it only ever makes
capacity free, so a concurrent admission that misses it is merely cautious.

Lock order (the engine's, see ``orchestration.engine``): execution → its node
runs → the pool → allocation and request rows. The engine locks an execution
row before asking us (``request``), so we take the pool after the execution.
Going the other way (pool, then an execution to start, preempt or annotate
with a reason) we only ever lock executions with ``skip_locked``: an execution
that is busy is left for the next pass instead of waiting on it while holding
the pool, which could deadlock. Task rows are never locked here.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone

from orchestration import registry
from orchestration.models import EXECUTION_FINAL, PRIORITY_RANK, Execution, ExecutionStatus
from resources.capacity import Amount, Ledger, Policy, WorkerFigures
from resources.models import (
    Allocation,
    Preemption,
    ReleaseReason,
    ResourcePool,
    ResourceRequest,
    Worker,
    WorkerStatus,
)
from resources.ordering import Waiting, effective_rank, queue_order
from resources.requirements import (
    Requirements,
    RequirementsInvalid,
    derive_requirements,
    format_bytes,
    graph_complexity,
    requirements_for,
)

log = logging.getLogger(__name__)

NO_LIVE_WORKER = "no live worker"
# Broker priority (0 is served first on Redis) of the first nodes of an
# execution that a dispatch pass starts after it waited for capacity.
ADMITTED_AFTER_WAIT_PRIORITY = 0
PREEMPTING_RANK = PRIORITY_RANK["high"]


# --- Building blocks -------------------------------------------------------------------


def _lock_pool() -> ResourcePool:
    pool = ResourcePool.objects.select_for_update().filter(name="default").first()
    if pool is None:
        # Two first-ever admissions may both get here; the unique name lets one
        # create the row and the other find it.
        ResourcePool.objects.get_or_create(name="default")
        pool = ResourcePool.objects.select_for_update().get(name="default")
    return pool


def _policy(pool: ResourcePool) -> Policy:
    return Policy(
        cpu_overcommit=settings.WEBAUTO_RESOURCES_CPU_OVERCOMMIT,
        memory_overcommit=settings.WEBAUTO_RESOURCES_MEMORY_OVERCOMMIT,
        host_network_bytes_per_second=settings.WEBAUTO_RESOURCES_HOST_NETWORK_BYTES,
        pool_cpu_limit_millicores=pool.cpu_limit_millicores,
        pool_memory_limit_bytes=pool.memory_limit_bytes,
    )


def live_workers(now: datetime | None = None) -> QuerySet[Worker]:
    """Workers that said they are alive recently enough to be trusted."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.WEBAUTO_WORKER_LOST_SECONDS)
    return Worker.objects.filter(status=WorkerStatus.ALIVE, last_heartbeat_at__gte=cutoff)


def _amount(row: ResourceRequest | Allocation) -> Amount:
    return Amount(
        row.cpu_millicores, row.memory_bytes, row.disk_bytes, row.network_bytes_per_second
    )


def _need(request: ResourceRequest, ledger: Ledger) -> Amount:
    """What ``request`` asks of the cluster. Requirements derived from the graph
    are an estimate: they are capped at the largest worker, so that a large
    graph runs on a small cluster instead of waiting for ever. Explicit
    requirements are taken as they are."""
    need = _amount(request)
    if request.source != "derived" or not ledger.capacity:
        return need
    largest = ledger.largest_worker()
    return Amount(
        min(need.cpu_millicores, largest.cpu_millicores),
        min(need.memory_bytes, largest.memory_bytes),
        min(need.disk_bytes, largest.disk_bytes),
        min(need.network_bytes_per_second, largest.network_bytes_per_second),
    )


def build_ledger(pool: ResourcePool, now: datetime) -> Ledger:
    """The capacity accounts under ``pool``'s lock: live workers' capacity
    minus the open allocations (two reads)."""
    return _ledger_and_unplaced(pool, now)[0]


def _ledger_and_unplaced(pool: ResourcePool, now: datetime) -> tuple[Ledger, list[tuple[int, Amount]]]:
    """``build_ledger``, plus the open allocations that have no worker
    (``[(allocation id, amount)]``, see ``_place_unplaced``). Plain SQL: a
    dispatch pass runs one per finished execution, under the pool lock."""
    cutoff = now - timedelta(seconds=settings.WEBAUTO_WORKER_LOST_SECONDS)
    ops = connection.ops
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, host, cores, memory_total_bytes, disk_free_bytes, cpu_limit_millicores, "
            f"memory_limit_bytes FROM {Worker._meta.db_table} WHERE status = %s AND last_heartbeat_at >= %s",
            [WorkerStatus.ALIVE, ops.adapt_datetimefield_value(cutoff)],
        )
        workers = [WorkerFigures(*row) for row in cursor.fetchall()]
        cursor.execute(
            f"SELECT id, worker_id, cpu_millicores, memory_bytes, disk_bytes, network_bytes_per_second "
            f"FROM {Allocation._meta.db_table} WHERE released_at IS NULL"
        )
        allocations = [(pk, worker_id, Amount(*figures)) for pk, worker_id, *figures in cursor.fetchall()]
    ledger = Ledger.build(workers, [(worker_id, amount) for _, worker_id, amount in allocations], _policy(pool))
    unplaced = [(pk, amount) for pk, worker_id, amount in allocations if worker_id is None]
    return ledger, unplaced


def _browser_kinds() -> frozenset[str]:
    names: set[str] = set()
    for kind in registry.all_kinds():
        if kind.needs_browser:
            names.add(kind.name)
            names.update(kind.aliases)
    return frozenset(names)


def execution_requirements(execution: Execution) -> Requirements:
    """What ``execution`` needs: its snapshot's ``resourceRequirements`` (or the
    task's, for snapshots that do not carry them), else derived from its graph."""
    definition = dict(execution.definition or {})
    if "resourceRequirements" not in definition:
        definition["resourceRequirements"] = execution.task.resource_requirements
    browser = _browser_kinds()
    try:
        return requirements_for(definition, browser_kinds=browser)
    except RequirementsInvalid as exc:
        # Definitions are validated when saved; this only happens to a task saved
        # before validation got stricter. Run it with the derived figures.
        log.warning("execution %s: ignoring invalid resourceRequirements (%s)", execution.pk, exc)
        return derive_requirements(
            graph_complexity(definition.get("workflows") or [], browser_kinds=browser)
        )


def describe_need(amount: Amount) -> str:
    return f"waiting for {amount.describe()}"


def _never_fits_reason(need: Amount, ledger: Ledger) -> str:
    largest = ledger.largest_worker()
    total = ledger.total_capacity
    return (
        f"needs {need.describe()}, more than the cluster can offer "
        f"(largest worker: {largest.describe()}; cluster: {total.describe()})"
    )


def _lockable_queued(execution_ids: list[int]) -> list[int]:
    """Of ``execution_ids``, the queued ones whose row we can lock right now.
    Called under the pool lock, which comes after execution rows in the lock
    order: we must never wait for an execution (SKIP LOCKED), and a busy one
    is simply left for the next pass."""
    if not execution_ids:
        return []
    return list(
        Execution.objects.select_for_update(no_key=True, skip_locked=True)
        .filter(pk__in=execution_ids, status=ExecutionStatus.QUEUED)
        .values_list("pk", flat=True)
    )


def _set_reason(request_id: int, execution_id: int, reason: str) -> None:
    ResourceRequest.objects.filter(pk=request_id).update(reason=reason[:300])
    # Only while queued: the engine owns the reason once it runs.
    Execution.objects.filter(pk__in=_lockable_queued([execution_id])).update(status_reason=reason)


def _set_reasons(reasons: dict[int, tuple[int, str]]) -> None:
    """``_set_reason`` for several executions in three queries:
    ``{execution id: (request id, reason)}``."""
    if not reasons:
        return
    requests = [ResourceRequest(pk=request_id, reason=text[:300]) for request_id, text in reasons.values()]
    ResourceRequest.objects.bulk_update(requests, ["reason"])
    executions = [
        Execution(pk=pk, status_reason=reasons[pk][1][:300]) for pk in _lockable_queued(list(reasons))
    ]
    Execution.objects.bulk_update(executions, ["status_reason"])


def _ensure_request(execution: Execution, now: datetime) -> ResourceRequest:
    """The execution's request, marked waiting (created on its first queueing)."""
    return _ensure_requests([execution], now)[execution.pk]


def ordered_waiting(now: datetime) -> list[ResourceRequest]:
    rows = {
        r.pk: r
        for r in ResourceRequest.objects.filter(
            waiting_since__isnull=False, execution__status=ExecutionStatus.QUEUED
        )
    }
    order = queue_order(
        [Waiting(r.pk, r.execution_id, r.priority, r.first_requested_at) for r in rows.values()],
        now=now,
        ageing_seconds=settings.WEBAUTO_RESOURCES_AGEING_SECONDS,
    )
    return [rows[item.request_id] for item in order]


# How many of each priority's oldest waiting requests a dispatch pass reads
# first (``_queue_head``); it reads the whole queue only when it gets past them.
QUEUE_HEAD_PER_PRIORITY = 16


def _queue_head(now: datetime, per_priority: int = QUEUE_HEAD_PER_PRIORITY) -> tuple[list[ResourceRequest], bool]:
    """The front of the admission queue, in queue order, from one query that
    reads at most ``per_priority`` requests of each priority: ``(requests,
    complete)``, ``complete`` being False when more of the queue follows.

    Why a prefix of each priority's line is enough: within one priority the
    queue order is the line's own order (oldest first), since the older of
    two requests has waited longer and so has aged at least as far. So the
    queue is a merge of the per-priority lines, and the merge of their
    prefixes is the queue's order up to the last request read of any line
    that was cut short; the result stops there. Keeps a pass's cost bounded
    by the number of priorities, not by the queue's length."""
    # Plain SQL (a window function; SQLite has them since 3.25): one read per
    # dispatch pass, and the ORM's compiling cost more than the query.
    rows: list[ResourceRequest] = list(
        ResourceRequest.objects.raw(
            f"SELECT * FROM (SELECT r.*, ROW_NUMBER() OVER (PARTITION BY r.priority "
            f"ORDER BY r.first_requested_at, r.id) AS line_position "
            f"FROM {ResourceRequest._meta.db_table} r INNER JOIN {Execution._meta.db_table} e "
            f"ON e.id = r.execution_id WHERE r.waiting_since IS NOT NULL AND e.status = %s) head "
            f"WHERE line_position <= %s",
            [ExecutionStatus.QUEUED, per_priority],
        )
    )
    by_pk = {r.pk: r for r in rows}
    order = [
        by_pk[item.request_id]
        for item in queue_order(
            [Waiting(r.pk, r.execution_id, r.priority, r.first_requested_at) for r in rows],
            now=now,
            ageing_seconds=settings.WEBAUTO_RESOURCES_AGEING_SECONDS,
        )
    ]
    # The last request read of a line that may go on (it filled its quota).
    ends = [i for i, r in enumerate(order) if getattr(r, "line_position", 0) == per_priority]
    if not ends:
        return order, True
    stop = min(ends)
    return order[: stop + 1], False


def _rank_now(request: ResourceRequest, now: datetime) -> int:
    waited = (now - request.first_requested_at).total_seconds()
    return effective_rank(request.priority, waited, settings.WEBAUTO_RESOURCES_AGEING_SECONDS)


def _grant(
    request: ResourceRequest, worker_id: int | None, ledger: Ledger, now: datetime
) -> Allocation:
    need = _need(request, ledger)
    allocation = Allocation.objects.create(
        execution_id=request.execution_id,
        worker_id=worker_id,
        priority=request.priority,
        rank=_rank_now(request, now),
        cpu_millicores=need.cpu_millicores,
        memory_bytes=need.memory_bytes,
        disk_bytes=need.disk_bytes,
        network_bytes_per_second=need.network_bytes_per_second,
        requested_at=request.waiting_since or now,
        allocated_at=now,
    )
    ledger.take(worker_id, need)
    ResourceRequest.objects.filter(pk=request.pk).update(
        waiting_since=None, reason="", admissions=F("admissions") + 1
    )
    if request.preemptions:  # only a request that was preempted has a preemption to close
        Preemption.objects.filter(victim_id=request.execution_id, resumed_at__isnull=True).update(
            resumed_at=now
        )
    return allocation


def _may_preempt(request: ResourceRequest) -> bool:
    return (
        settings.WEBAUTO_RESOURCES_PREEMPTION
        and PRIORITY_RANK.get(request.priority, 0) >= PREEMPTING_RANK
    )


@dataclass(frozen=True)
class _Victim:
    allocation_id: int
    execution_id: int
    worker_id: int | None
    priority: str
    rank: int
    amount: Amount


def _preempt_for(request: ResourceRequest, ledger: Ledger, now: datetime) -> int | None:
    """Make room for ``request`` by preempting lower-priority running
    executions (lowest priority first, then the most recently started, which
    loses least work). Returns the worker it now fits on, or None when even
    preempting every candidate would not make it fit (nothing is preempted)."""
    rank = PRIORITY_RANK.get(request.priority, 0)
    need = _need(request, ledger)
    # Victims are judged by the rank they were admitted with: work that got in
    # through ageing is not thrown out again by the next high request.
    rows = (
        Allocation.objects.filter(
            released_at__isnull=True,
            execution__status=ExecutionStatus.RUNNING,
            execution__stop_mode="",
            rank__lt=rank,
        )
        .exclude(execution_id=request.execution_id)
        .order_by("rank", "-allocated_at", "-id")
    )
    candidates = [
        _Victim(a.pk, a.execution_id, a.worker_id, a.priority, a.rank, _amount(a)) for a in rows
    ]
    trial = ledger.clone()
    chosen: list[_Victim] = []
    for victim in candidates:
        trial.give_back(victim.worker_id, victim.amount)
        chosen.append(victim)
        if trial.place(need) is not None:
            break
    else:
        return None
    # Lock the victims without waiting: one that is busy (finishing a node
    # right now) makes us give up this time rather than block under the pool lock.
    ids = [v.execution_id for v in chosen]
    locked = set(
        Execution.objects.select_for_update(no_key=True, skip_locked=True, of=("self",))
        .filter(pk__in=ids, status=ExecutionStatus.RUNNING, stop_mode="")
        .values_list("pk", flat=True)
    )
    if locked != set(ids):
        return None
    from orchestration import services

    reason = f"preempted by execution #{request.execution_id} ({request.priority})"
    for victim in chosen:
        # Released here, in the same transaction, so the capacity is ours at
        # once; the engine's later release() call finds nothing left to free.
        Allocation.objects.filter(pk=victim.allocation_id, released_at__isnull=True).update(
            released_at=now, release_reason=ReleaseReason.PREEMPTED
        )
        ledger.give_back(victim.worker_id, victim.amount)
        Preemption.objects.create(
            victim_id=victim.execution_id,
            beneficiary_id=request.execution_id,
            victim_priority=victim.priority,
            beneficiary_priority=request.priority,
            freed_cpu_millicores=victim.amount.cpu_millicores,
            freed_memory_bytes=victim.amount.memory_bytes,
            reason=reason,
        )
        ResourceRequest.objects.filter(execution_id=victim.execution_id).update(
            waiting_since=now, reason=reason, preemptions=F("preemptions") + 1
        )
        services.execution_preempt(execution_id=victim.execution_id, reason=reason)
        log.info(
            "execution %s preempted for execution %s", victim.execution_id, request.execution_id
        )
    return ledger.place(need)


def _dispatch_soon() -> None:
    """After commit, ask a worker to run a dispatch pass (freed capacity)."""

    def send() -> None:
        from resources.tasks import dispatch

        seq = (
            ResourcePool.objects.filter(name="default")
            .values_list("dispatch_seq", flat=True)
            .first()
            or 0
        )
        # Served first on Redis (0 is the highest priority): it is what starts queued work.
        dispatch.apply_async(kwargs={"seen_seq": seq}, priority=0)

    # Robust: with the broker down the pass is lost, not the caller's request;
    # reconciliation runs a pass periodically anyway.
    transaction.on_commit(send, robust=True)


def _seq_and_waiting() -> tuple[int, bool]:
    """The pool's pass counter and whether any request waits, in one read."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT dispatch_seq FROM {ResourcePool._meta.db_table} WHERE name = %s), "
            f"EXISTS (SELECT 1 FROM {ResourceRequest._meta.db_table} r INNER JOIN {Execution._meta.db_table} e "
            f"ON e.id = r.execution_id WHERE r.waiting_since IS NOT NULL AND e.status = %s)",
            ["default", ExecutionStatus.QUEUED],
        )
        seq, waiting = cursor.fetchone()
    return seq or 0, bool(waiting)


def _dispatch_here_after_commit() -> None:
    """After commit, run a dispatch pass in this process (freed capacity):
    the next execution starts without waiting for a message to go round the
    broker behind other work. Should the pass fail, it is sent to a worker
    instead (``_dispatch_soon``)."""

    def run() -> None:
        seq, waiting = _seq_and_waiting()
        if not waiting:
            return  # nobody waits for what was freed
        try:
            _dispatch_unless_running(seq)
        except Exception:
            log.warning("dispatch pass after a release failed; sending it to a worker", exc_info=True)
            _dispatch_soon()

    transaction.on_commit(run, robust=True)


# --- The admission backend's two calls ---------------------------------------------------


def _new_request(execution: Execution, need: Requirements, now: datetime, reason: str = "") -> ResourceRequest:
    """An unsaved request of ``execution`` for ``need``, first requested and
    waiting since ``now``."""
    return ResourceRequest(
        execution=execution,
        priority=execution.priority,
        cpu_millicores=need.cpu_millicores,
        memory_bytes=need.memory_bytes,
        disk_bytes=need.disk_bytes,
        network_bytes_per_second=need.network_bytes_per_second,
        source=need.source,
        complexity=need.complexity,
        first_requested_at=now,
        waiting_since=now,
        reason=reason,
    )


def admission_enqueue(*, execution: Execution) -> None:
    """Put the queued ``execution`` in the admission queue (its request row,
    waiting since now, with what it waits for as the reason, on the request
    and the execution) without deciding: called in the engine's transaction,
    which then commits without ever taking the pool lock. The decision (a
    dispatch pass) follows in a short transaction of its own; until then, or
    should it fail, the next pass finds the execution in the queue. Writing
    this execution's own request row needs no pool lock: a pass that holds
    the pool only updates rows it read, and it cannot have read this one
    before our commit. Two statements: an upsert of the request (an
    execution queued again keeps its first request time) and the reason."""
    now = timezone.now()
    need = execution_requirements(execution)
    text = describe_need(
        Amount(need.cpu_millicores, need.memory_bytes, need.disk_bytes, need.network_bytes_per_second)
    )
    ResourceRequest.objects.bulk_create(
        [_new_request(execution, need, now, reason=text)],
        update_conflicts=True,
        unique_fields=["execution"],
        update_fields=["waiting_since", "reason"],
    )
    # Told at once what it waits for: a pass reads only the head of the queue.
    Execution.objects.filter(pk=execution.pk).update(status_reason=text)
    execution.status_reason = text


def admission_request(*, execution_id: int) -> bool:
    """Grant ``execution_id`` its capacity now (True) or queue it (False, with
    the reason on the execution). Called inside the engine's transaction."""
    now = timezone.now()
    with transaction.atomic():
        execution = Execution.objects.select_related("task").get(pk=execution_id)
        # The pool before the request row: an admission pass holding the pool
        # updates request rows, so taking them the other way round could deadlock.
        pool = _lock_pool()
        request = _ensure_request(execution, now)
        if Allocation.objects.filter(execution_id=execution_id, released_at__isnull=True).exists():
            ResourceRequest.objects.filter(pk=request.pk).update(waiting_since=None, reason="")
            return True
        ledger = build_ledger(pool, now)
        need = _need(request, ledger)
        if not ledger.capacity:
            _set_reason(request.pk, execution_id, NO_LIVE_WORKER)
            return False
        if not ledger.could_ever_fit(need):
            _set_reason(request.pk, execution_id, _never_fits_reason(need, ledger))
            return False
        ahead = []
        for other in ordered_waiting(now):
            if other.pk == request.pk:
                break
            if ledger.could_ever_fit(_need(other, ledger)):
                ahead.append(other)
        if ahead:
            if ledger.place(_need(ahead[0], ledger)) is not None:
                _dispatch_soon()  # the head fits: a dispatch was missed (e.g. a worker joined)
            _set_reason(
                request.pk, execution_id, f"{describe_need(need)}; {len(ahead)} ahead in queue"
            )
            return False
        worker_id = ledger.place(need)
        if worker_id is None and _may_preempt(request):
            worker_id = _preempt_for(request, ledger, now)
        if worker_id is None:
            _set_reason(request.pk, execution_id, describe_need(need))
            return False
        _grant(request, worker_id, ledger, now)
        return True


def _ensure_requests(executions: list[Execution], now: datetime) -> dict[int, ResourceRequest]:
    """The requests of ``executions`` by execution id, each marked waiting
    (created on an execution's first queueing): one read, one bulk insert."""
    found = {r.execution_id: r for r in ResourceRequest.objects.filter(execution__in=executions)}
    fresh = []
    for execution in executions:
        if execution.pk in found:
            continue
        fresh.append(_new_request(execution, execution_requirements(execution), now))
    for request in ResourceRequest.objects.bulk_create(fresh):
        found[request.execution_id] = request
    idle = [r for r in found.values() if r.waiting_since is None]
    if idle:
        ResourceRequest.objects.filter(pk__in=[r.pk for r in idle]).update(waiting_since=now)
        for request in idle:
            request.waiting_since = now
    return found


def admission_request_many(*, execution_ids: list[int]) -> list[int]:
    """``admission_request`` for several queued executions in one pass (the
    scheduler's batch of fires): the pool is locked once and the capacity read
    once, then each execution is granted or queued in queue order, exactly as
    one ``admission_request`` after another would decide (strict order: one
    that does not fit makes those behind it wait). Returns the admitted ids.
    Called inside the caller's transaction, which holds the executions."""
    if not execution_ids:
        return []
    now = timezone.now()
    ids = set(execution_ids)
    admitted: list[int] = []
    reasons: dict[int, tuple[int, str]] = {}  # written together at the end
    with transaction.atomic():
        # In the caller's order: runs requested at the same instant queue in it.
        found = {e.pk: e for e in Execution.objects.select_related("task").filter(pk__in=ids)}
        executions = [found[pk] for pk in dict.fromkeys(execution_ids) if pk in found]
        pool = _lock_pool()  # the pool before the request rows, as admission_request
        requests = _ensure_requests(executions, now)
        held = set(
            Allocation.objects.filter(execution_id__in=ids, released_at__isnull=True).values_list(
                "execution_id", flat=True
            )
        )
        for execution_id in held:
            ResourceRequest.objects.filter(pk=requests[execution_id].pk).update(waiting_since=None, reason="")
            admitted.append(execution_id)
        ledger = build_ledger(pool, now)
        # Ours are in the queue too (waiting since now): the queue order places
        # them among everything else that waits.
        ahead = 0  # requests before this point that could fit some day and are still waiting
        for request in ordered_waiting(now):
            need = _need(request, ledger)
            if request.execution_id not in ids:
                if ledger.capacity and ledger.could_ever_fit(need):
                    if not ahead and ledger.place(need) is not None:
                        _dispatch_soon()  # the head fits: a dispatch was missed
                    ahead += 1
                continue
            if request.execution_id in held:
                continue
            if not ledger.capacity:
                reasons[request.execution_id] = (request.pk, NO_LIVE_WORKER)
                continue
            if not ledger.could_ever_fit(need):
                reasons[request.execution_id] = (request.pk, _never_fits_reason(need, ledger))
                continue
            if ahead:
                reasons[request.execution_id] = (request.pk, f"{describe_need(need)}; {ahead} ahead in queue")
                ahead += 1
                continue
            worker_id = ledger.place(need)
            if worker_id is None and _may_preempt(request):
                worker_id = _preempt_for(request, ledger, now)
            if worker_id is None:
                reasons[request.execution_id] = (request.pk, describe_need(need))
                ahead += 1
                continue
            _grant(request, worker_id, ledger, now)
            admitted.append(request.execution_id)
        _set_reasons(reasons)
    return admitted


def admission_release(*, execution_id: int) -> None:
    """Free what ``execution_id`` holds (it finished, was cancelled or was
    preempted) and let the queue move. Plain SQL, three statements: the
    engine calls it once per finished execution."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    allocations = Allocation._meta.db_table
    requests = ResourceRequest._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT status FROM {Execution._meta.db_table} WHERE id = %s", [execution_id])
        row = cursor.fetchone()
        status = row[0] if row else None
        reason = (
            ReleaseReason.PREEMPTED if status == ExecutionStatus.QUEUED else ReleaseReason.FINISHED
        )
        # Conditional update: a release racing reconciliation frees the row once.
        cursor.execute(
            f"UPDATE {allocations} SET released_at = %s, release_reason = %s "
            f"WHERE execution_id = %s AND released_at IS NULL",
            [now, reason, execution_id],
        )
        freed = cursor.rowcount
        if status is None or status in EXECUTION_FINAL:
            cursor.execute(
                f"UPDATE {requests} SET waiting_since = NULL, reason = '' "
                f"WHERE execution_id = %s AND (waiting_since IS NOT NULL OR reason <> '')",
                [execution_id],
            )
        elif status == ExecutionStatus.QUEUED:
            # Preempted by someone other than us: it waits for capacity again.
            cursor.execute(
                f"UPDATE {requests} SET waiting_since = %s WHERE execution_id = %s AND waiting_since IS NULL",
                [now, execution_id],
            )
        if freed:
            _dispatch_here_after_commit()
    if freed:
        log.debug("execution %s released its capacity (%s)", execution_id, reason)


# --- Dispatch and reconciliation ------------------------------------------------------


def _count_pass(seen_seq: int | None, now: datetime) -> ResourcePool | None:
    """Lock the pool row for a dispatch pass and count the pass
    (``dispatch_seq``), in one statement; None, with nothing locked or
    counted, when two passes began since ``seen_seq`` (one of them saw what
    the caller freed)."""
    table = ResourcePool._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET dispatch_seq = dispatch_seq + 1, last_dispatch_at = %s "
            f"WHERE name = %s AND (%s OR dispatch_seq < %s) "
            f"RETURNING id, cpu_limit_millicores, memory_limit_bytes, dispatch_seq",
            [connection.ops.adapt_datetimefield_value(now), "default", seen_seq is None, (seen_seq or 0) + 2],
        )
        row = cursor.fetchone()
    if row is not None:
        pk, cpu_limit, memory_limit, seq = row
        return ResourcePool(
            pk=pk, name="default", cpu_limit_millicores=cpu_limit, memory_limit_bytes=memory_limit,
            dispatch_seq=seq, last_dispatch_at=now,
        )
    if seen_seq is not None and ResourcePool.objects.filter(name="default").exists():
        return None
    pool = _lock_pool()  # the first pass ever creates the row
    pool.dispatch_seq += 1
    pool.last_dispatch_at = now
    pool.save(update_fields=["dispatch_seq", "last_dispatch_at"])
    return pool


class _PassState(threading.local):
    running = False
    again = False


_pass_state = _PassState()


def admission_dispatch(*, seen_seq: int | None = None) -> int:
    """Start queued executions that now fit, in queue order. Returns how many
    started. ``seen_seq`` is the pool's pass counter when the caller freed
    capacity; if two passes began since, one of them already saw it.

    Not re-entered: an execution begun by a pass may finish at once (every
    node skipped), and its release asks for a pass on commit, still inside
    this one. That request only makes the running pass go round once more;
    otherwise a queue of such executions would nest one pass in another
    until Python's recursion limit."""
    if seen_seq is not None and not _seq_and_waiting()[1]:
        return 0  # sent for freed capacity, but nobody is waiting for it
    return _dispatch_unless_running(seen_seq)


def _dispatch_unless_running(seen_seq: int | None) -> int:
    if _pass_state.running:
        _pass_state.again = True
        return 0
    _pass_state.running = True
    try:
        started = 0
        while True:
            _pass_state.again = False
            started += _dispatch_pass(seen_seq)
            if not _pass_state.again:
                return started
            seen_seq = None
    finally:
        _pass_state.running = False
        _pass_state.again = False


def _dispatch_pass(seen_seq: int | None) -> int:
    """One pass of ``admission_dispatch``.

    The pass grants under the pool lock and commits, then begins the granted
    executions, each in its own transaction, outside the lock: the lock is
    held for the decision only, not for the executions' starts (their node
    rows, events and messages). An execution that waited for capacity (a
    second or more, or it was preempted) sends its first nodes at the top
    broker priority, never behind new work; one admitted at once keeps its
    own priority. A start
    that fails after the grant committed is retried by reconciliation
    (``_begin_admitted``)."""
    from orchestration import services

    now = timezone.now()
    granted: list[tuple[int, bool]] = []  # (execution id, it had waited)
    with transaction.atomic():
        pool = _count_pass(seen_seq, now)
        if pool is None:
            return 0
        ledger, unplaced = _ledger_and_unplaced(pool, now)
        if not ledger.capacity:
            _mark_waiting(ordered_waiting(now), NO_LIVE_WORKER)
            return 0
        _place_unplaced(ledger, unplaced)
        head, complete = _queue_head(now)
        reasons: dict[int, tuple[int, str]] = {}  # written together at the end
        stopped = _admit_in_order(head, ledger, now, granted, reasons)
        if not stopped and not complete:
            # Everything read so far was decided: the rest of the queue, read whole.
            seen = {r.pk for r in head}
            rest = [r for r in ordered_waiting(now) if r.pk not in seen]
            _admit_in_order(rest, ledger, now, granted, reasons)
        _set_reasons(reasons)
    started = 0
    for execution_id, waited in granted:
        try:
            with (
                services.dispatch_priority(ADMITTED_AFTER_WAIT_PRIORITY) if waited else contextlib.nullcontext()
            ):
                started += bool(services.execution_begin(execution_id=execution_id))
        except Exception:
            log.warning("execution %s was admitted but did not begin; reconciliation begins it",
                        execution_id, exc_info=True)
    return started


# An execution admitted by a pass after waiting this long (or after being
# preempted) counts as having waited for capacity (see admission_dispatch).
ADMITTED_AFTER_WAIT_SECONDS = 1.0


def _admit_in_order(
    queue: list[ResourceRequest],
    ledger: Ledger,
    now: datetime,
    granted: list[tuple[int, bool]],
    reasons: dict[int, tuple[int, str]],
) -> bool:
    """Grant ``queue``'s requests in order while they fit (under the pool lock);
    True when one did not fit, which makes all behind it wait (strict order).
    Appends ``(execution id, it had waited)`` to ``granted``, and the reasons
    to write to ``reasons`` (``{execution id: (request id, reason)}``)."""
    for position, request in enumerate(queue):
        need = _need(request, ledger)
        if not ledger.could_ever_fit(need):
            text = _never_fits_reason(need, ledger)
            if request.reason != text:
                reasons[request.execution_id] = (request.pk, text)
            continue
        worker_id = ledger.place(need)
        if worker_id is None and _may_preempt(request):
            worker_id = _preempt_for(request, ledger, now)
        if worker_id is None:
            # Strict order: what comes after waits behind the head.
            text = describe_need(need)
            if request.reason != text:
                reasons[request.execution_id] = (request.pk, text)
            for behind in queue[position + 1 :]:
                text = describe_need(_amount(behind))
                if not behind.reason.startswith((text, "preempted")):
                    reasons[behind.execution_id] = (behind.pk, text)
            return True
        status = (
            # NO KEY UPDATE, as the engine: a plain FOR UPDATE would block a
            # claim inserting its event row (key share) while holding its node row.
            Execution.objects.select_for_update(no_key=True, skip_locked=True)
            .filter(pk=request.execution_id)
            .values_list("status", flat=True)
            .first()
        )
        if status != ExecutionStatus.QUEUED:
            continue  # busy (locked) right now, or no longer queued
        _grant(request, worker_id, ledger, now)
        waited = request.reason.startswith("preempted") or (
            request.waiting_since is not None
            and (now - request.waiting_since).total_seconds() >= ADMITTED_AFTER_WAIT_SECONDS
        )
        granted.append((request.execution_id, waited))
    return False


def _mark_waiting(queue: list[ResourceRequest], reason: str) -> None:
    """Give waiting requests ``reason``, touching only rows that have another:
    a dispatch pass holds the pool lock and must stay short."""
    stale = [r for r in queue if r.reason != reason]
    ResourceRequest.objects.filter(pk__in=[r.pk for r in stale]).update(reason=reason)
    Execution.objects.filter(pk__in=_lockable_queued([r.execution_id for r in stale])).update(
        status_reason=reason
    )


def _place_unplaced(ledger: Ledger, unplaced: list[tuple[int, Amount]]) -> None:
    """Open allocations that lost their worker (and found no other at the time)
    move to a live one, so per-worker free capacity stays honest.
    ``unplaced``: ``[(allocation id, amount)]`` from ``_ledger_and_unplaced``."""
    for allocation_id, need in unplaced:
        target = ledger.place(need) or max(
            ledger.capacity, key=lambda wid: ledger.free(wid).memory_bytes
        )
        ledger.give_back(None, need)
        ledger.take(target, need)
        Allocation.objects.filter(pk=allocation_id).update(worker_id=target)


def _reclaim_from_workers(worker_ids: list[int], now: datetime, ledger: Ledger | None) -> int:
    """Free the allocations held on workers that are gone. An execution that is
    still active keeps being accounted for: it gets a fresh allocation on a
    live worker (or none in particular until one appears)."""
    reclaimed = 0
    for allocation in Allocation.objects.filter(
        released_at__isnull=True, worker_id__in=worker_ids
    ).select_related("execution"):
        if not Allocation.objects.filter(pk=allocation.pk, released_at__isnull=True).update(
            released_at=now, release_reason=ReleaseReason.WORKER_LOST
        ):
            continue
        reclaimed += 1
        if allocation.execution.status != ExecutionStatus.RUNNING:
            continue
        need = _amount(allocation)
        target = ledger.place(need) if ledger is not None else None
        if ledger is not None:
            ledger.give_back(allocation.worker_id, need)
            ledger.take(target, need)
        Allocation.objects.create(
            execution_id=allocation.execution_id,
            worker_id=target,
            priority=allocation.priority,
            rank=allocation.rank,
            cpu_millicores=need.cpu_millicores,
            memory_bytes=need.memory_bytes,
            disk_bytes=need.disk_bytes,
            network_bytes_per_second=need.network_bytes_per_second,
            requested_at=allocation.requested_at,
            allocated_at=now,
        )
    return reclaimed


def admission_reconcile() -> dict[str, int]:
    """The periodic safety net: mark silent workers lost and reclaim their
    capacity, free what finished executions still hold, queue executions the
    backend never heard of, begin admitted executions whose start was lost,
    then run a dispatch pass. Returns counts by kind: ``workers_lost``,
    ``reclaimed``, ``released``, ``requeued``, ``cleared``, ``begun``."""
    now = timezone.now()
    counts = {"workers_lost": 0, "reclaimed": 0, "released": 0, "requeued": 0, "cleared": 0}
    cutoff = now - timedelta(seconds=settings.WEBAUTO_WORKER_LOST_SECONDS)
    with transaction.atomic():
        pool = _lock_pool()
        # Conditional: a heartbeat arriving now keeps the worker alive.
        silent = list(
            Worker.objects.filter(
                status=WorkerStatus.ALIVE, last_heartbeat_at__lt=cutoff
            ).values_list("pk", flat=True)
        )
        counts["workers_lost"] = Worker.objects.filter(
            pk__in=silent, last_heartbeat_at__lt=cutoff
        ).update(status=WorkerStatus.LOST, lost_at=now)
        gone = list(Worker.objects.exclude(status=WorkerStatus.ALIVE).values_list("pk", flat=True))
        counts["reclaimed"] = _reclaim_from_workers(gone, now, build_ledger(pool, now))
        counts["released"] = Allocation.objects.filter(
            released_at__isnull=True, execution__status__in=list(EXECUTION_FINAL)
        ).update(released_at=now, release_reason=ReleaseReason.RECONCILED)
        counts["cleared"] = (
            ResourceRequest.objects.filter(waiting_since__isnull=False)
            .exclude(execution__status=ExecutionStatus.QUEUED)
            .update(waiting_since=None, reason="")
        )
        holds = Allocation.objects.filter(execution=OuterRef("pk"), released_at__isnull=True)
        waits = ResourceRequest.objects.filter(
            execution=OuterRef("pk"), waiting_since__isnull=False
        )
        orphans = (
            Execution.objects.filter(status=ExecutionStatus.QUEUED)
            .filter(~Exists(holds), ~Exists(waits))
            .select_related("task")
        )
        for execution in orphans:
            _ensure_request(execution, now)
            counts["requeued"] += 1
        pool.last_reconcile_at = now
        pool.save(update_fields=["last_reconcile_at"])
    counts["begun"] = _begin_admitted(now)
    admission_dispatch()
    return counts


# An admitted execution is begun right after its grant commits; one still
# queued this long after its grant lost that step (process killed, database
# error) and is begun by reconciliation.
ADMITTED_NOT_BEGUN_GRACE = timedelta(seconds=10)


def _begin_admitted(now: datetime) -> int:
    """Begin the queued executions that hold an open allocation granted more
    than ``ADMITTED_NOT_BEGUN_GRACE`` ago (the grant committed, the start did
    not). Returns how many began."""
    from orchestration import services

    holds = Allocation.objects.filter(
        execution=OuterRef("pk"), released_at__isnull=True, allocated_at__lt=now - ADMITTED_NOT_BEGUN_GRACE
    )
    stalled = Execution.objects.filter(Exists(holds), status=ExecutionStatus.QUEUED).values_list("pk", flat=True)
    return sum(1 for pk in list(stalled) if services.execution_begin(execution_id=pk))


# --- Workers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Heartbeat:
    name: str
    host: str
    pid: int
    slots: int
    cores: int
    cpu_percent: float
    load_1m: float
    memory_total_bytes: int
    memory_available_bytes: int
    disk_free_bytes: int
    rss_bytes: int
    cpu_limit_millicores: int | None = None
    memory_limit_bytes: int | None = None


def worker_heartbeat(*, beat: Heartbeat) -> Worker:
    """Record a worker's heartbeat; a worker that (re)appears brings capacity,
    so the queue gets a dispatch pass."""
    now = timezone.now()
    with transaction.atomic():
        was_alive = Worker.objects.filter(name=beat.name, status=WorkerStatus.ALIVE).exists()
        worker, _ = Worker.objects.update_or_create(
            name=beat.name,
            defaults={
                "host": beat.host,
                "pid": beat.pid,
                "slots": beat.slots,
                "cores": beat.cores,
                "cpu_percent": beat.cpu_percent,
                "load_1m": beat.load_1m,
                "memory_total_bytes": beat.memory_total_bytes,
                "memory_available_bytes": beat.memory_available_bytes,
                "disk_free_bytes": beat.disk_free_bytes,
                "rss_bytes": beat.rss_bytes,
                "cpu_limit_millicores": beat.cpu_limit_millicores,
                "memory_limit_bytes": beat.memory_limit_bytes,
                "status": WorkerStatus.ALIVE,
                "last_heartbeat_at": now,
                "lost_at": None,
            },
        )
        if not was_alive:
            _dispatch_soon()
    return worker


def worker_stop(*, name: str) -> None:
    """A worker shutting down cleanly gives its capacity back at once."""
    now = timezone.now()
    with transaction.atomic():
        pool = _lock_pool()
        ids = list(Worker.objects.filter(name=name).values_list("pk", flat=True))
        Worker.objects.filter(pk__in=ids).update(status=WorkerStatus.STOPPED, lost_at=now)
        _reclaim_from_workers(ids, now, build_ledger(pool, now))


# --- Cluster limits ----------------------------------------------------------------------


def pool_limits() -> dict[str, Any]:
    pool = ResourcePool.objects.filter(name="default").first() or ResourcePool(name="default")
    return {
        "cpuLimit": pool.cpu_limit_millicores / 1000 if pool.cpu_limit_millicores is not None else None,
        "memoryLimit": format_bytes(pool.memory_limit_bytes) if pool.memory_limit_bytes is not None else None,
        "memoryLimitBytes": pool.memory_limit_bytes,
    }


def pool_update(*, changes: dict[str, Any]) -> list[dict[str, str]]:
    """Set or clear (``None``) ``cpuLimit`` (cores) and ``memoryLimit``
    ("4GB"). Returns the problems; nothing is changed when there are any."""
    from orchestration.units import parse_size

    errors: list[dict[str, str]] = []
    fields: dict[str, int | None] = {}
    for key in changes:
        if key not in ("cpuLimit", "memoryLimit"):
            errors.append({"path": key, "message": "unknown field; expected cpuLimit or memoryLimit"})
    if "cpuLimit" in changes:
        cpu = changes["cpuLimit"]
        if cpu is None:
            fields["cpu_limit_millicores"] = None
        elif isinstance(cpu, bool) or not isinstance(cpu, int | float) or cpu <= 0:
            errors.append({"path": "cpuLimit", "message": f"must be a number of cores above 0, or null, not {cpu!r}"})
        else:
            fields["cpu_limit_millicores"] = max(1, round(cpu * 1000))
    if "memoryLimit" in changes:
        memory = changes["memoryLimit"]
        if memory is None:
            fields["memory_limit_bytes"] = None
        else:
            try:
                fields["memory_limit_bytes"] = parse_size(memory)
            except ValueError as exc:
                errors.append({"path": "memoryLimit", "message": str(exc)})
    if errors:
        return errors
    with transaction.atomic():
        pool = _lock_pool()
        for name, value in fields.items():
            setattr(pool, name, value)
        pool.save(update_fields=list(fields) or None)
        _dispatch_soon()  # a raised limit may let waiting work in
    return []


__all__ = [
    "NO_LIVE_WORKER",
    "Heartbeat",
    "admission_dispatch",
    "admission_enqueue",
    "admission_reconcile",
    "admission_release",
    "admission_request",
    "admission_request_many",
    "build_ledger",
    "describe_need",
    "execution_requirements",
    "live_workers",
    "pool_limits",
    "pool_update",
    "worker_heartbeat",
    "worker_stop",
]
