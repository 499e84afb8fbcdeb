"""The execution engine: persistence around the pure graph module.

Every state change is a conditional update or happens under the execution's
row lock, and is committed before anything is announced (events and Celery
messages are sent on commit). Execution rows are locked FOR NO KEY UPDATE OF
the execution alone (never the task row through a join), which does not block
the key-share locks taken by inserting rows that point at them (events, node
runs).

Lock order (everywhere: admission, engine, cancel, preemption, recovery,
scheduling): **execution → its node runs → the resource pool**. Task rows are
never locked by the engine (only by task edits, which lock nothing else).
Whoever must go the other way (an admission pass holding the pool that wants to
start, preempt or annotate an execution) takes executions with ``SKIP LOCKED``
and never waits for them, so no cycle of waits (deadlock) can form. Single-row
conditional updates (claim, heartbeat) hold one lock and wait for nothing else.

The database, not the broker, is the source of truth for dispatch: a node is
``queued`` in its row before its message is sent, the message only rings the
doorbell. ``recovery.maintenance`` re-sends, under a fresh dispatch id (so a
late original is dropped), queued nodes that no worker claimed within
``WEBAUTO_DISPATCH_RESEND_SECONDS`` (message lost in a broker restart, or
never sent because the broker was down) and delayed retries whose worker died
holding the countdown.

Nodes run as Celery tasks (``orchestration.tasks.run_node``); when one
finishes, ``node_finish`` advances the graph and dispatches what became ready.
Nothing waits or polls for a node, except ``maintenance`` for timers (parked
retries, delayed starts, deadlines), lost messages and nodes whose worker died.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import itertools
import json
import logging
import random
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from orchestration import (
    admission,
    dispatch,
    events,
    expressions,
    graph,
    persistence,
    signals,
    transitions,
)
from orchestration.definitions import missing_secrets
from orchestration.errors import SecretsMissing
from orchestration.models import (
    EXECUTION_FINAL,
    NODE_FINAL,
    Execution,
    ExecutionStatus,
    NodeRun,
    NodeStatus,
    Task,
    Trigger,
)

log = logging.getLogger(__name__)

# The engine's Celery tasks (orchestration/tasks.py), sent by name: the tasks
# module imports the engine, never the other way round.
RUN_NODE = "orchestration.run_node"
START_DELAYED_EXECUTION = "orchestration.start_delayed_execution"
# Celery message priority per priority name. On Redis, 0 is served first.
BROKER_PRIORITY = {"critical": 0, "high": 3, "normal": 6, "low": 9}
ACTIVE_NODE = (NodeStatus.PENDING, NodeStatus.QUEUED, NodeStatus.RUNNING)


class ExecutionStateError(Exception):
    """An operation that the execution's current status does not allow."""


def lock_execution(execution_id: int) -> Execution:
    """Lock one execution row (FOR NO KEY UPDATE OF the execution only: the
    joined task row stays unlocked, see the lock order above) and return it
    with its task loaded. Raises ``Execution.DoesNotExist``."""
    return (
        Execution.objects.select_for_update(no_key=True, of=("self",))
        .select_related("task")
        .get(pk=execution_id)
    )


# The begin's locking statement by whether it also reads the Frozen columns, built once per process.
_BEGIN_LOCK_SQL: dict[bool, str] = {}


def _lock_to_begin(execution_id: int) -> Execution:
    """``lock_execution`` for admission's begin, the hot path: the execution's
    ``HOT_EXECUTION_FIELDS`` only, in one statement that also reads its
    ``Frozen`` columns (definition, parameters, input, the task's taskId) and
    caches them when this process has not (PostgreSQL; elsewhere
    ``lock_execution``). No task row, no ``Model.__init__``, no deep copy of
    the definition: the ORM lock with its task cost a pool process 4 % of its
    CPU under ``bench_schedules.py`` (``profiles/worker_schedules_round8.txt``).
    Raises ``Execution.DoesNotExist``."""
    if connection.vendor != "postgresql":
        return lock_execution(execution_id)
    with_frozen = frozen_cached(execution_id) is None
    sql = _BEGIN_LOCK_SQL.get(with_frozen)
    if sql is None:
        q = connection.ops.quote_name
        names = persistence.in_model_order(Execution, HOT_EXECUTION_FIELDS)
        columns = ", ".join(f"x.{persistence.column(Execution, name)}" for name in names)
        if with_frozen:
            columns += "".join(f", x.{persistence.column(Execution, n)}" for n in ("definition", "parameters", "input"))
            columns += (f", (SELECT t.{persistence.column(Task, 'task_id')} FROM {q(Task._meta.db_table)} t"
                        f" WHERE t.{persistence.column(Task, 'id')} = x.{persistence.column(Execution, 'task_id')})")
        sql = _BEGIN_LOCK_SQL[with_frozen] = (
            f"SELECT {columns} FROM {q(Execution._meta.db_table)} x"
            f" WHERE x.{persistence.column(Execution, 'id')} = %s FOR NO KEY UPDATE OF x"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, [execution_id])
        row = cursor.fetchone()
    if row is None:
        raise Execution.DoesNotExist(f"execution {execution_id} does not exist")
    hot = list(row)
    if with_frozen:
        *hot, definition, parameters, input_, task_key = hot
    execution = Execution.from_db(connection.alias, persistence.in_model_order(Execution, HOT_EXECUTION_FIELDS), hot)
    if with_frozen:
        _frozen_keep(execution_id, _make_frozen(execution.task_id, task_key, _jsonb(definition), _jsonb(parameters),
                                                _jsonb(input_)), time.monotonic())
    return execution


# --- Definitions snapshot ---------------------------------------------------------


def definition_snapshot(task: Task) -> dict[str, Any]:
    """What an execution needs of its task, frozen at creation."""
    error_handling = task.error_handling or {}
    return {
        "workflows": task.workflows,
        "timeout": task.timeout_ms,
        "maxRetries": task.max_retries if task.max_retries else error_handling.get("maxRetries", 0),
        "retryDelay": task.retry_delay_ms if task.retry_delay_ms else error_handling.get("retryDelay", 0),
        "errorHandling": error_handling,
        "priority": task.priority,
        "resourceRequirements": task.resource_requirements,
    }


@dataclass(frozen=True)
class Frozen:
    """What never changes in an execution once it is created: its definition
    snapshot (parsed: nodes by id, the graph), parameters, input and task.
    Shared by everyone in the process that reads it: never mutate it (the
    claim hands a node and the input out as copies)."""

    task_pk: int
    task_key: str  # the task's taskId
    definition: dict[str, Any]
    nodes: dict[str, dict[str, Any]]
    graph: graph.Graph
    parameters: dict[str, Any]
    input: Any
    _upstream: dict[str, frozenset[str]] = field(default_factory=dict, compare=False, repr=False)

    def upstream(self, node_id: str) -> frozenset[str]:
        """The nodes whose outputs ``node_id`` may read: its ancestors (what
        validation lets ``${...}`` and conditions name) and its ``inputFrom``."""
        found = self._upstream.get(node_id)
        if found is None:
            source = input_from_node(self.nodes.get(node_id, {}))
            found = frozenset(self.graph.ancestors(node_id) | ({source} if source else set()))
            self._upstream[node_id] = found
        return found


# Per-process cache of ``Frozen`` by execution id, so that a node's claim and
# finish neither read nor parse the definition again (a fan-out of 50 used to
# parse its whole definition and load every node row 100 times). An entry goes
# when its execution ends in this process, or after ``FROZEN_IDLE_SECONDS``
# unused (an execution finished by another process); a miss costs one query.
# Without that, every execution a pool process ever touched stayed cached up
# to the size bound: about 2 KB each, the pool processes' slow growth that
# tests/performance/bench_memory.py measured (1.8 MB over 1,000 executions).
_FROZEN_MAX = 512
FROZEN_IDLE_SECONDS = 30.0
# execution id -> (its Frozen, monotonic time of its last use), least recently used first
_frozen: OrderedDict[int, tuple[Frozen, float]] = OrderedDict()
_frozen_lock = threading.Lock()

# The columns of a node run that deciding the graph's next step needs.
HOT_NODE_FIELDS = ("id", "execution_id", "node_id", "status", "error", "dispatch_id", "attempts")

