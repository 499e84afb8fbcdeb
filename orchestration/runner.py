"""Running one node on a worker: resolve its config, run its node kind,
keep its heartbeat, honour stop requests and timeouts, measure its usage.

Stopping is cooperative first (the workflow sees ``context.cancel_event``),
then hard: after a grace period the worker's main thread gets SIGUSR2, whose
handler raises ``NodeCancelled`` wherever the workflow is (this needs the
prefork pool, where a task runs on the child process's main thread). A node
that still does not end is settled from the watchdog thread and its process
exits, so a hung node can never hold a worker slot for ever.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import jsonschema
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection

from orchestration import dispatch, engine, log_redaction, references, registry, secret_hosts
from orchestration.context import NodeCancelled, NodeError, RunContext
from orchestration.models import NodeStatus
from orchestration.process_tree import ProcessTreeMeter
from orchestration.schemavalues import whole_numbers_to_int

log = logging.getLogger(__name__)

HARD_STOP_SIGNAL = signal.SIGUSR2
T = TypeVar("T")


class _HardStop(NodeCancelled):
    pass


# Set while a node runs on this process's main thread: a hard-stop signal that
# arrives after the node ended must be ignored, not raised into the worker.
_node_active = threading.Event()


def _raise_hard_stop(signum: int, frame: Any) -> None:
    if _node_active.is_set():
        raise _HardStop("the node was stopped")


# Fencing: a node whose lease (its heartbeat) could not be renewed for this
# fraction of WEBAUTO_NODE_STALE_SECONDS stops itself, and its process exits
# at the second fraction if it still has not, so it has stopped before the
# lease expires and recovery dispatches another copy: at most one copy of a
# node runs at any moment.
FENCE_FRACTION = 0.5
FENCE_EXIT_FRACTION = 0.8


class NodeWatch:
    """What the process's watchdog keeps for the node in hand: beats its
    heartbeat (renews its lease) and watches for stop requests and the
    timeout (the node's process tree is metered by ``ProcessTreeMeter``).
    Database errors do not stop it: it
    reconnects and retries at the next beat, and fences the node when the
    lease cannot be renewed in time."""

    def __init__(self, *, node_run_id: int, dispatch_id: str, context: RunContext, timeout: float | None) -> None:
        self.node_run_id = node_run_id
        self.dispatch_id = dispatch_id
        self.context = context
        self.timeout = timeout
        self.finished = threading.Event()
        # Held while sending the hard-stop signal and while the node ends, so a
        # signal meant for this node can never reach the next one.
        self.lock = threading.Lock()
        self.stop_reason = ""  # "cancel", "timeout", "fail", "preempt", "lost", "fenced"
        self.main_thread_ident = threading.main_thread().ident
        self._stop_asked_at: float | None = None
        self._hard_stopped = False
        self.started = time.monotonic()
        self.renewed_at = self.started  # the claim set the first heartbeat

    def wait_seconds(self) -> float:
        interval = settings.WEBAUTO_NODE_HEARTBEAT_SECONDS
        return min(interval, 0.5) if self._stop_asked_at else interval

    def tick(self) -> None:
        """One look at the node: beat, then fence, time out or escalate a stop."""
        grace = settings.WEBAUTO_CANCEL_GRACE_SECONDS
        lease = settings.WEBAUTO_NODE_STALE_SECONDS
        self._beat()
        unrenewed = time.monotonic() - self.renewed_at
        if unrenewed > lease * FENCE_FRACTION:
            self._fence(unrenewed > lease * FENCE_EXIT_FRACTION)
            return
        if self.timeout is not None and time.monotonic() - self.started > self.timeout:
            self._ask_stop("timeout")
        if self._stop_asked_at is not None:
            waited = time.monotonic() - self._stop_asked_at
            if waited > grace and not self._hard_stopped:
                self._hard_stop()
            elif waited > grace * 2 + 5:
                self._abandon()

    def end(self) -> None:
        """The node ended (called on the node's thread)."""
        with self.lock:
            self.finished.set()

    def _beat(self) -> None:
        """Renew the lease once; a database error is logged and the broken
        connection dropped, so the next beat reconnects."""
        try:
            request = engine.node_heartbeat(node_run_id=self.node_run_id, dispatch_id=self.dispatch_id)
        except Exception as exc:  # any database error: killed connection, restart, network
            log.warning("node run %s: heartbeat failed (%s); reconnecting", self.node_run_id, exc)
            connection.close()
            return
        self.renewed_at = time.monotonic()
        if request is None:
            self._ask_stop("lost")
        elif request:
            self._ask_stop(request)

    def _fence(self, past_exit: bool) -> None:
        """The lease is about to expire unrenewed: stop the node now, without
        the usual grace, and end the process if that did not work in time."""
        if self.stop_reason != "fenced":
            log.error("node run %s: lease not renewed; stopping the node before it expires", self.node_run_id)
            self.stop_reason = "fenced"
            self._stop_asked_at = time.monotonic()
            self.context.cancel_event.set()
            self._hard_stop()
        elif past_exit and not self.finished.is_set():
            log.error("node run %s: still running past its fence; ending worker process %s",
                      self.node_run_id, os.getpid())
            os._exit(1)

    def _ask_stop(self, reason: str) -> None:
        if self._stop_asked_at is None:
            self.stop_reason = reason
            self._stop_asked_at = time.monotonic()
            self.context.cancel_event.set()

    def _hard_stop(self) -> None:
        self._hard_stopped = True
        with self.lock:
            if self.finished.is_set():
                return
            if self.main_thread_ident is not None and _handler_installed.is_set() and _node_active.is_set():
                log.warning("node run %s ignored its stop request; stopping it hard", self.node_run_id)
                signal.pthread_kill(self.main_thread_ident, HARD_STOP_SIGNAL)

    def _abandon(self) -> None:
        """The node is stuck in code no signal can interrupt: settle it and end
        this process (the pool starts a fresh one; the message is dropped as stale)."""
        if self.finished.is_set():  # it ended after all, just now
            return
        log.error("node run %s cannot be stopped; ending worker process %s", self.node_run_id, os.getpid())
        status = NodeStatus.TIMED_OUT if self.stop_reason == "timeout" else NodeStatus.CANCELLED
        engine.node_finish(
            node_run_id=self.node_run_id,
            dispatch_id=self.dispatch_id,
            outcome=engine.Outcome(status=status, error="the node did not stop and its process was ended",
                                   retryable=False),
        )
        os._exit(1)


class Watchdog(threading.Thread):
    """One per worker process, started with its first node and kept: it
    watches the node in hand (a prefork process runs one at a time), so no
    thread and no database connection is set up per node."""

    def __init__(self) -> None:
        super().__init__(name="webauto-node-watchdog", daemon=True)
        self._current: NodeWatch | None = None
        self._wake = threading.Event()

    def watch(self, node: NodeWatch) -> None:
        self._current = node
        self._wake.set()

    def run(self) -> None:
        while True:
            node = self._current
            if node is None or node.finished.is_set():
                self._wake.wait()
                self._wake.clear()
                continue
            if not node.finished.wait(node.wait_seconds()):
                try:
                    node.tick()
                except Exception:  # never let the process's watchdog die
                    log.exception("node run %s: watchdog tick failed", node.node_run_id)


_watchdog: Watchdog | None = None
_watchdog_pid = 0


def _process_watchdog() -> Watchdog:
    """This process's watchdog (a fresh one after a fork: threads do not survive it)."""
    global _watchdog, _watchdog_pid
    if _watchdog is None or _watchdog_pid != os.getpid() or not _watchdog.is_alive():
        _watchdog, _watchdog_pid = Watchdog(), os.getpid()
        _watchdog.start()
    return _watchdog


_handler_installed = threading.Event()


def _install_hard_stop_handler() -> None:
    """Install the hard-stop handler once per process (only possible, and only
    useful, when nodes run on the main thread, as in the prefork pool)."""
    if _handler_installed.is_set() or threading.current_thread() is not threading.main_thread():
        return
    signal.signal(HARD_STOP_SIGNAL, _raise_hard_stop)
    _handler_installed.set()


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _node_timeout(claim: engine.Claim) -> float | None:
    limits: list[float] = []
    node_timeout = (claim.node.get("execution") or {}).get("timeout")
    if node_timeout:
        limits.append(float(node_timeout) / 1000)
    if claim.execution.deadline_at is not None:
        from django.utils import timezone

        limits.append(max(0.0, (claim.execution.deadline_at - timezone.now()).total_seconds()))
    return min(limits) if limits else None


@functools.lru_cache(maxsize=256)
def _validator(kind_name: str, schema_json: str) -> jsonschema.Draft202012Validator:
    """One compiled validator per kind and schema (a kind's schema does not
    change while the process runs; the JSON text keys the cache safely)."""
    return jsonschema.Draft202012Validator(json.loads(schema_json))


def _schema_errors(schema: dict[str, Any], config: Any, kind_name: str = "") -> list[str]:
    validator = _validator(kind_name, json.dumps(schema, sort_keys=True))
    out = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path)):
        path = "config" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        out.append(f"{path}: {error.message}")
    return out


