"""Running one node on a worker: resolve its config, run its workflow kind,
keep its heartbeat, honour stop requests and timeouts, measure its usage.

Stopping is cooperative first (the workflow sees ``context.cancel_event``),
then hard: after a grace period the worker's main thread gets SIGUSR2, whose
handler raises ``NodeCancelled`` wherever the workflow is (this needs the
prefork pool, where a task runs on the child process's main thread). A node
that still does not end is settled from the watchdog thread and its process
exits, so a hung node can never hold a worker slot for ever.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from typing import Any

import jsonschema
from django.conf import settings
from django.db import close_old_connections, connection

from orchestration import engine, log_redaction, references, registry, secret_hosts
from orchestration.context import NodeCancelled, RunContext, WorkflowError
from orchestration.models import NodeStatus
from orchestration.process_tree import ProcessTreeMeter
from orchestration.schemavalues import whole_numbers_to_int

log = logging.getLogger(__name__)

HARD_STOP_SIGNAL = signal.SIGUSR2


class _HardStop(NodeCancelled):
    pass


# Set while a node runs on this process's main thread: a hard-stop signal that
# arrives after the node ended must be ignored, not raised into the worker.
_node_active = threading.Event()


def _raise_hard_stop(signum: int, frame: Any) -> None:
    if _node_active.is_set():
        raise _HardStop("the node was stopped")


class Watchdog(threading.Thread):
    """Beats the node's heartbeat and watches for stop requests and the timeout
    while the node runs."""

    def __init__(self, *, node_run_id: int, dispatch_id: str, context: RunContext, timeout: float | None) -> None:
        super().__init__(name=f"watchdog-{node_run_id}", daemon=True)
        self.node_run_id = node_run_id
        self.dispatch_id = dispatch_id
        self.context = context
        self.timeout = timeout
        self.finished = threading.Event()
        self.stop_reason = ""  # "cancel", "timeout", "fail", "preempt", "lost"
        self.main_thread_ident = threading.main_thread().ident
        self._stop_asked_at: float | None = None
        self._hard_stopped = False

    def run(self) -> None:
        started = time.monotonic()
        interval = settings.WEBAUTO_NODE_HEARTBEAT_SECONDS
        grace = settings.WEBAUTO_CANCEL_GRACE_SECONDS
        try:
            while not self.finished.wait(min(interval, 0.5) if self._stop_asked_at else interval):
                request = engine.node_heartbeat(node_run_id=self.node_run_id, dispatch_id=self.dispatch_id)
                if request is None:
                    self._ask_stop("lost")
                elif request:
                    self._ask_stop(request)
                if self.timeout is not None and time.monotonic() - started > self.timeout:
                    self._ask_stop("timeout")
                if self._stop_asked_at is not None:
                    waited = time.monotonic() - self._stop_asked_at
                    if waited > grace and not self._hard_stopped:
                        self._hard_stop()
                    elif waited > grace * 2 + 5:
                        self._abandon()
        finally:
            connection.close()

    def _ask_stop(self, reason: str) -> None:
        if self._stop_asked_at is None:
            self.stop_reason = reason
            self._stop_asked_at = time.monotonic()
            self.context.cancel_event.set()

    def _hard_stop(self) -> None:
        self._hard_stopped = True
        if self.main_thread_ident is not None and _handler_installed.is_set() and _node_active.is_set():
            log.warning("node run %s ignored its stop request; stopping it hard", self.node_run_id)
            signal.pthread_kill(self.main_thread_ident, HARD_STOP_SIGNAL)

    def _abandon(self) -> None:
        """The node is stuck in code no signal can interrupt: settle it and end
        this process (the pool starts a fresh one; the message is dropped as stale)."""
        log.error("node run %s cannot be stopped; ending worker process %s", self.node_run_id, os.getpid())
        status = NodeStatus.TIMED_OUT if self.stop_reason == "timeout" else NodeStatus.CANCELLED
        engine.node_finish(
            node_run_id=self.node_run_id,
            dispatch_id=self.dispatch_id,
            outcome=engine.Outcome(status=status, error="the node did not stop and its process was ended",
                                   retryable=False),
        )
        os._exit(1)


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


def _schema_errors(schema: dict[str, Any], config: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    out = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path)):
        path = "config" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        out.append(f"{path}: {error.message}")
    return out


def run_node(*, node_run_id: int, dispatch_id: str) -> None:
    """Run one dispatched node to its outcome (the body of the Celery task)."""
    close_old_connections()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    claim = engine.node_claim(node_run_id=node_run_id, dispatch_id=dispatch_id, worker=worker)
    if claim is None:
        log.info("node run %s: duplicate or stale delivery dropped", node_run_id)
        return
    execution = claim.execution
    context = RunContext(
        task_id=execution.task.task_id,
        task_pk=execution.task_id,
        execution_id=execution.pk,
        node_id=claim.node_run.node_id,
        attempt=claim.node_run.attempts,
        parameters=dict(execution.parameters),
    )
    used_secrets: set[str] = set()
    outcome = engine.Outcome(status=NodeStatus.FAILED)
    watchdog = Watchdog(node_run_id=node_run_id, dispatch_id=dispatch_id, context=context,
                        timeout=_node_timeout(claim))
    _install_hard_stop_handler()
    # The whole process tree: a browser node's Chromium and its children too.
    meter = ProcessTreeMeter().start()
    watchdog.start()
    try:
        _node_active.set()
        with log_redaction.redacting(used_secrets):
            outcome = _execute(claim, context, used_secrets)
    except NodeCancelled:
        outcome = engine.Outcome(status=NodeStatus.CANCELLED, error="the node was stopped", retryable=False)
    finally:
        _node_active.clear()
        watchdog.finished.set()
        watchdog.join(5)
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
    engine.node_finish(node_run_id=node_run_id, dispatch_id=dispatch_id, outcome=outcome)


def _execute(claim: engine.Claim, context: RunContext, used_secrets: set[str]) -> engine.Outcome:
    node = claim.node
    try:
        kind = registry.get(node["workflow"])
    except registry.UnknownWorkflowKind as exc:
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
    source = engine._input_from_node(node)
    node_input = claim.outputs.get(source) if source else claim.execution.input
    errors = _schema_errors(kind.config_schema, config)
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
    except WorkflowError as exc:
        return engine.Outcome(status=NodeStatus.FAILED, error=str(exc), retryable=exc.retryable,
                              input=node_input)
    except Exception as exc:  # a workflow's bug must fail its node, not the worker
        log.exception("node %s of execution %s raised", claim.node_run.node_id, claim.execution.pk)
        return engine.Outcome(status=NodeStatus.FAILED, error=f"{type(exc).__name__}: {exc}",
                              input=node_input)