# And the columns settling a node's outcome reads.
SETTLE_NODE_FIELDS = (
    "stop_requested", "retries", "attempts", "started_at", "worker", "attempt_log", "cpu_seconds",
    "peak_rss_bytes", "reason",
)
# What every outcome writes.
OUTCOME_FIELDS = ("attempt_log", "input", "logs", "cpu_seconds", "peak_rss_bytes", "stop_requested")

# The columns of an execution the hot path reads and writes: everything but
# the large JSON documents (definition, parameters, input), which are in ``Frozen``.
HOT_EXECUTION_FIELDS = (
    "id", "task_id", "status", "status_reason", "trigger", "triggered_by", "priority", "retry_of_id",
    "previous_attempts", "error", "created_at", "not_before", "queued_at", "started_at", "finished_at",
    "deadline_at", "cancel_requested_at", "stop_mode",
)


def frozen(execution: Execution | int, *, keep: bool = True) -> Frozen:
    """The execution's unchanging part, from this process's cache (one query
    on a miss; none when ``execution`` is a full instance with its task loaded).
    ``keep=False`` reads without caching a miss: for readers that run after the
    execution may have ended (its entry already forgotten, see ``frozen_forget``).
    Raises ``Execution.DoesNotExist`` for an unknown id."""
    execution_id = execution if isinstance(execution, int) else execution.pk
    now = time.monotonic()
    with _frozen_lock:
        entry = _frozen.get(execution_id)
        if entry is not None and entry[1] != _ENDED:
            _frozen[execution_id] = (entry[0], now)
            _frozen.move_to_end(execution_id)
            return entry[0]
        if entry is not None and not keep:
            return entry[0]  # ended: still good for its final events' subscribers
    if isinstance(execution, Execution) and not execution.get_deferred_fields() & {
        "definition", "parameters", "input"
    } and Execution.task.is_cached(execution):
        task_pk, task_key = execution.task_id, execution.task.task_id
        # Copies: the caller's instance (and the task it was made from) may change later.
        definition, parameters, input_ = copy.deepcopy((execution.definition, execution.parameters, execution.input))
    else:
        task_pk, task_key, definition, parameters, input_ = Execution.objects.filter(pk=execution_id).values_list(
            "task_id", "task__task_id", "definition", "parameters", "input"
        ).get()
    found = _make_frozen(task_pk, task_key, definition, parameters, input_)
    if keep:
        _frozen_keep(execution_id, found, now)
    return found


def _make_frozen(task_pk: int, task_key: str, definition: dict[str, Any], parameters: Any, input_: Any) -> Frozen:
    workflows = definition.get("workflows", [])
    return Frozen(
        task_pk=task_pk, task_key=task_key, definition=definition, nodes={n["id"]: n for n in workflows},
        graph=graph.Graph.from_nodes(workflows), parameters=parameters or {}, input=input_,
    )


def _frozen_keep(execution_id: int, found: Frozen, now: float) -> None:
    """Cache ``found`` as the execution's entry, evicting what is past the bounds."""
    with _frozen_lock:
        _frozen[execution_id] = (found, now)
        _frozen.move_to_end(execution_id)
        while _frozen and (
            len(_frozen) > _FROZEN_MAX or now - next(iter(_frozen.values()))[1] > FROZEN_IDLE_SECONDS
        ):
            _frozen.popitem(last=False)


def frozen_cached(execution_id: int) -> Frozen | None:
    """The execution's ``Frozen`` when this process has it cached (and the
    execution has not ended here), else None: never a query."""
    with _frozen_lock:
        entry = _frozen.get(execution_id)
        if entry is None or entry[1] == _ENDED:
            return None
        _frozen[execution_id] = (entry[0], time.monotonic())
        _frozen.move_to_end(execution_id)
        return entry[0]


# The last-use time of an ended execution's entry: first in line for eviction.
_ENDED = float("-inf")


def frozen_forget(execution_id: int) -> None:
    """The execution ended: its entry in this process's ``Frozen`` cache is
    no longer served to ``frozen()`` callers that keep what they read (they
    read the row again), only to ``keep=False`` ones (its final events'
    subscribers, announced right after), and it is evicted by the next entry
    cached in this process."""
    with _frozen_lock:
        entry = _frozen.get(execution_id)
        if entry is not None:
            _frozen[execution_id] = (entry[0], _ENDED)
            _frozen.move_to_end(execution_id, last=False)


def _nodes(execution: Execution) -> dict[str, dict[str, Any]]:
    return frozen(execution).nodes


def _graph(execution: Execution) -> graph.Graph:
    return frozen(execution).graph


def _emit(type: str, execution: Execution, **kwargs: Any) -> None:
    """Record an event of ``execution`` (its task by id: no task row needed)."""
    events.emit(type, execution=execution, task_id=execution.task_id, **kwargs)


def _event_data(execution: Execution, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "executionId": execution.pk,
        "taskId": frozen(execution).task_key,
        "status": execution.status,
        "trigger": execution.trigger,
        "durationSeconds": execution.duration_seconds,
        "error": execution.error,
    }
    data.update(extra)
    return data


# --- Creating and starting executions ----------------------------------------------


def execution_create(
    *,
    task: Task,
    input: Any = None,
    trigger: str = Trigger.API,
    triggered_by: str = "",
    parameters: dict[str, Any] | None = None,
    retry_of: Execution | None = None,
    previous_attempts: int = 0,
    reuse_from: Execution | None = None,
    not_before: datetime | None = None,
) -> Execution:
    """Create an execution of ``task`` with one node run per workflow node and
    queue it (or park it until ``not_before``). With ``reuse_from``, nodes that
    completed there and that nothing failed upstream of keep their outputs.

    A new run (not a retry or re-run, which the engine itself may start while
    finishing another) raises ``SecretsMissing``, with nothing saved, when the
    task references secrets that are not in the store."""
    if retry_of is None and reuse_from is None:
        missing = missing_secrets(
            workflows=task.workflows,
            parameters=parameters if parameters is not None else task.parameters,
            channels=task.notification_channels,
        )
        if missing:
            raise SecretsMissing(task.task_id, missing)
    with transaction.atomic(), events.batch(), persistence.writes():
        snapshot = reuse_from.definition if reuse_from else definition_snapshot(task)
        # Due now: created queued (the pending -> queued step needs no condition
        # while no one else can see the row), and begun in this transaction
        # when admission grants it: one insert (the execution and its node
        # runs), one write, commit.
        now = timezone.now()
        due = not_before is None or not_before <= now
        execution = Execution(
            task=task,
            status=ExecutionStatus.QUEUED if due else ExecutionStatus.PENDING,
            queued_at=now if due else None,
            trigger=trigger,
            triggered_by=triggered_by[:200],
            priority=task.priority,
            input=input if input is not None else {},
            parameters=parameters if parameters is not None else (
                reuse_from.parameters if reuse_from else dict(task.parameters or {})
            ),
            definition=snapshot,
            retry_of=retry_of,
            previous_attempts=previous_attempts,
            not_before=not_before,
        )
        reused: dict[str, NodeRun] = {}
        if reuse_from is not None:
            previous = {nr.node_id: nr for nr in reuse_from.node_runs.all()}
            statuses = {node_id: nr.status for node_id, nr in previous.items()}
            again = graph.rerun_set(_graph(reuse_from), statuses)
            reused = {n: nr for n, nr in previous.items() if n not in again}
        runs = []
        for node in snapshot.get("workflows", []):
            source = reused.get(node["id"])
            if source is not None:
                runs.append(
                    NodeRun(
                        node_id=node["id"], workflow=node["workflow"],
                        status=NodeStatus.COMPLETED, output=source.output, input=source.input,
                        reason=f"output reused from execution #{source.execution_id}",
                        reused_from=source.reused_from or source, attempts=0,
                        started_at=source.started_at, finished_at=source.finished_at,
                    )
                )
            else:
                runs.append(NodeRun(node_id=node["id"], workflow=node["workflow"]))
        # The execution and its node runs: one statement on PostgreSQL.
        persistence.create_with_children(execution, runs, fk="execution", key="node_id")
        _emit("execution.created", execution, data=_event_data(execution, status=ExecutionStatus.PENDING))
        if due:
            _emit("execution.queued", execution, data=_event_data(execution))
            if admission.request(execution):
                _begin_locked(execution, {run.node_id: run for run in runs})
    return execution