# A chain continues in the process that ran its previous node for at most this
# many nodes per message, so higher-priority work waiting in the broker gets
# this process back now and then.
MAX_CONTINUATIONS = 50


def run_node(*, node_run_id: int, dispatch_id: str, execution_id: int | None = None, node_id: str = "") -> None:
    """Run one dispatched node to its outcome (the body of the Celery task),
    then, when its outcome made other nodes ready, run the first of them here
    too, without a broker round trip: ``engine.node_finish`` claims it for
    this process in the transaction that records the outcome (it is still
    claimed, heartbeated and recorded like any other node; the others are sent)."""
    close_old_connections()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    claim = _with_db_retry(
        lambda: engine.node_claim(node_run_id=node_run_id, dispatch_id=dispatch_id, worker=worker,
                                  execution_id=execution_id, node_id=node_id),
        give_up_after=settings.WEBAUTO_NODE_HEARTBEAT_SECONDS * 3,
    )
    if claim is None:
        log.info("node run %s: duplicate or stale delivery dropped", node_run_id)
        return
    for left in range(MAX_CONTINUATIONS, -1, -1):
        next_claim = _run_one(claim, worker=worker, continue_here=left > 0)
        if next_claim is None:
            return
        claim = next_claim


def _run_one(claim: engine.Claim, *, worker: str, continue_here: bool) -> engine.Claim | None:
    node_run_id, dispatch_id = claim.node_run.pk, str(claim.node_run.dispatch_id)
    execution = claim.execution
    context = RunContext(
        task_id=claim.task_key,
        task_pk=execution.task_id,
        execution_id=execution.pk,
        node_id=claim.node_run.node_id,
        attempt=claim.node_run.attempts,
        parameters=dict(execution.parameters),
    )
    used_secrets: set[str] = set()
    outcome = engine.Outcome(status=NodeStatus.FAILED)
    watchdog = NodeWatch(node_run_id=node_run_id, dispatch_id=dispatch_id, context=context,
                         timeout=_node_timeout(claim))
    _install_hard_stop_handler()
    # The whole process tree: a browser node's Chromium and its children too.
    meter = ProcessTreeMeter().start(shared=True)
    _process_watchdog().watch(watchdog)
    try:
        _node_active.set()
        with log_redaction.redacting(used_secrets):
            outcome = _execute(claim, context, used_secrets)
    except NodeCancelled:
        outcome = engine.Outcome(status=NodeStatus.CANCELLED, error="the node was stopped", retryable=False)
    finally:
        _node_active.clear()
        watchdog.end()
    if watchdog.stop_reason == "timeout" and outcome.status != NodeStatus.COMPLETED:
        seconds = watchdog.timeout or 0
        outcome = engine.Outcome(status=NodeStatus.TIMED_OUT, error=f"timed out after {seconds:g}s",
                                 retryable=False, input=outcome.input)
    # What the node added at its peak: the pool process's own baseline (Django,
    # imports) is not the node's usage.
    outcome.cpu_seconds, outcome.peak_rss_bytes = meter.stop()
    outcome.logs = context.logs
    if used_secrets:
        outcome.output = references.redact(outcome.output, used_secrets)
        outcome.error = references.redact(outcome.error, used_secrets)
        outcome.input = references.redact(outcome.input, used_secrets)
        outcome.logs = references.redact(outcome.logs, used_secrets)
    if watchdog.stop_reason == "fenced":
        # Not ours any more: recovery dispatches the node again once the lease expires.
        log.warning("node run %s: stopped by its fence; its outcome is not recorded", node_run_id)
        return None
    # The node to continue with is left to the broker when higher-priority
    # work waits there (asked for that node's priority, in the transition).
    return _with_db_retry(
        lambda: engine.node_finish(node_run_id=node_run_id, dispatch_id=dispatch_id, outcome=outcome,
                                   continue_here=continue_here, worker=worker, yields_to=dispatch.waiting_before),
        give_up_after=settings.WEBAUTO_NODE_STALE_SECONDS,
    )


