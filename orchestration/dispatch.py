"""Publishing the engine's node messages (``orchestration.run_node``).

A transaction that dispatches many nodes (a fan-out of 50 dispatches 49 or
50 at once) publishes their messages together once it commits: on Redis in
one pipeline, one round trip for all of them, instead of one ``send_task``
round trip (and its kombu overhead) each. The messages are Celery's own: each
is built and routed by ``app.send_task`` inside kombu's ``Producer.batch()``,
which buffers the Redis channel's final commands (the ``LPUSH`` to the queue's
priority list, e.g. ``celery:3``) and executes them at the end, so bodies,
headers, priorities and acknowledgements are exactly those of a single send.
A transport that cannot batch (the file-system broker of the quick start)
publishes them one by one, as kombu does by itself there.

Failure semantics are those of a single send: a broker that cannot be reached
never fails the caller (the committed state is what counts); the nodes whose
messages were not sent get ``queued_at = NULL`` and the maintenance sweep
sends them once the broker is back. A failed pipeline is uncertain (Redis may
have executed part of it): it is tried once more, which at worst delivers a
message twice, and a second delivery is dropped by the claim (it moves a node
from queued to running once per dispatch id); if that fails too, every node
of the batch is marked unsent, and any copy that did get through either runs
the node before the sweep (the sweep then finds it claimed) or is dropped as
stale after it (the sweep sends under a fresh dispatch id).
"""

from __future__ import annotations

import logging
import mmap
import os
import struct
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from celery import current_app
from django.db import connection, transaction
from django.db.models import Q

from orchestration.models import NodeRun, NodeStatus

log = logging.getLogger(__name__)

RUN_NODE = "orchestration.run_node"
# Messages per pipeline at most (kombu flushes a batch when it reaches this many commands).
MAX_BATCH = 500


@dataclass(frozen=True)
class NodeMessage:
    """One ``orchestration.run_node`` message: the node run (id, dispatch id as
    text), its broker priority (0 served first on Redis) and, when known, its
    execution and node ids (the claim uses them to read the node's upstream
    outputs in its own statement)."""

    node_run_id: int
    dispatch_id: str
    priority: int
    execution_id: int | None = None
    node_id: str = ""

    @property
    def args(self) -> list[Any]:
        return [self.node_run_id, self.dispatch_id]

    @property
    def kwargs(self) -> dict[str, Any]:
        if self.execution_id is None:
            return {}  # what a message sent before the hints existed looks like
        return {"execution_id": self.execution_id, "node_id": self.node_id}


@dataclass
class PublishStats:
    """What this process published, for tests and profiles: ``pipelines``
    (batches sent in one broker round trip), ``batched`` (messages in them),
    ``single`` (messages sent one ``send_task`` each) and ``unsent`` (messages
    whose nodes were marked for the sweep)."""

    pipelines: int = 0
    batched: int = 0
    single: int = 0
    unsent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)


stats = PublishStats()


def publish_on_commit(message: NodeMessage) -> None:
    """Publish ``message`` once the surrounding transaction commits (at once
    outside a transaction), together with every other message of that
    transaction (see ``publish``). Never raises for the broker.

    Messages of the transaction itself (not inside a savepoint that may roll
    back on its own) go into the transaction's one batch, published by one
    ``on_commit`` callback and dropped with it on a rollback. A message
    registered inside a savepoint keeps a callback of its own, so that rolling
    that savepoint back drops it (Django's ``on_commit`` semantics)."""
    if not connection.in_atomic_block:
        publish([message])
        return
    if any(sid is not None for sid in connection.savepoint_ids):
        transaction.on_commit(lambda: publish([message]), robust=True)
        return
    batch = _local.__dict__.get("batch")
    # The batch belongs to this transaction while its callback is registered
    # (a rolled back transaction's callbacks, and so its batch, are gone).
    if batch is None or not any(entry[1] == batch.flush for entry in connection.run_on_commit):
        batch = _Batch()
        _local.batch = batch
        transaction.on_commit(batch.flush, robust=True)
    batch.messages.append(message)


_local = threading.local()


class _Batch:
    def __init__(self) -> None:
        self.messages: list[NodeMessage] = []

    def flush(self) -> None:
        if _local.__dict__.get("batch") is self:
            del _local.batch
        publish(self.messages)