def _queue(execution: Execution) -> None:
    """pending -> queued, then ask admission control whether it may start."""
    now = timezone.now()
    # Conditional: maintenance and a countdown message may both try to queue a
    # delayed execution; only one moves it.
    moved = Execution.objects.filter(pk=execution.pk, status=ExecutionStatus.PENDING).update(
        status=ExecutionStatus.QUEUED, queued_at=now
    )
    if not moved:
        return
    execution.status = ExecutionStatus.QUEUED
    execution.queued_at = now
    _emit("execution.queued", execution, data=_event_data(execution))
    if admission.request(execution):
        _begin_locked(lock_execution(execution.pk))


def execution_begin(*, execution_id: int) -> bool:
    """Start a queued execution (admission control calls this when it fits).
    Returns False when the execution is no longer queued."""
    with transaction.atomic(), events.batch(), persistence.writes():
        execution = _lock_to_begin(execution_id)
        if execution.status != ExecutionStatus.QUEUED:
            return False
        _begin_locked(execution)  # its start, first dispatches and events: one statement
        return True


def _begin_locked(execution: Execution, runs: dict[str, NodeRun] | None = None) -> None:
    """queued -> running under the execution's lock (or in the transaction
    that created it), then dispatch its first nodes. ``runs`` as for
    ``_advance_locked``."""
    now = timezone.now()
    first_start = execution.started_at is None
    execution.status = ExecutionStatus.RUNNING
    execution.status_reason = ""
    if first_start:
        execution.started_at = now
    timeout_ms = frozen(execution).definition.get("timeout")
    execution.deadline_at = now + timedelta(milliseconds=timeout_ms) if timeout_ms else None
    persistence.save(execution, ["status", "status_reason", "started_at", "deadline_at"])
    if first_start:
        _emit("execution.started", execution, data=_event_data(execution))
    else:
        _emit("execution.resumed", execution, data=_event_data(execution))
    _advance_locked(execution, runs)


# --- Advancing the graph ------------------------------------------------------------


def _advance_locked(execution: Execution, runs: dict[str, NodeRun] | None = None) -> None:
    """Skip what can never run, dispatch what is ready, finish when done.
    The caller holds the execution's row lock; ``runs`` (node id -> run, with
    at least ``HOT_NODE_FIELDS``) when it has just read them under that lock."""
    if execution.stop_mode:
        _advance_cancelled(execution)
        return
    if execution.status != ExecutionStatus.RUNNING:
        return
    with persistence.writes():
        _advance_running(execution, runs)


def _advance_running(execution: Execution, runs: dict[str, NodeRun] | None) -> None:
    fixed = frozen(execution)
    g = fixed.graph
    nodes = fixed.nodes
    # The execution's lock serialises every change to pending nodes; node rows
    # need no lock of their own here (claims only move queued -> running).
    # Only the columns deciding the graph's next step: no outputs, logs or
    # histories (read below only when a ready node has a condition).
    if runs is None:
        runs = {nr.node_id: nr for nr in NodeRun.objects.filter(execution=execution).only(*HOT_NODE_FIELDS)}
    outputs: dict[str, Any] | None = None
    dispatched: list[tuple[NodeRun, dict[str, Any]]] = []
    while True:
        statuses = {node_id: nr.status for node_id, nr in runs.items()}
        step = graph.next_step(g, statuses)
        changed = False
        for node_id, reason in step.skip.items():
            _skip(execution, runs[node_id], reason)
            changed = True
        for node_id in step.ready:
            node = nodes[node_id]
            if node.get("condition") is not None and outputs is None:
                persistence.flush()  # the outputs just settled, written before they are read
                outputs = dict(
                    NodeRun.objects.filter(execution=execution, status=NodeStatus.COMPLETED).values_list(
                        "node_id", "output"
                    )
                )
            try:
                ok, reason = expressions.evaluate_condition(
                    node.get("condition"),
                    parameters=fixed.parameters,
                    outputs=outputs or {},
                    upstream=list(g.deps[node_id]),
                    input_from=input_from_node(node),
                )
            except expressions.ExpressionError as exc:
                # Stored first: a failure may stop the execution, which cancels queued nodes.
                # Sent, never continued here: a node claimed for the finishing
                # worker is running, and the stop would not cancel it.
                _dispatch_all(execution, dispatched, continuing=False)
                dispatched = []
                _fail_unstarted(execution, runs[node_id], f"condition could not be evaluated: {exc}")
                if execution.stop_mode:  # stop-on-error: nothing more is dispatched
                    _advance_cancelled(execution)
                    return
                changed = True
                continue
            if not ok:
                _skip(execution, runs[node_id], reason)
                changed = True
                continue
            _mark_dispatched(runs[node_id])
            dispatched.append((runs[node_id], node))
        if not changed:
            break
    _dispatch_all(execution, dispatched)
    _finalize_if_done(execution, runs)


def input_from_node(node: dict[str, Any]) -> str | None:
    """The id of the node whose output ``node`` takes as input (its
    ``inputFrom: "<id>.output"``), or None."""
    source = node.get("inputFrom")
    if isinstance(source, str) and source:
        return source.split(".", 1)[0]
    return None


def _skip(execution: Execution, run: NodeRun, reason: str) -> None:
    run.status = NodeStatus.SKIPPED
    run.reason = reason
    run.finished_at = timezone.now()
    persistence.save(run, ["status", "reason", "finished_at"])
    _emit(
        "workflow.skipped", execution, node_id=run.node_id,
        data={"executionId": execution.pk, "nodeId": run.node_id, "reason": reason},
    )


def _fail_unstarted(execution: Execution, run: NodeRun, error: str) -> None:
    run.status = NodeStatus.FAILED
    run.error = error
    run.finished_at = timezone.now()
    persistence.save(run, ["status", "error", "finished_at"])
    _emit(
        "workflow.failed", execution, node_id=run.node_id,
        data={"executionId": execution.pk, "nodeId": run.node_id, "error": error},
    )
    if _stops_on_failure(execution, run.node_id):
        _stop_locked(execution, "fail", f"node {run.node_id!r} failed")


# Set by ``dispatch_priority``: a broker priority that nodes dispatched meanwhile
# get when it is higher (a lower number) than their own.
_priority_floor: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "engine_priority_floor", default=None
)


@contextlib.contextmanager
def dispatch_priority(priority: int) -> Iterator[None]:
    """Send the nodes dispatched inside this block at broker ``priority``
    (0 is served first on Redis) when that is higher than their own. The
    scheduler and the resource manager use it so that the first nodes of a
    run they start are not stuck behind later fires."""
    token = _priority_floor.set(priority)
    try:
        yield
    finally:
        _priority_floor.reset(token)


def dispatch_priority_floor() -> int | None:
    """The broker priority set by the innermost ``dispatch_priority`` block
    around the caller, or None outside any."""
    return _priority_floor.get()


def node_priority(execution: Execution, node: dict[str, Any]) -> int:
    name = (node.get("execution") or {}).get("priority") or execution.priority
    own = BROKER_PRIORITY.get(name, BROKER_PRIORITY["normal"])
    floor = _priority_floor.get()
    return own if floor is None else min(own, floor)


@dataclass
class _Continuation:
    """Set by ``node_finish(continue_here=True)``: the first node dispatched in
    its transaction is not sent to the broker but claimed, in that same
    transaction, for the calling worker process (``worker``), which runs it at
    once: no broker round trip and no claim statement for a chain's next node."""

    worker: str
    execution_id: int | None = None  # the finishing node's execution: only its nodes continue here
    open: bool = True  # until the transition's write: what runs after it (on commit) never continues here
    run: NodeRun | None = None
    node: dict[str, Any] | None = None
    # Whether work the broker serves before a node of this broker priority
    # waits there (``dispatch.waiting_before``): such a node is left to the broker.
    yields_to: Callable[[int], bool] | None = None

    def takes(self, execution: Execution, priority: int) -> bool:
        """Whether a node of ``execution`` at broker ``priority`` dispatched
        now continues here. Never one of another execution: the
        transaction's on-commit work (an admission pass freed by the finish,
        say) runs while the finish is still on the stack, and must send its
        nodes, not hand them to this worker, which would never run them.
        Never one that higher-priority work waiting in the broker would
        precede: the node's own priority counts, not the finished node's."""
        return (self.open and self.run is None and execution.pk == self.execution_id
                and not self.yields(priority))

    def yields(self, priority: int) -> bool:
        return self.yields_to is not None and self.yields_to(priority)