def _with_db_retry(call: Callable[[], T], *, give_up_after: float) -> T:
    """Run ``call`` (one transaction), reconnecting and retrying while the
    database connection fails, for up to ``give_up_after`` seconds. Safe for
    the engine's calls: each is conditional on the dispatch id, so a retry
    after a commit whose answer was lost changes nothing."""
    deadline = time.monotonic() + give_up_after
    pause = 0.2
    while True:
        try:
            return call()
        except (OperationalError, InterfaceError) as exc:
            connection.close()
            if time.monotonic() + pause > deadline:
                raise
            log.warning("database error (%s); reconnecting and retrying in %.1fs", exc, pause)
            time.sleep(pause)
            pause = min(pause * 2, 2.0)


def _execute(claim: engine.Claim, context: RunContext, used_secrets: set[str]) -> engine.Outcome:
    node = claim.node
    try:
        kind = registry.get(node["workflow"])
    except registry.UnknownNodeKind as exc:
        return engine.Outcome(status=NodeStatus.FAILED, error=str(exc), retryable=False)
    try:
        config = references.resolve(
            node.get("config") or {},
            parameters=claim.execution.parameters,
            outputs=claim.outputs,
            secret_lookup=references.secret_lookup_from_db(),
            used_secrets=used_secrets,
        )
    except references.UnresolvedReference as exc:
        return engine.Outcome(status=NodeStatus.FAILED, error=str(exc), retryable=False)
    source = engine.input_from_node(node)
    node_input = claim.outputs.get(source) if source else claim.execution.input
    errors = _schema_errors(kind.config_schema, config, kind.name)
    if errors:
        return engine.Outcome(status=NodeStatus.FAILED, error="invalid config: " + "; ".join(errors),
                              retryable=False, input=node_input)
    config = whole_numbers_to_int(kind.config_schema, config)  # 2.0 for an integer field is 2
    try:
        # Restricted secrets this node resolved may only go to their allowedHosts.
        with secret_hosts.restrict(secret_hosts.restrictions_for(used_secrets)):
            output = kind.run(config, node_input, context)
        return engine.Outcome(status=NodeStatus.COMPLETED, output=_json_safe(output), input=node_input)
    except NodeCancelled:
        raise
    except NodeError as exc:
        return engine.Outcome(status=NodeStatus.FAILED, error=str(exc), retryable=exc.retryable,
                              input=node_input)
    except Exception as exc:  # a workflow's bug must fail its node, not the worker
        log.exception("node %s of execution %s raised", claim.node_run.node_id, claim.execution.pk)
        return engine.Outcome(status=NodeStatus.FAILED, error=f"{type(exc).__name__}: {exc}",
                              input=node_input)