def publish(messages: Iterable[NodeMessage], *, countdown: float | None = None) -> None:
    """Publish ``messages`` now: several in one broker round trip where the
    transport can (Redis), else one ``send_task`` each; with ``countdown``
    (seconds), one by one. Never raises for the broker: nodes whose messages
    could not be sent are marked for the sweep (``queued_at = NULL``)."""
    todo = list(messages)
    if not todo:
        return
    if len(todo) == 1 or countdown:
        for message in todo:
            _send_one(message, countdown=countdown)
        return
    for start in range(0, len(todo), MAX_BATCH):
        _send_many(todo[start:start + MAX_BATCH])


def _send_one(message: NodeMessage, *, countdown: float | None = None) -> None:
    try:
        current_app.send_task(RUN_NODE, args=message.args, kwargs=message.kwargs, priority=message.priority,
                              countdown=countdown or None)
    except Exception as exc:  # kombu raises several types for an unreachable broker
        log.warning("node run %s: message not sent (%s); the sweep will send it", message.node_run_id, exc)
        _mark_unsent([message])
        return
    stats.add(single=1)


def _send_many(messages: list[NodeMessage]) -> None:
    app = current_app
    for attempt in (1, 2):
        try:
            with app.producer_or_acquire() as producer:
                if not producer.supports_batch_publish:
                    break
                with producer.batch():
                    for message in messages:
                        app.send_task(RUN_NODE, args=message.args, kwargs=message.kwargs,
                                      priority=message.priority, producer=producer)
            stats.add(pipelines=1, batched=len(messages))
            return
        except Exception as exc:  # an unreachable broker, a connection dropped mid-pipeline
            if attempt == 2:
                log.warning("%d node messages not sent (%s); the sweep will send them", len(messages), exc)
                _mark_unsent(messages)
                return
            log.info("publishing %d node messages failed (%s); trying once more", len(messages), exc)
    for message in messages:  # a transport that cannot batch
        _send_one(message)


def waiting_before(priority: int) -> bool:
    """Whether messages wait in the broker's default queue at a priority it
    serves before ``priority`` (0 is served first on Redis): a worker that
    could run its execution's next node without the broker leaves it to the
    broker then, so a higher-priority run is not kept waiting behind the
    continuation (``runner.run_node``). On Redis one pipeline of ``LLEN``
    over kombu's priority lists (``celery``, ``celery:3``, ...); False for
    a transport that has no such lists (the file-system broker) and for a
    broker that cannot be reached (the continuation is only an optimisation;
    the broker's order is what it keeps).

    A clear answer holds for ``WAITING_RECHECK_SECONDS`` per priority: a
    chain of no-op nodes finishes one every few milliseconds, and asking
    the broker after each was 4 % of a pool process's time (py-spy, the
    benchmark's chain of 20); a node that runs longer than that asks after
    itself anyway. The pool processes of a prefork worker share the answer
    (``_SharedClearTimes``): one asks, the others trust what it heard for
    the rest of the interval (four processes asking each was still 4.7 % of
    the pool's time in bench_concurrency's profile)."""
    if priority <= 0:
        return False
    now = time.monotonic()
    if 0 <= now - _clear_at.get(priority, -1e9) < WAITING_RECHECK_SECONDS:
        return False
    waiting = _waiting_before(priority)
    if not waiting:
        _clear_at[priority] = now
    return waiting


# Seconds a "nothing waits before this priority" answer is trusted.
WAITING_RECHECK_SECONDS = 0.025


class _SharedClearTimes:
    """Priority -> ``time.monotonic()`` of the last "nothing waits before it"
    answer, in an anonymous shared memory mapping made when this module is
    imported: the processes forked afterwards (a prefork worker's pool, whose
    main process imports the engine before it forks) read and write the same
    slots, so one broker check serves them all. ``time.monotonic()`` is the
    machine's CLOCK_MONOTONIC, the same clock in every process. A slot is one
    aligned 8-byte double; a value from the future (which a torn write could
    leave) is never trusted (``waiting_before`` checks ``0 <= now - t``)."""

    SLOTS = 10  # Redis priorities 0-9

    def __init__(self) -> None:
        self._map = mmap.mmap(-1, 8 * self.SLOTS)  # anonymous, MAP_SHARED: inherited by forked children
        self.clear()

    def get(self, priority: int, default: float) -> float:
        if not 0 <= priority < self.SLOTS:
            return default
        return float(struct.unpack_from("d", self._map, 8 * priority)[0])

    def __setitem__(self, priority: int, at: float) -> None:
        if 0 <= priority < self.SLOTS:
            struct.pack_into("d", self._map, 8 * priority, at)

    def clear(self) -> None:
        for priority in range(self.SLOTS):
            self[priority] = -1e9