_continuation: contextvars.ContextVar[_Continuation | None] = contextvars.ContextVar(
    "engine_continuation", default=None
)


_DISPATCH_FIELDS = ["status", "dispatch_id", "queued_at", "next_attempt_at"]


def _mark_dispatched(run: NodeRun) -> None:
    run.status = NodeStatus.QUEUED
    run.dispatch_id = uuid.uuid4()
    run.queued_at = timezone.now()
    run.next_attempt_at = None


def _dispatch(execution: Execution, run: NodeRun, node: dict[str, Any]) -> None:
    """Mark the node queued under a fresh dispatch id and send it on commit
    (or hand it to the finishing worker to continue with, see ``node_finish``)."""
    _mark_dispatched(run)
    _dispatch_all(execution, [(run, node)])


def _dispatch_all(
    execution: Execution, dispatched: list[tuple[NodeRun, dict[str, Any]]], *, continuing: bool = True
) -> None:
    """Store the nodes ``_mark_dispatched`` queued (one UPDATE for all of them)
    and send them on commit; the first may instead be handed to the
    finishing worker to continue with (see ``node_finish``), unless
    ``continuing`` is False."""
    for run, node in dispatched:
        continuation = _continuation.get() if continuing else None
        if continuation is not None and continuation.takes(execution, node_priority(execution, node)):
            _claim_for(continuation, execution, run, node)
            continue
        persistence.save(run, _DISPATCH_FIELDS)
        send_on_commit(run.pk, run.dispatch_id, node_priority(execution, node),
                       execution_id=execution.pk, node_id=run.node_id)


_CLAIM_FIELDS = (*_DISPATCH_FIELDS, "worker", "heartbeat_at", "started_at", "stop_requested", "finished_at",
                 "attempts")


def _claim_for(continuation: _Continuation, execution: Execution, run: NodeRun, node: dict[str, Any]) -> None:
    """Claim the just-dispatched ``run`` for the continuing worker, as
    ``node_claim`` would (running, heartbeat and lease from now, one more
    attempt, its ``workflow.started`` event), inside the caller's
    transaction. If the worker dies before finishing it, its lease expires
    and recovery dispatches it again, like any claimed node."""
    now = timezone.now()
    run.status = NodeStatus.RUNNING
    run.worker = continuation.worker[:200]
    run.heartbeat_at = run.started_at = now
    run.stop_requested = ""
    run.finished_at = None
    run.attempts += 1
    persistence.save(run, _CLAIM_FIELDS)
    _emit(
        "workflow.started", execution, node_id=run.node_id,
        data={"executionId": execution.pk, "nodeId": run.node_id, "attempt": run.attempts},
    )
    continuation.run, continuation.node = run, node


def _queued_claim(
    continuation: _Continuation, execution: Execution, runs: dict[str, NodeRun]
) -> tuple[persistence.QueuedClaim, frozenset[str]] | None:
    """When the finishing transition readied no node to continue with: a
    request to claim, in the transition's write statement, one of the
    execution's nodes that is already queued (a fan-out's next branch: its
    message is in the broker, and the worker that takes it finds the node
    claimed and drops the message as stale), with the upstream the
    candidates share (whose outputs that statement reads). This saves the
    branch its own claim commit and broker round trip, as a chain's next
    node saves them. None when there is nothing to ask for.

    The claim is conditional, as ``node_claim``'s (``persistence.QueuedClaim``):
    a node claimed meanwhile by a worker that took its message (claims do
    not take the execution's lock) is passed over, and one being claimed
    right now is skipped, so each dispatch still runs once. Never a delayed
    retry, never in a transition that stops the execution, never a node with
    changes of this transaction not yet written. In the order the broker
    would hand them out: the highest priority first (their messages wait at
    their own priorities, and this worker takes one in the broker's place),
    among equals the last queued first (a broker hands out a fan-out's
    messages first to last, so the two ends seldom meet); among the queued
    nodes with the same upstream as the first."""
    if continuation.run is not None or not continuation.open or execution.pk != continuation.execution_id:
        return None
    if execution.status != ExecutionStatus.RUNNING or execution.stop_mode:
        return None
    unwritten = persistence.pending_pks(NodeRun)
    fixed = frozen(execution)
    queued = sorted(
        (node_priority(execution, fixed.nodes.get(nr.node_id, {})), -nr.pk, nr.node_id) for nr in runs.values()
         if nr.status == NodeStatus.QUEUED and nr.pk not in unwritten
    )
    # Those that no work waiting in the broker precedes (if one of a priority
    # does, so does it the lower priorities, which come after it here).
    queued = list(itertools.takewhile(lambda entry: not continuation.yields(entry[0]), queued))
    if not queued:
        return None
    upstream = fixed.upstream(queued[0][2])
    candidates = [-negated for _, negated, node_id in queued if fixed.upstream(node_id) == upstream]
    request = persistence.QueuedClaim(candidates=candidates, worker=continuation.worker[:200],
                                      now=timezone.now(), task_id=execution.task_id)
    return request, upstream


def _took_queued(
    continuation: _Continuation, execution: Execution, runs: dict[str, NodeRun], request: persistence.QueuedClaim
) -> None:
    """Record in memory the queued node ``request`` claimed (see ``_queued_claim``)
    as the continuation's, with its ``workflow.started`` event: written by the
    claim's statement on PostgreSQL (announced on commit here), else emitted
    into the transaction's batch."""
    assert request.claimed is not None
    run_id, node_id, dispatch_id, attempts = request.claimed
    run = runs[node_id]
    assert run.pk == run_id
    run.status = NodeStatus.RUNNING
    run.dispatch_id = dispatch_id
    run.attempts = attempts
    run.worker = request.worker
    run.started_at = request.now
    if request.event_id is None:
        _emit("workflow.started", execution, node_id=node_id,
              data={"executionId": execution.pk, "nodeId": node_id, "attempt": attempts})
    else:
        _announce_started(event_id=request.event_id, task_id=execution.task_id, execution_id=execution.pk,
                          node_id=node_id, attempt=attempts, at=request.now)
    continuation.run, continuation.node = run, frozen(execution).nodes[node_id]


def send_on_commit(
    node_run_id: int, dispatch_id: uuid.UUID | None, priority: int, countdown: float = 0, *,
    execution_id: int | None = None, node_id: str = "",
) -> None:
    """Send the node's message once the surrounding transaction commits,
    together with the transaction's other node messages (one broker round
    trip for a fan-out, see ``orchestration.dispatch``); a ``countdown``
    (seconds) message is sent on its own. ``execution_id`` and ``node_id``
    (the run's) let the worker's claim read the node's upstream outputs in
    its own statement; without them the message has the old two arguments.

    A broker that cannot be reached does not fail the caller (the state change
    is committed, it is what counts): the node's ``queued_at`` is cleared to
    mark the message as never sent, and the next maintenance sweep sends it
    as soon as the broker is back."""
    message = dispatch.NodeMessage(node_run_id, str(dispatch_id), priority, execution_id, node_id)
    if countdown:
        transaction.on_commit(lambda: dispatch.publish([message], countdown=countdown), robust=True)
    else:
        dispatch.publish_on_commit(message)


def node_redispatch(
    *, node_run_id: int, dispatch_id: uuid.UUID | None, priority: int | None = None,
    execution_id: int | None = None, node_id: str = "",
) -> bool:
    """Send a queued node again under a fresh dispatch id, so that a late
    delivery of the previous message is dropped as stale. Conditional on the
    node still being queued under ``dispatch_id`` (two sweeps racing re-send
    it once). Returns whether it was re-sent. Used by the maintenance sweep,
    which passes the run's ``execution_id`` and ``node_id`` for the message
    when it has them (see ``send_on_commit``)."""
    with transaction.atomic():
        fresh = uuid.uuid4()
        moved = NodeRun.objects.filter(
            pk=node_run_id, status=NodeStatus.QUEUED, dispatch_id=dispatch_id
        ).update(dispatch_id=fresh, queued_at=timezone.now(), next_attempt_at=None)
        if not moved:
            return False
        if priority is None:
            run = NodeRun.objects.select_related("execution").get(pk=node_run_id)
            priority = node_priority(run.execution, _nodes(run.execution).get(run.node_id, {}))
            execution_id, node_id = run.execution_id, run.node_id
        send_on_commit(node_run_id, fresh, priority, execution_id=execution_id, node_id=node_id)
    return True


def _stops_on_failure(execution: Execution, node_id: str) -> bool:
    node = _nodes(execution).get(node_id, {})
    if isinstance(node.get("stopOnFailure"), bool):
        return bool(node["stopOnFailure"])
    return (frozen(execution).definition.get("errorHandling") or {}).get("strategy") == "stop-on-error"


def _stop_locked(execution: Execution, mode: str, reason: str) -> None:
    """Stop the rest of the execution: cancel nodes not yet running and ask the
    running ones to stop. The final status follows from ``mode``."""
    if execution.stop_mode:
        return
    persistence.flush()  # the statements below read node runs' statuses
    execution.stop_mode = mode
    execution.status_reason = reason
    if mode == "cancel":
        execution.cancel_requested_at = timezone.now()
    execution.save(update_fields=["stop_mode", "status_reason", "cancel_requested_at"])
    now = timezone.now()
    node_reason = {"cancel": "execution cancelled", "fail": reason, "timeout": "execution timed out"}[mode]
    NodeRun.objects.filter(
        execution=execution, status__in=[NodeStatus.PENDING, NodeStatus.QUEUED]
    ).update(status=NodeStatus.CANCELLED, reason=node_reason, finished_at=now, dispatch_id=None,
             next_attempt_at=None)
    NodeRun.objects.filter(execution=execution, status=NodeStatus.RUNNING).update(stop_requested=mode)


def _final_status(execution: Execution, runs: dict[str, NodeRun]) -> str:
    return transitions.final_status(
        stop_mode=transitions.StopMode(execution.stop_mode),
        node_statuses=[transitions.NodeState(nr.status) for nr in runs.values()],
    )


def _finalize_if_done(execution: Execution, runs: dict[str, NodeRun]) -> None:
    if any(nr.status in ACTIVE_NODE for nr in runs.values()):
        return
    status = _final_status(execution, runs)
    execution.status = status
    execution.finished_at = timezone.now()
    failed = [nr for nr in runs.values() if nr.status in (NodeStatus.FAILED, NodeStatus.TIMED_OUT)]
    if failed and not execution.error:
        execution.error = "; ".join(f"{nr.node_id}: {nr.error or nr.status}" for nr in failed)[:4000]
    if not execution.status_reason and failed:
        execution.status_reason = f"{len(failed)} node(s) failed"
    persistence.save(execution, ["status", "finished_at", "error", "status_reason"])
    transaction.on_commit(lambda: admission.get_backend().release(execution.pk), robust=True)
    _emit(f"execution.{status}", execution, data=_event_data(execution))
    # The receivers below may read what this transaction wrote. Its events go
    # in the same statement, so the transition's last write has nothing left
    # to write (one statement fewer for an execution's last node).
    persistence.flush(events_too=True)
    signals.execution_finished.send(sender=Execution, execution=execution)
    if status in (ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT):
        _schedule_task_retry(execution)
    transaction.on_commit(lambda: frozen_forget(execution.pk))


def _schedule_task_retry(execution: Execution) -> None:
    """Retry a failed execution after retryDelay, up to maxRetries, re-running
    only the failed nodes and what depends on them."""
    definition = frozen(execution).definition
    persistence.flush()  # the retry reads this execution's node runs
    max_retries = int(definition.get("maxRetries") or 0)
    if execution.previous_attempts >= max_retries:
        return
    delay_ms = int(definition.get("retryDelay") or 0)
    not_before = timezone.now() + timedelta(milliseconds=delay_ms)
    retry = execution_create(
        task=execution.task,
        input=execution.input,
        trigger=Trigger.RETRY,
        triggered_by=f"retry of #{execution.retry_of_id or execution.pk}",
        retry_of=execution.retry_of or execution,
        previous_attempts=execution.previous_attempts + 1,
        reuse_from=execution,
        not_before=not_before if delay_ms else None,
    )
    _emit(
        "execution.retry_scheduled", execution,
        data=_event_data(execution, retryExecutionId=retry.pk, notBefore=not_before.isoformat()),
    )
    if delay_ms and delay_ms / 1000 <= settings.WEBAUTO_MAX_COUNTDOWN_SECONDS:
        # Robust: a lost countdown is also found by maintenance (not_before).
        transaction.on_commit(
            lambda: current_app.send_task(START_DELAYED_EXECUTION, args=[retry.pk], countdown=delay_ms / 1000),
            robust=True,
        )


def execution_start_if_due(*, execution_id: int) -> bool:
    """Queue a delayed (pending) execution whose time has come."""
    with transaction.atomic():
        execution = lock_execution(execution_id)
        if execution.status != ExecutionStatus.PENDING:
            return False
        if execution.not_before and execution.not_before > timezone.now():
            return False
        _queue(execution)
        return True


# --- Node lifecycle (called from the worker) ----------------------------------------


@dataclass
class Claim:
    """A node claimed for running. ``execution`` carries the hot columns plus
    ``parameters`` and ``input`` (copies); ``node`` is a copy of the node's
    definition; ``outputs`` maps completed nodes to their outputs."""

    node_run: NodeRun
    execution: Execution
    node: dict[str, Any]
    outputs: dict[str, Any]
    task_key: str = ""  # the task's taskId


def node_claim(
    *, node_run_id: int, dispatch_id: str, worker: str, execution_id: int | None = None, node_id: str = ""
) -> Claim | None:
    """Take a dispatched node for running. Returns None for a duplicate or stale
    delivery (the node already ran or was dispatched again since).

    Atomic: the conditional update (queued + this dispatch id -> running), the
    read of the node run with its execution's hot columns and the
    ``workflow.started`` event commit together. On PostgreSQL that is one
    statement (one round trip, no BEGIN/COMMIT of its own); elsewhere one
    transaction of three.

    ``execution_id`` and ``node_id`` are what the node's message says the run
    is (messages sent before they existed carry neither). With them, the
    PostgreSQL statement also reads the outputs of the node's upstream, so the
    whole claim is one round trip (with the execution's ``Frozen`` cached);
    without them, or when they do not match the claimed row (the statement
    checks it, so a wrong message never reads another node's outputs), the
    outputs take a second query. When this process has not cached the
    execution named by the message (its first node here), the statement
    reads the claimed row's ``Frozen`` instead, and the outputs, if the node
    has an upstream, take a second query: a root node's claim stays one
    round trip."""
    now = timezone.now()
    if connection.vendor == "postgresql" and connection.get_autocommit():
        hinted = _hinted_upstream(execution_id, node_id)
        found = _claim_in_one_statement(
            node_run_id=node_run_id, dispatch_id=dispatch_id, worker=worker, now=now,
            hint=(execution_id, node_id, hinted) if hinted is not None and execution_id is not None else None,
            # The execution's first node in this process: its Frozen comes with the claim.
            with_frozen=bool(execution_id) and hinted is None,
        )
        if found is None:
            return None
        run, execution, outputs = found
        fixed = frozen(execution.pk)
        if outputs is not None:
            return _claimed(run, execution, fixed, outputs)
    else:
        with transaction.atomic(), events.batch():
            # Conditional update: two deliveries of one message race here and
            # exactly one moves the node from queued to running.
            claimed = NodeRun.objects.filter(
                pk=node_run_id, status=NodeStatus.QUEUED, dispatch_id=dispatch_id
            ).update(**persistence.claimed_values(worker, now))
            if not claimed:
                return None
            run = (
                NodeRun.objects.select_related("execution")
                .only(*CLAIM_NODE_FIELDS, *(f"execution__{name}" for name in HOT_EXECUTION_FIELDS))
                .get(pk=node_run_id)
            )
            execution = run.execution
            fixed = frozen(execution.pk)
            _emit(
                "workflow.started", execution, node_id=run.node_id,
                data={"executionId": execution.pk, "nodeId": run.node_id, "attempt": run.attempts},
            )
    # Only what the node may read (a fan-out's branches read their root, not each other).
    upstream = fixed.upstream(run.node_id)
    outputs = dict(
        NodeRun.objects.filter(
            execution_id=execution.pk, status=NodeStatus.COMPLETED, node_id__in=upstream
        ).values_list("node_id", "output")
    ) if upstream else {}
    return _claimed(run, execution, fixed, outputs)