_clear_at = _SharedClearTimes()


# The broker check's bound: connecting, and each reply, in seconds. LLEN
# answers in well under a millisecond; a broker that does not answer in this
# time is treated as having nothing waiting (the node finishes at once).
WAITING_TIMEOUT_SECONDS = 0.1
# After a failed check, the broker is not asked again for this long, so that a
# broker that is down costs a chain at most one timeout per interval.
WAITING_RETRY_AFTER_SECONDS = 2.0

_probe_lock = threading.Lock()
# (pid, broker URL) -> (Redis client, the names of the default queue's priority
# lists, kombu's), or None for a transport without such lists
_probe: dict[tuple[int, str], tuple[Any, Any] | None] = {}
_probe_failed_at = -1e9


class _KombuNames:
    """kombu's own naming of a Redis queue's priority lists (``celery``,
    ``celery:3``, ...), with this application's transport options."""

    def __init__(self, options: dict[str, Any]) -> None:
        from kombu.transport import redis as kombu_redis

        self.sep = options.get("sep", kombu_redis.Channel.sep)
        self.priority_steps = options.get("priority_steps", kombu_redis.Channel.priority_steps)
        self.prefix = options.get("global_keyprefix") or ""
        self._channel: Any = kombu_redis.Channel  # its methods, called on this object

    def priority(self, n: int) -> int:
        return int(self._channel.priority(self, n))

    def list_for(self, queue: str, priority: int) -> str:
        return self.prefix + str(self._channel._q_for_pri(self, queue, priority))


def _probe_client() -> tuple[Any, _KombuNames] | None:
    """The check's own Redis client in this process (a forked child makes
    its own) and kombu's list names; None for a broker without priority
    lists (the file-system broker). Its own, not the application's broker
    pool: that one connects with kombu's retries (6 s with the broker down,
    redis-py's retries 2 s more) and reads without a timeout (forever from a
    broker that stopped answering); this one gives up after
    ``WAITING_TIMEOUT_SECONDS``, at once, without retrying."""
    app = current_app
    url = str(app.conf.broker_url)
    key = (os.getpid(), url)
    if key not in _probe:
        _probe.clear()  # another URL's, or the parent process's
        scheme = url.split("://", 1)[0]
        if scheme not in ("redis", "rediss") or ";" in url:
            _probe[key] = None
        else:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            ssl = app.conf.broker_use_ssl if scheme == "rediss" and isinstance(app.conf.broker_use_ssl, dict) else {}
            client = redis.Redis.from_url(
                url, socket_timeout=WAITING_TIMEOUT_SECONDS, socket_connect_timeout=WAITING_TIMEOUT_SECONDS,
                retry=Retry(NoBackoff(), 0), **ssl)
            _probe[key] = (client, _KombuNames(dict(app.conf.broker_transport_options or {})))
    return _probe[key]


def _waiting_before(priority: int) -> bool:
    global _probe_failed_at
    if time.monotonic() - _probe_failed_at < WAITING_RETRY_AFTER_SECONDS:
        return False
    if not _probe_lock.acquire(blocking=False):
        return False  # another thread of this process is asking right now
    try:
        probe = _probe_client()
        if probe is None:
            return False
        client, names = probe
        queue = current_app.conf.task_default_queue
        lists = {names.list_for(queue, step) for step in names.priority_steps if step < priority}
        lists.discard(names.list_for(queue, priority))
        if not lists:
            return False
        with client.pipeline(transaction=False) as pipe:
            for name in sorted(lists):
                pipe.llen(name)
            return any(pipe.execute())
    except Exception as exc:  # redis raises several types for an unreachable broker
        log.debug("broker queue lengths not read (%s)", exc)
        _probe_failed_at = time.monotonic()
        return False
    finally:
        _probe_lock.release()


def _mark_unsent(messages: list[NodeMessage]) -> None:
    """Clear ``queued_at`` of the nodes still queued under these messages'
    dispatch ids: the sweep sends them as soon as the broker is back."""
    stats.add(unsent=len(messages))
    match = Q()
    for message in messages:
        match |= Q(pk=message.node_run_id, dispatch_id=message.dispatch_id)
    try:
        NodeRun.objects.filter(match, status=NodeStatus.QUEUED).update(queued_at=None)
    except Exception:  # the caller's state is committed; the resend bound still finds these nodes
        log.exception("could not mark %d unsent node messages for the sweep", len(messages))