def _claimed(run: NodeRun, execution: Execution, fixed: Frozen, outputs: dict[str, Any]) -> Claim:
    # Copies: a workflow kind may change what it is given; the cache must not change.
    execution.parameters = copy.deepcopy(fixed.parameters)
    execution.input = copy.deepcopy(fixed.input)
    return Claim(node_run=run, execution=execution, node=copy.deepcopy(fixed.nodes[run.node_id]),
                 outputs=outputs, task_key=fixed.task_key)


def _hinted_upstream(execution_id: int | None, node_id: str) -> list[str] | None:
    """The upstream (sorted node ids) of the node a message names, for the
    claim to read their outputs in its own statement; None when the message
    names none, an execution this process has not cached (the claim then
    reads its ``Frozen`` in its statement instead, see ``node_claim``) or a
    node that does not exist (the claim then reads the outputs of the row it
    actually claimed, in a second query)."""
    if not execution_id or not node_id:
        return None
    fixed = frozen_cached(execution_id)
    if fixed is None or node_id not in fixed.nodes:
        return None
    return sorted(fixed.upstream(node_id))


CLAIM_NODE_FIELDS = ("id", "execution_id", "node_id", "attempts", "status", "dispatch_id", "started_at", "worker")


def _claim_sql(*, with_outputs: bool = False, with_frozen: bool = False) -> str:
    """The claim as one PostgreSQL statement: the conditional update, the
    execution's hot columns and the ``workflow.started`` event row (data
    built by the database), all or nothing. Returns one row, or none when the
    dispatch was not (or no longer) queued.

    ``with_outputs``: the row's sixth column is the outputs (a jsonb object,
    node id -> output) of the completed node runs among ``%(upstream)s``, read
    only when the claimed row is the node ``%(node)s`` of execution
    ``%(execution)s`` (what the message said), else NULL: a message naming
    another node never reads that node's upstream. The subquery sees the
    statement's snapshot, before the update, which touches no completed run.

    ``with_frozen``: the last four columns are what ``frozen`` reads (the
    execution's definition, parameters and input, its task's taskId), so
    that a process claiming an execution's first node needs no query of its own
    for them."""
    q = connection.ops.quote_name
    node, execution, event = (q(m._meta.db_table) for m in (NodeRun, Execution, events.event_model()))
    nc = {name: persistence.column(NodeRun, name) for name in ("id", "execution_id", "node_id", "attempts", "status",
                                                     "dispatch_id", "worker", "heartbeat_at", "started_at",
                                                     "stop_requested", "finished_at", "next_attempt_at")}
    ec = ", ".join(f"x.{persistence.column(Execution, name)}" for name in persistence.in_model_order(Execution, HOT_EXECUTION_FIELDS))
    ev = {name: persistence.column(events.event_model(), name) for name in ("type", "data", "task", "execution", "node_id", "source",
                                                           "created_at", "id")}
    outputs = f"""CASE WHEN c.node_id = %(node)s AND c.execution_id = %(execution)s THEN (
                   SELECT COALESCE(jsonb_object_agg(o.{nc["node_id"]}, o.{persistence.column(NodeRun, "output")}), '{{}}'::jsonb)
                     FROM {node} o
                    WHERE o.{nc["execution_id"]} = c.execution_id AND o.{nc["status"]} = 'completed'
                      AND o.{nc["node_id"]} = ANY(%(upstream)s::text[])
               ) END, """ if with_outputs else ""
    if with_frozen:
        task = Task._meta
        ec += "".join(f", x.{persistence.column(Execution, name)}" for name in ("definition", "parameters", "input"))
        ec += (f", (SELECT t.{persistence.column(Task, 'task_id')} FROM {q(task.db_table)} t"
               f" WHERE t.{persistence.column(Task, 'id')} = x.{persistence.column(Execution, 'task_id')})")
    return f"""
        WITH claimed AS (
            UPDATE {node} SET {nc["status"]} = 'running', {nc["worker"]} = %(worker)s,
                   {nc["heartbeat_at"]} = %(now)s, {nc["started_at"]} = %(now)s, {nc["stop_requested"]} = '',
                   {nc["finished_at"]} = NULL, {nc["next_attempt_at"]} = NULL,
                   {nc["attempts"]} = {nc["attempts"]} + 1
             WHERE {nc["id"]} = %(id)s AND {nc["status"]} = 'queued' AND {nc["dispatch_id"]} = %(dispatch)s
            RETURNING {nc["id"]} AS id, {nc["execution_id"]} AS execution_id, {nc["node_id"]} AS node_id,
                      {nc["attempts"]} AS attempts
        ), recorded AS (
            INSERT INTO {event} ({ev["type"]}, {ev["data"]}, {ev["task"]}, {ev["execution"]}, {ev["node_id"]},
                                 {ev["source"]}, {ev["created_at"]})
            SELECT 'workflow.started',
                   jsonb_build_object('executionId', c.execution_id, 'nodeId', c.node_id, 'attempt', c.attempts),
                   x.{persistence.column(Execution, "task_id")}, c.execution_id, c.node_id, 'system', %(now)s
              FROM claimed c JOIN {execution} x ON x.{persistence.column(Execution, "id")} = c.execution_id
            RETURNING {ev["id"]} AS id
        )
        SELECT c.id, c.execution_id, c.node_id, c.attempts, (SELECT id FROM recorded), {outputs}{ec}
          FROM claimed c JOIN {execution} x ON x.{persistence.column(Execution, "id")} = c.execution_id
    """


# The claim's statement by (with the upstream's outputs, with the Frozen columns), built once per process.
_CLAIM_SQL: dict[tuple[bool, bool], str] = {}


def _claim_in_one_statement(
    *, node_run_id: int, dispatch_id: str, worker: str, now: datetime,
    hint: tuple[int, str, list[str]] | None = None, with_frozen: bool = False,
) -> tuple[NodeRun, Execution, dict[str, Any] | None] | None:
    """Run the claim's statement. ``hint``: (execution id, node id, its
    upstream) from the message, to read the upstream's outputs in the same
    statement. ``with_frozen``: also read the claimed row's execution's
    ``Frozen`` and cache it in this process. Returns the claimed run, its
    execution and the outputs (None when not read: no hint, or one that
    does not match the claimed row), or None when nothing was claimed."""
    try:
        dispatch = uuid.UUID(str(dispatch_id))
    except ValueError:
        return None
    with_outputs = hint is not None
    sql = _CLAIM_SQL.get((with_outputs, with_frozen))
    if sql is None:
        sql = _CLAIM_SQL[with_outputs, with_frozen] = _claim_sql(with_outputs=with_outputs, with_frozen=with_frozen)
    params: dict[str, Any] = {"id": node_run_id, "dispatch": dispatch, "worker": worker[:200], "now": now}
    if hint is not None:
        params.update(execution=hint[0], node=hint[1], upstream=hint[2])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    run_id, execution_id, node_id, attempts, event_id, *hot = row
    outputs: dict[str, Any] | None = None
    if with_outputs:
        raw, *hot = hot
        if raw is not None:
            outputs = _jsonb(raw)
    if with_frozen:
        *hot, definition, parameters, input_, task_key = hot
    execution = Execution.from_db(connection.alias, persistence.in_model_order(Execution, HOT_EXECUTION_FIELDS), hot)
    if with_frozen:
        _frozen_keep(execution_id, _make_frozen(execution.task_id, task_key, _jsonb(definition), _jsonb(parameters),
                                                _jsonb(input_)), time.monotonic())
    known = {"id": run_id, "execution_id": execution_id, "node_id": node_id, "attempts": attempts,
             "status": NodeStatus.RUNNING, "dispatch_id": dispatch, "started_at": now, "worker": worker[:200]}
    names = persistence.in_model_order(NodeRun, CLAIM_NODE_FIELDS)
    run = NodeRun.from_db(connection.alias, names, [known[name] for name in names])
    run.execution = execution
    _announce_started(event_id=event_id, task_id=execution.task_id, execution_id=execution_id, node_id=node_id,
                      attempt=attempts, at=now)
    return run, execution, outputs


def _jsonb(raw: Any) -> Any:
    """A jsonb column's value as read by a raw cursor: Django has psycopg load
    jsonb as text (JSONField decodes it itself)."""
    return json.loads(raw) if isinstance(raw, (str, bytes)) else raw


def _announce_started(*, event_id: int, task_id: int, execution_id: int, node_id: str, attempt: int,
                      at: datetime) -> None:
    """Announce, once the transaction commits, the ``workflow.started`` event
    row a claim's own statement wrote (id ``event_id``), with the data it
    wrote: ``executionId``, ``nodeId``, ``attempt``."""
    events.announce_on_commit([events.event_model()(
        pk=event_id, type="workflow.started", task_id=task_id, execution_id=execution_id, node_id=node_id,
        data={"executionId": execution_id, "nodeId": node_id, "attempt": attempt}, source="system", created_at=at,
    )])


def node_heartbeat(*, node_run_id: int, dispatch_id: str) -> str | None:
    """Record that the node's worker is alive. Returns the stop request (if any)
    or None when the node is no longer this dispatch's to run."""
    updated = NodeRun.objects.filter(
        pk=node_run_id, status=NodeStatus.RUNNING, dispatch_id=dispatch_id
    ).update(heartbeat_at=timezone.now())
    if not updated:
        return None
    return NodeRun.objects.filter(pk=node_run_id).values_list("stop_requested", flat=True).first() or ""


@dataclass
class Outcome:
    status: str  # completed, failed, timed_out, cancelled
    output: Any = None
    error: str = ""
    retryable: bool = True
    input: Any = None
    logs: list[str] | None = None
    cpu_seconds: float | None = None
    peak_rss_bytes: int | None = None


def node_finish(
    *, node_run_id: int, dispatch_id: str, outcome: Outcome, continue_here: bool = False, worker: str = "",
    yields_to: Callable[[int], bool] | None = None,
) -> Claim | None:
    """Record a node's outcome, retry it or settle it, and advance the graph,
    in one transaction. With ``continue_here``, the first node that became
    ready is not sent to the broker but claimed in that same transaction for
    ``worker`` (the caller's name, as given to ``node_claim``) and returned
    as a ``Claim`` for the caller to run right away; otherwise (and when
    nothing became ready) returns None. ``yields_to(priority)`` (the runner
    passes ``dispatch.waiting_before``) says whether work the broker serves
    before a node of that priority waits there: such a node is not continued
    with but left to the broker (asked for each candidate's own priority).

    On PostgreSQL the transaction is three round trips after BEGIN whatever
    it does (see ``orchestration.persistence``): lock and read (one query),
    one write statement, commit."""
    continuation = _Continuation(worker=worker, yields_to=yields_to) if continue_here else None
    token = _continuation.set(continuation)
    try:
        return _node_finish(node_run_id=node_run_id, dispatch_id=dispatch_id, outcome=outcome)
    finally:
        if continuation is not None:
            continuation.open = False
        _continuation.reset(token)


def _node_finish(*, node_run_id: int, dispatch_id: str, outcome: Outcome) -> Claim | None:
    now = timezone.now()
    with transaction.atomic(), events.batch(), persistence.writes():
        # The node's execution, found and locked (OF the execution only), its
        # hot columns only: the definition comes from ``frozen``. Then, once
        # the lock is held, all the execution's node runs in one read (the
        # graph's next step needs their statuses), with the columns settling
        # this one needs: one round trip for both. Under the execution's lock
        # nothing else changes a running node's status or stop request (only
        # its heartbeat), so the rows need no lock of their own.
        execution, runs = persistence.lock_and_read(
            node_run_id, HOT_EXECUTION_FIELDS, fields=HOT_NODE_FIELDS, settle_fields=SETTLE_NODE_FIELDS
        )
        if execution is None:
            return None
        continuation = _continuation.get()
        if continuation is not None:
            continuation.execution_id = execution.pk
        run = next((nr for nr in runs.values() if nr.pk == node_run_id), None)
        if run is None or run.status != NodeStatus.RUNNING or str(run.dispatch_id) != dispatch_id:
            log.info("node run %s: outcome of a stale dispatch ignored", node_run_id)
            return None
        run.attempt_log = [
            *run.attempt_log,
            {
                "attempt": run.attempts,
                "startedAt": run.started_at.isoformat() if run.started_at else None,
                "finishedAt": now.isoformat(),
                "status": outcome.status,
                "error": outcome.error,
                "worker": run.worker,
            },
        ]
        run.input = outcome.input
        run.logs = (outcome.logs or [])[-500:]
        if outcome.cpu_seconds is not None:
            run.cpu_seconds = (run.cpu_seconds or 0) + outcome.cpu_seconds
        if outcome.peak_rss_bytes is not None:
            run.peak_rss_bytes = max(run.peak_rss_bytes or 0, outcome.peak_rss_bytes)
        stop = run.stop_requested
        run.stop_requested = ""
        node = _nodes(execution)[run.node_id]

        max_retries = int((node.get("execution") or {}).get("retryAttempts") or 0)
        decision = transitions.settle_node(
            outcome=transitions.NodeState(outcome.status),
            retryable=outcome.retryable,
            stop=transitions.StopMode(stop),
            execution_stopping=bool(execution.stop_mode),
            retries=run.retries,
            max_retries=max_retries,
            retry_delay_ms=frozen(execution).definition.get("retryDelay"),
            jitter=random.uniform(0.8, 1.2),
        )
        if decision.action == transitions.Action.REQUEUE:
            # Preempted: back to pending, to run again when the execution resumes.
            run.status = NodeStatus.PENDING
            run.dispatch_id = None
            run.reason = "preempted"
            persistence.save(run, [*OUTCOME_FIELDS, "status", "dispatch_id", "reason"])
            _advance_locked(execution, runs)
            return _continued(execution, run, runs)

        if decision.action == transitions.Action.RETRY:
            delay = decision.delay_seconds
            run.retries += 1
            run.error = outcome.error
            _retry_node(execution, run, node, delay)
            persistence.save(run, [*OUTCOME_FIELDS, "retries", "error", *_RETRY_FIELDS])
            _emit(
                "workflow.retrying", execution, node_id=run.node_id,
                data={"executionId": execution.pk, "nodeId": run.node_id, "error": outcome.error,
                      "retry": run.retries, "delaySeconds": round(delay, 3)},
            )
            return None

        status = str(decision.status)
        run.status = status
        run.finished_at = now
        run.output = outcome.output if status == NodeStatus.COMPLETED else None
        run.error = "" if status == NodeStatus.COMPLETED else outcome.error
        if stop and status == NodeStatus.CANCELLED:
            run.reason = execution.status_reason or "stopped"
        persistence.save(run, [*OUTCOME_FIELDS, "status", "finished_at", "output", "error", "reason"])
        data: dict[str, Any] = {"executionId": execution.pk, "nodeId": run.node_id, "attempts": run.attempts}
        if status == NodeStatus.COMPLETED:
            data["output"] = run.output
        else:
            data["error"] = run.error
        kind = {"completed": "completed", "failed": "failed", "timed_out": "timed_out",
                "cancelled": "cancelled"}[status]
        _emit(f"workflow.{kind}", execution, node_id=run.node_id, data=data)
        if status == NodeStatus.TIMED_OUT and execution.deadline_at and execution.deadline_at <= now:
            # The node ran into the execution's own deadline: the execution timed out.
            _stop_locked(execution, "timeout", "execution ran past its timeout")
        elif status in (NodeStatus.FAILED, NodeStatus.TIMED_OUT) and _stops_on_failure(execution, run.node_id):
            _stop_locked(execution, "fail", f"node {run.node_id!r} {status.replace('_', ' ')}")
        _advance_locked(execution, runs)
        return _continued(execution, run, runs)


def _continued(execution: Execution, settled: NodeRun, runs: dict[str, NodeRun]) -> Claim | None:
    """The last step of a node's transition: write everything (one statement,
    with the events) and, when a node was claimed to continue with here
    (``_Continuation``: one the transition readied, else an already queued
    one, claimed by that statement, see ``_queued_claim``), return its ``Claim``, with the outputs it
    may read fetched by that same statement."""
    continuation = _continuation.get()
    queued = None
    if continuation is not None:
        queued = _queued_claim(continuation, execution, runs)
        continuation.open = False  # nothing after this write continues here
    if continuation is None or (queued is None and (continuation.run is None or continuation.node is None)):
        persistence.flush(events_too=True)
        return None
    fixed = frozen(execution)
    if queued is not None:
        request, upstream = queued
        outputs = persistence.flush(events_too=True, outputs_of=(execution.pk, upstream) if upstream else None,
                                    claim_queued=request)
        if request.claimed is None:
            return None
        _took_queued(continuation, execution, runs, request)
    else:
        upstream = fixed.upstream(continuation.run.node_id)  # type: ignore[union-attr]
        outputs = persistence.flush(events_too=True, outputs_of=(execution.pk, upstream) if upstream else None)
    run, node = continuation.run, continuation.node
    assert run is not None and node is not None
    if settled.node_id in upstream and settled.status == NodeStatus.COMPLETED:
        outputs[settled.node_id] = settled.output  # written by that statement, so not read by it
    execution.parameters = copy.deepcopy(fixed.parameters)
    execution.input = copy.deepcopy(fixed.input)
    return Claim(node_run=run, execution=execution, node=copy.deepcopy(node),
                 outputs=copy.deepcopy(outputs), task_key=fixed.task_key)


_RETRY_FIELDS = ("status", "dispatch_id", "queued_at", "next_attempt_at")


def _retry_node(execution: Execution, run: NodeRun, node: dict[str, Any], delay: float) -> None:
    """Queue the node's next attempt ``delay`` seconds from now. The row says
    when it is due (``next_attempt_at``); a short delay is also sent at once
    as a countdown message, and its ``next_attempt_at`` is pushed back by the
    resend bound: if no worker claimed it by then (the worker holding the
    countdown died), the sweep sends it again instead of waiting for the
    broker's visibility timeout. A long delay never sits in the broker."""
    now = timezone.now()
    run.status = NodeStatus.QUEUED
    run.dispatch_id = uuid.uuid4()
    run.queued_at = now
    due = now + timedelta(seconds=delay)
    if delay <= settings.WEBAUTO_MAX_COUNTDOWN_SECONDS:
        run.next_attempt_at = due + timedelta(seconds=settings.WEBAUTO_DISPATCH_RESEND_SECONDS)
        send_on_commit(run.pk, run.dispatch_id, node_priority(execution, node), countdown=delay,
                       execution_id=execution.pk, node_id=run.node_id)
    else:
        run.next_attempt_at = due
    # Stored by the caller, with the outcome (``_RETRY_FIELDS``).


# --- Operator actions -----------------------------------------------------------------


def execution_cancel(*, execution_id: int, reason: str = "") -> Execution:
    """Cancel an execution: nodes not started are cancelled at once, running
    ones are asked to stop (and stopped hard after a grace period)."""
    with transaction.atomic():
        execution = lock_execution(execution_id)
        if execution.status in EXECUTION_FINAL:
            raise ExecutionStateError(f"execution #{execution.pk} already finished ({execution.status})")
        _stop_locked(execution, "cancel", reason or "cancelled by operator")
        _advance_cancelled(execution)
    execution.refresh_from_db()
    return execution


def _advance_cancelled(execution: Execution) -> None:
    """Finish a stopping execution once none of its nodes is active any more."""
    persistence.flush()
    runs = {nr.node_id: nr for nr in NodeRun.objects.select_for_update().filter(execution=execution)}
    _finalize_if_done(execution, runs)


def execution_rerun(*, execution_id: int, triggered_by: str = "") -> Execution:
    """Run a finished execution again from its failed (and not-run) nodes,
    reusing the outputs of the nodes that completed. An operator's action, so
    like a new run it raises ``SecretsMissing`` (nothing saved) when the run's
    definition references secrets no longer in the store; the engine's own
    retries (``retry_of``) never check, they must not raise while finishing."""
    execution = Execution.objects.select_related("task").get(pk=execution_id)
    if execution.status not in EXECUTION_FINAL:
        raise ExecutionStateError(f"execution #{execution.pk} is still {execution.status}; cancel it first")
    missing = missing_secrets(  # a name the task declares as a parameter is no secret
        workflows=execution.definition.get("workflows"),
        parameters={**(execution.task.parameters or {}), **(execution.parameters or {})},
        channels=execution.task.notification_channels,
    )
    if missing:
        raise SecretsMissing(execution.task.task_id, missing)
    return execution_create(
        task=execution.task,
        input=execution.input,
        trigger=Trigger.RERUN,
        triggered_by=triggered_by or f"re-run of #{execution.pk}",
        retry_of=execution.retry_of or execution,
        previous_attempts=execution.previous_attempts,
        reuse_from=execution,
    )


def execution_preempt(*, execution_id: int, reason: str) -> bool:
    """Take a running execution's capacity back: it returns to ``queued``, its
    running nodes are stopped and go back to pending, finished nodes stay
    finished. Returns False if it was not running."""
    with transaction.atomic():
        execution = lock_execution(execution_id)
        if execution.status != ExecutionStatus.RUNNING or execution.stop_mode:
            return False
        execution.status = ExecutionStatus.QUEUED
        execution.status_reason = reason
        execution.save(update_fields=["status", "status_reason"])
        # Queued messages become stale (dispatch id cleared) and are dropped on delivery.
        NodeRun.objects.filter(execution=execution, status=NodeStatus.QUEUED).update(
            status=NodeStatus.PENDING, dispatch_id=None, next_attempt_at=None
        )
        NodeRun.objects.filter(execution=execution, status=NodeStatus.RUNNING).update(stop_requested="preempt")
        _emit("resource.preempted", execution, data=_event_data(execution, reason=reason))
        transaction.on_commit(lambda: admission.get_backend().release(execution.pk), robust=True)
    return True


def execution_time_out(*, execution_id: int) -> bool:
    """Stop a running execution that went past its deadline (timed out once
    its running nodes have stopped). Returns False when it was not running or
    was already stopping (conditional under the execution's lock: two sweeps
    time it out once)."""
    with transaction.atomic():
        execution = lock_execution(execution_id)
        if execution.status != ExecutionStatus.RUNNING or execution.stop_mode:
            return False
        _stop_locked(execution, "timeout", "execution ran past its timeout")
        _advance_cancelled(execution)
    return True


def node_recover(*, node_run_id: int, stale_before: datetime) -> bool:
    """A running node whose heartbeat (its lease) stopped before
    ``stale_before``: its worker died. Dispatch it again under a fresh
    dispatch id (a lost worker does not use up a retry), or settle it if it had
    been asked to stop. Returns whether the node was recovered."""
    with transaction.atomic():
        execution_id = NodeRun.objects.filter(pk=node_run_id).values_list("execution_id", flat=True).first()
        if execution_id is None:  # pruned meanwhile
            return False
        execution = lock_execution(execution_id)
        run = NodeRun.objects.select_for_update().get(pk=node_run_id)
        # Conditional under the locks: a heartbeat that landed meanwhile keeps it.
        if run.status != NodeStatus.RUNNING or (run.heartbeat_at and run.heartbeat_at >= stale_before):
            return False
        lost = f"worker {run.worker or '?'} stopped responding"
        run.attempt_log = [
            *run.attempt_log,
            {"attempt": run.attempts, "startedAt": run.started_at.isoformat() if run.started_at else None,
             "finishedAt": timezone.now().isoformat(), "status": "lost", "error": lost, "worker": run.worker},
        ]
        decision = transitions.recover_lost_node(stop=transitions.StopMode(run.stop_requested))
        run.stop_requested = ""
        if decision.action == transitions.Action.REQUEUE:
            run.status, run.dispatch_id = NodeStatus.PENDING, None
            run.save()
        elif decision.action == transitions.Action.SETTLE:
            run.status = str(decision.status)
            run.finished_at = timezone.now()
            run.reason = lost
            run.save()
        else:
            run.save()
            _emit(
                "workflow.recovered", execution, node_id=run.node_id,
                data={"executionId": execution.pk, "nodeId": run.node_id, "reason": lost},
            )
            _dispatch(execution, run, _nodes(execution)[run.node_id])
            return True
        _advance_locked(execution)
        return True


def node_statuses(execution: Execution) -> dict[str, str]:
    return dict(NodeRun.objects.filter(execution=execution).values_list("node_id", "status"))


__all__ = [
    "ExecutionStateError",
    "Outcome",
    "execution_begin",
    "execution_cancel",
    "execution_create",
    "execution_preempt",
    "execution_rerun",
    "execution_start_if_due",
    "execution_time_out",
    "lock_execution",
    "node_claim",
    "node_finish",
    "node_heartbeat",
    "node_priority",
    "node_recover",
    "node_redispatch",
    "send_on_commit",
    "NODE_FINAL",
]
