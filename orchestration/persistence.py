"""Lean persistence for the engine's node transitions.

A node transition (a node's outcome, its successors' dispatch, its events)
is one transaction. Through the ORM it used to be about seven statements:
the execution's lock, the node runs, one UPDATE per changed row, one for the
dispatched successors, the event INSERT. On PostgreSQL this module makes it
three round trips after psycopg's BEGIN, whatever the transition:

1. ``lock_and_read(node_run_id)``: ``lock_execution_of`` (the execution's
   row lock and its hot columns) and ``read_runs`` (every node run's status
   columns, and the settling columns of the one node being settled only),
   two statements sent as one query;
2. ``flush()``, at the end: every row change the transition recorded with
   ``save()`` (write-behind: merged per row, grouped per column set, one
   ``UPDATE ... FROM (VALUES ...)`` per group) and every event of the
   transaction's ``events.batch()``, as data-modifying CTEs of a single
   statement, which can also return the completed outputs a continued node
   needs (read from the statement's snapshot: the rows written by the same
   statement are not seen, so callers add what they hold in memory);
3. COMMIT.

Elsewhere (SQLite, the embedded default) the same calls fall back to the
ORM, one statement per row.

Rule for callers: inside ``writes()``, every change to a node run or an
execution goes through ``save()``, and any other query that reads or writes
those rows is preceded by ``flush()`` (the engine's rare paths: condition
outputs, stop, finish receivers, task retries).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import F, Field, Model
from django.db.models.base import ModelState

from orchestration import events
from orchestration.models import Execution, NodeRun

# (model, pk) -> (instance, the fields to write), in the order first saved.
_Writes = dict[tuple[type[Model], Any], tuple[Model, set[str]]]
_pending: contextvars.ContextVar[_Writes | None] = contextvars.ContextVar("persistence_writes", default=None)


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    found = model._meta.get_field(name)
    assert isinstance(found, Field), name
    return found


def column(model: type[Model], name: str) -> str:
    """The quoted column of ``model``'s field ``name`` (for raw SQL)."""
    return str(connection.ops.quote_name(str(_field(model, name).column)))


def _postgresql() -> bool:
    return connection.vendor == "postgresql"


@contextlib.contextmanager
def writes() -> Iterator[None]:
    """Record ``save()`` calls inside and write them at ``flush()`` (the
    caller's last step, inside its transaction). Leaving the block writes
    what is left, with the events of the surrounding ``events.batch()``
    (on an exception, nothing: the transaction rolls back anyway). Blocks
    nest: an inner one adds to the outer."""
    if _pending.get() is not None:
        yield
        return
    token = _pending.set({})
    try:
        yield
        flush(events_too=True)
    finally:
        _pending.reset(token)


def save(instance: Model, fields: Iterable[str]) -> None:
    """``instance.save(update_fields=fields)``, deferred to the next ``flush()``
    inside ``writes()`` (several saves of one row merge into one write of the
    union of their fields, with the instance's values at flush time); at
    once outside it."""
    pending = _pending.get()
    if pending is None:
        instance.save(update_fields=list(fields))
        return
    key = (type(instance), instance.pk)
    entry = pending.get(key)
    if entry is None:
        pending[key] = (instance, set(fields))
    else:
        entry[1].update(fields)


def pending_pks(model: type[Model]) -> set[Any]:
    """Primary keys of the ``model`` rows with changes recorded by ``save()``
    and not yet written (empty outside ``writes()``)."""
    pending = _pending.get()
    return {pk for (kind, pk) in pending if kind is model} if pending else set()


@dataclass
class QueuedClaim:
    """Asks ``flush()`` to claim, in its statement, the first of ``candidates``
    (node run ids of one execution, in the order to take them) that is still queued and
    due (``next_attempt_at`` NULL) for ``worker`` as of ``now``, as a
    broker claim does: running, one more attempt, heartbeat and lease from
    ``now``. Conditional: a row claimed meanwhile is passed over, and one
    another transaction holds locked (a claim in flight) is skipped, not
    waited for (``FOR UPDATE SKIP LOCKED``). ``flush()`` fills in
    ``claimed`` (id, node id, dispatch id, attempts) or leaves it None, and
    on PostgreSQL the claimed node's ``workflow.started`` event row
    (``event_id``; its data ``executionId``, ``nodeId``, ``attempt``, as
    ``engine.node_claim`` records it). ``task_id`` is the execution's task,
    for that row. Lock order: the caller holds the execution's row lock."""

    candidates: list[int]
    worker: str
    now: datetime
    task_id: int
    claimed: tuple[int, str, uuid.UUID, int] | None = None
    event_id: int | None = None


def claimed_values(worker: str, now: datetime) -> dict[str, Any]:
    """The node run's columns a claim sets (for ``QuerySet.update``): running
    for ``worker`` (at most 200 characters), started and heartbeated ``now``,
    no stop request, no finish, no pending retry time, one more attempt.
    The ORM path of every claim (``engine.node_claim``, ``QueuedClaim``)."""
    return {"status": "running", "worker": worker[:200], "heartbeat_at": now, "started_at": now,
            "stop_requested": "", "finished_at": None, "next_attempt_at": None, "attempts": F("attempts") + 1}


def _claim_queued_orm(claim: QueuedClaim) -> None:
    for pk in claim.candidates:
        moved = NodeRun.objects.filter(pk=pk, status="queued", next_attempt_at__isnull=True).update(
            **claimed_values(claim.worker, claim.now))
        if moved:
            node_id, dispatch_id, attempts = NodeRun.objects.filter(pk=pk).values_list(
                "node_id", "dispatch_id", "attempts").get()
            assert dispatch_id is not None  # a queued node always has one
            claim.claimed = (pk, node_id, dispatch_id, attempts)
            return


def flush(
    *, events_too: bool = False, outputs_of: tuple[int, Iterable[str]] | None = None,
    claim_queued: QueuedClaim | None = None,
) -> dict[str, Any]:
    """Write the recorded changes now; with ``events_too`` also the events
    collected by the surrounding ``events.batch()`` (announced after the
    commit, in order). With ``outputs_of=(execution_id, node_ids)``, returns
    the outputs of those nodes that were completed before this statement
    (node id -> output); otherwise ``{}``. With ``claim_queued``, also
    claims a queued node (see ``QueuedClaim``; elsewhere than on PostgreSQL,
    in statements of its own and without the event, which the caller
    records). Raises the database's errors."""
    pending = _pending.get()
    rows = list(pending.values()) if pending else []
    if pending:
        pending.clear()
    if not _postgresql():
        # Events stay in the batch, which inserts them when it ends.
        for instance, fields in rows:
            instance.save(update_fields=sorted(fields))
        if claim_queued is not None:
            _claim_queued_orm(claim_queued)
        if outputs_of is None:
            return {}
        execution_id, node_ids = outputs_of
        return dict(
            NodeRun.objects.filter(
                execution_id=execution_id, status="completed", node_id__in=list(node_ids)
            ).values_list("node_id", "output")
        )
    recorded = events.take_pending() if events_too else []
    if not rows and not recorded and outputs_of is None and claim_queued is None:
        return {}
    sql, params = _statement(rows, recorded, outputs_of, claim_queued)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        result = cursor.fetchall()
    outputs: dict[str, Any] = {}
    event_ids: list[int] = []
    output_field = _field(NodeRun, "output")
    for kind, key, value in result:
        if kind == 0:
            event_ids.append(int(key))
        elif kind == 1:
            outputs[key] = output_field.from_db_value(value, None, connection)  # type: ignore[attr-defined]
        elif claim_queued is not None:  # kind 2: the queued node claimed
            found = json.loads(value) if isinstance(value, (str, bytes)) else value
            claim_queued.claimed = (int(key), found["node"], uuid.UUID(found["dispatch"]), int(found["attempts"]))
            claim_queued.event_id = int(found["event"])
    if recorded:
        for event, pk in zip(recorded, sorted(event_ids), strict=True):
            event.pk = pk
        events.announce_on_commit(recorded)
    return outputs


def _cast(field: Any) -> str:
    db_type = str(field.db_type(connection))
    return "text" if db_type.startswith("varchar") else db_type


@functools.cache
def _update_parts(model: type[Model], names: tuple[str, ...]) -> tuple[str, str, str, tuple[Any, ...]]:
    """The text of an ``UPDATE ... FROM (VALUES ...)`` of ``names`` by primary
    key (before the rows, one row, after them) and the fields, in order."""
    meta = model._meta
    columns = tuple(_field(model, name) for name in names)
    q = connection.ops.quote_name
    aliases = ", ".join(["pk_", *(f"c{i}" for i in range(len(columns)))])
    sets = ", ".join(f"{column(model, name)} = v.c{i}::{_cast(c)}" for i, (name, c) in enumerate(zip(names, columns, strict=True)))
    head = f"UPDATE {q(meta.db_table)} t SET {sets} FROM (VALUES "
    tail = f") AS v({aliases}) WHERE t.{column(model, meta.pk.name)} = v.pk_::{_cast(meta.pk)} RETURNING 1"
    return head, "(" + ", ".join(["%s"] * (len(columns) + 1)) + ")", tail, columns


@functools.cache
def _insert_parts(model: type[Model]) -> tuple[str, str, str, tuple[Any, ...]]:
    """The text of a multi-row INSERT of ``model`` returning ids (before the
    rows, one row, after them) and the inserted fields, in order."""
    inserted = tuple(f for f in model._meta.concrete_fields if not f.primary_key)
    q = connection.ops.quote_name
    head = f"INSERT INTO {q(model._meta.db_table)} ({', '.join(column(model, f.name) for f in inserted)}) VALUES "
    tail = f" RETURNING {column(model, 'id')} AS id"
    return head, "(" + ", ".join(["%s"] * len(inserted)) + ")", tail, inserted


@functools.cache
def _claim_queued_ctes() -> tuple[str, str, str]:
    """The CTEs of a ``QueuedClaim`` (the conditional update, its event row)
    and the SELECT returning what was claimed (kind 2)."""
    q = connection.ops.quote_name
    table = q(NodeRun._meta.db_table)
    c = {name: column(NodeRun, name) for name in (
        "id", "execution", "node_id", "status", "worker", "heartbeat_at", "started_at", "stop_requested",
        "finished_at", "next_attempt_at", "attempts", "dispatch_id")}
    update = f"""cq AS (
        UPDATE {table} SET {c["status"]} = 'running', {c["worker"]} = %s, {c["heartbeat_at"]} = %s,
               {c["started_at"]} = %s, {c["stop_requested"]} = '', {c["finished_at"]} = NULL,
               {c["attempts"]} = {c["attempts"]} + 1
         WHERE {c["id"]} = (
               SELECT {c["id"]} FROM {table}
                WHERE {c["id"]} = ANY(%s) AND {c["status"]} = 'queued' AND {c["next_attempt_at"]} IS NULL
                ORDER BY array_position(%s::bigint[], {c["id"]}) LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING {c["id"]} AS id, {c["execution"]} AS execution_id, {c["node_id"]} AS node_id,
                  {c["dispatch_id"]} AS dispatch_id, {c["attempts"]} AS attempts)"""
    event = events.event_model()
    e = {name: column(event, name) for name in ("type", "data", "task", "execution", "node_id", "source",
                                                 "created_at", "id")}
    started = f"""cqe AS (
        INSERT INTO {q(event._meta.db_table)} ({e["type"]}, {e["data"]}, {e["task"]}, {e["execution"]},
                                               {e["node_id"]}, {e["source"]}, {e["created_at"]})
        SELECT 'workflow.started',
               jsonb_build_object('executionId', cq.execution_id, 'nodeId', cq.node_id, 'attempt', cq.attempts),
               %s, cq.execution_id, cq.node_id, 'system', %s
          FROM cq
        RETURNING {e["id"]} AS id)"""
    select = ("SELECT 2, cq.id::text, jsonb_build_object('node', cq.node_id, 'dispatch', cq.dispatch_id, "
              "'attempts', cq.attempts, 'event', (SELECT id FROM cqe)) FROM cq")
    return update, started, select


def _statement(
    rows: list[tuple[Model, set[str]]], recorded: list[Any], outputs_of: tuple[int, Iterable[str]] | None,
    claim_queued: QueuedClaim | None = None,
) -> tuple[str, list[Any]]:
    q = connection.ops.quote_name
    groups: dict[tuple[type[Model], tuple[str, ...]], list[Model]] = {}
    for instance, fields in rows:
        groups.setdefault((type(instance), tuple(sorted(fields))), []).append(instance)
    ctes: list[str] = []
    params: list[Any] = []
    for n, ((model, names), instances) in enumerate(groups.items()):
        head, row, tail, columns = _update_parts(model, names)
        ctes.append(f"u{n} AS ({head}{', '.join([row] * len(instances))}{tail})")
        for instance in instances:
            params.append(instance.pk)
            params.extend(c.get_db_prep_save(c.pre_save(instance, False), connection) for c in columns)
    selects: list[str] = []
    if recorded:
        head, row, tail, inserted = _insert_parts(events.event_model())
        ctes.append(f"ev AS ({head}{', '.join([row] * len(recorded))}{tail})")
        for event in recorded:
            params.extend(f.get_db_prep_save(f.pre_save(event, True), connection) for f in inserted)
        selects.append("SELECT 0 AS kind, id::text AS key, NULL::jsonb AS value FROM ev")
    if claim_queued is not None:  # its CTEs (and their parameters) before the SELECTs
        update, started, _ = _claim_queued_ctes()
        ctes.extend([update, started])
        now = claim_queued.now
        params.extend([claim_queued.worker, now, now, claim_queued.candidates, claim_queued.candidates,
                       claim_queued.task_id, now])
    if outputs_of is not None:
        execution_id, node_ids = outputs_of
        c = {name: column(NodeRun, name) for name in ("execution", "status", "node_id", "output")}
        selects.append(
            f"SELECT 1, {c['node_id']}, {c['output']} FROM {q(NodeRun._meta.db_table)} WHERE {c['execution']} = %s"
            f" AND {c['status']} = 'completed' AND {c['node_id']} = ANY(%s)"
        )
        params.extend([execution_id, list(node_ids)])
    if claim_queued is not None:
        selects.append(_claim_queued_ctes()[2])
    if not selects:
        selects.append("SELECT 0, NULL::text, NULL::jsonb WHERE false")
    head = ("WITH " + ", ".join(ctes) + " ") if ctes else ""
    return head + " UNION ALL ".join(selects), params


def create_with_children(parent: Model, children: Sequence[Model], *, fk: str, key: str) -> None:
    """``parent.save()`` then ``bulk_create(children)``, the children pointing
    at the parent by their foreign key ``fk`` (a field name): on PostgreSQL
    one statement (the parent's INSERT a CTE of the children's), elsewhere
    the ORM's two. ``key`` names a field unique among the children, by
    which the ids the statement returns are matched to them. Sets every
    primary key and the children's ``fk``. For models without save signals
    (none is sent), like ``bulk_create``."""
    field = _field(type(children[0]), fk) if children else None
    if not _postgresql() or field is None:
        parent.save(force_insert=True)
        for child in children:
            setattr(child, fk, parent)
        if children:
            type(children[0])._default_manager.bulk_create(list(children))
        return
    parent_model, child_model = type(parent), type(children[0])
    head, row, tail, inserted = _insert_parts(parent_model)
    params: list[Any] = [f.get_db_prep_save(f.pre_save(parent, True), connection) for f in inserted]
    q = connection.ops.quote_name
    columns = tuple(f for f in child_model._meta.concrete_fields if not f.primary_key and f.name != fk)
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    for child in children:
        params.extend(f.get_db_prep_save(f.pre_save(child, True), connection) for f in columns)
    aliases = ", ".join(f"c{i}" for i in range(len(columns)))
    typed = ", ".join(f"v.c{i}::{_cast(f)}" for i, f in enumerate(columns))
    sql = (
        f"WITH p AS ({head}{row}{tail}), "
        f"c AS (INSERT INTO {q(child_model._meta.db_table)} "
        f"({', '.join(column(child_model, f.name) for f in columns)}, {column(child_model, fk)}) "
        f"SELECT {typed}, p.id FROM p CROSS JOIN (VALUES {', '.join([one] * len(children))}) AS v({aliases}) "
        f"RETURNING {column(child_model, 'id')} AS id, {column(child_model, key)}::text AS key) "
        "SELECT id, NULL::text FROM p UNION ALL SELECT id, key FROM c"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        result = cursor.fetchall()
    ids = {found: pk for pk, found in result if found is not None}
    parent.pk = next(pk for pk, found in result if found is None)
    parent._state.adding, parent._state.db = False, connection.alias
    for child in children:
        setattr(child, fk, parent)
        child.pk = ids[str(getattr(child, key))]
        child._state.adding, child._state.db = False, connection.alias


# --- Reads -----------------------------------------------------------------------------------


@functools.cache
def _converters(model: type[Model], names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(getattr(_field(model, name), "from_db_value", None) for name in names)


def _from_db(model: type[Model], names: tuple[str, ...], values: Iterable[Any]) -> Any:
    """An instance from raw column values (in ``names`` order), converted as
    the ORM's compiler would, the fields not in ``names`` deferred: what
    ``Model.from_db`` returns, built without ``Model.__init__`` (a fan-out's
    finish reads every node run of the execution, and ``__init__`` was a
    third of that read's time). The models read here have no ``post_init``
    receivers."""
    instance = model.__new__(model)
    instance.__dict__.update(zip(names, [
        value if convert is None or value is None else convert(value, None, connection)
        for convert, value in zip(_converters(model, names), values, strict=True)
    ], strict=True))
    state = ModelState()
    state.adding = False
    state.db = connection.alias
    instance._state = state
    return instance


@functools.cache
def in_model_order(model: type[Model], names: tuple[str, ...]) -> tuple[str, ...]:
    """``names`` (attnames) in the order of the model's concrete fields, the
    order ``Model.from_db`` expects values in."""
    wanted = set(names)
    return tuple(f.attname for f in model._meta.concrete_fields if f.attname in wanted)


@functools.cache
def _lock_sql(names: tuple[str, ...]) -> str:
    q = connection.ops.quote_name
    columns = ", ".join(column(Execution, name) for name in names)
    return (
        f"SELECT {columns} FROM {q(Execution._meta.db_table)} WHERE {column(Execution, 'id')} = "
        f"(SELECT {column(NodeRun, 'execution')} FROM {q(NodeRun._meta.db_table)} WHERE {column(NodeRun, 'id')} = %s)"
        " FOR NO KEY UPDATE"
    )


@functools.cache
def _read_sql(names: tuple[str, ...], extra: tuple[str, ...]) -> str:
    q = connection.ops.quote_name
    pk = column(NodeRun, "id")
    columns = [column(NodeRun, name) for name in names]
    columns += [f"CASE WHEN {pk} = %s THEN {column(NodeRun, name)} END" for name in extra]
    return f"SELECT {', '.join(columns)} FROM {q(NodeRun._meta.db_table)} WHERE {column(NodeRun, 'execution')} = %s"


def lock_execution_of(node_run_id: int, fields: Iterable[str]) -> Execution | None:
    """Lock the execution of node run ``node_run_id`` (FOR NO KEY UPDATE OF
    the execution row only) and return it with ``fields`` loaded (attnames),
    or None when the node run is gone."""
    names = in_model_order(Execution, tuple(fields))
    if not _postgresql():
        return (
            Execution.objects.select_for_update(no_key=True, of=("self",))
            .only(*names)
            .filter(node_runs__pk=node_run_id)
            .first()
        )
    with connection.cursor() as cursor:
        cursor.execute(_lock_sql(names), [node_run_id])
        row = cursor.fetchone()
    return None if row is None else _from_db(Execution, names, row)


@functools.cache
def _read_of_node_run_sql(names: tuple[str, ...], extra: tuple[str, ...]) -> str:
    """``_read_sql`` with the execution given by one of its node runs' id."""
    q = connection.ops.quote_name
    head, _ = _read_sql(names, extra).rsplit("%s", 1)
    return (f"{head}(SELECT {column(NodeRun, 'execution')} FROM {q(NodeRun._meta.db_table)}"
            f" WHERE {column(NodeRun, 'id')} = %s)")


def _client_side_binding(cursor: Any) -> bool:
    """Whether ``cursor`` (Django's wrapper) sends a query with its parameters
    bound on the client (psycopg's ``ClientCursor``, Django's default):
    through the simple query protocol, which runs several statements sent
    as one query."""
    kind = type(getattr(cursor, "cursor", None))
    known = _binds_on_client.get(kind)
    if known is None:
        from psycopg.client_cursor import ClientCursorMixin

        known = _binds_on_client[kind] = issubclass(kind, ClientCursorMixin)
    return known


_binds_on_client: dict[type[Any], bool] = {}  # psycopg cursor class -> whether it binds on the client


def lock_and_read(
    node_run_id: int, execution_fields: Iterable[str], *, fields: Iterable[str], settle_fields: Iterable[str] = ()
) -> tuple[Execution | None, dict[str, NodeRun]]:
    """``lock_execution_of(node_run_id, execution_fields)``, then ``read_runs``
    of that execution (settling ``node_run_id``): (None, {}) when the node run
    is gone. On PostgreSQL one round trip: the two statements sent as one
    query. That is safe because PostgreSQL takes a snapshot per statement, not
    per query (READ COMMITTED): the read starts once the lock is granted, so
    it sees everything the lock's previous holder committed, as a read sent
    after the lock's answer does (a single statement would not: its snapshot
    predates the wait for the lock)."""
    names = in_model_order(NodeRun, tuple(fields))
    extra = tuple(name for name in in_model_order(NodeRun, tuple(settle_fields)) if name not in names)
    execution_names = in_model_order(Execution, tuple(execution_fields))
    if not _postgresql():
        execution = lock_execution_of(node_run_id, execution_names)
        if execution is None:
            return None, {}
        return execution, read_runs(execution.pk, fields=names, settle_id=node_run_id, settle_fields=extra)
    with connection.cursor() as cursor:
        if not _client_side_binding(cursor):  # server-side binding: one statement per query
            execution = lock_execution_of(node_run_id, execution_names)
            if execution is None:
                return None, {}
            return execution, read_runs(execution.pk, fields=names, settle_id=node_run_id, settle_fields=extra)
        cursor.execute(f"{_lock_sql(execution_names)}; {_read_of_node_run_sql(names, extra)}",
                       [node_run_id, *([node_run_id] * len(extra)), node_run_id])
        row = cursor.fetchone()
        cursor.nextset()
        result = cursor.fetchall()
    if row is None:
        return None, {}
    return _from_db(Execution, execution_names, row), _runs_from_rows(result, names, extra, node_run_id)


def _runs_from_rows(
    result: list[tuple[Any, ...]], names: tuple[str, ...], extra: tuple[str, ...], settle_id: int | None
) -> dict[str, NodeRun]:
    all_names = in_model_order(NodeRun, (*names, *extra))
    order = tuple([*names, *extra].index(name) for name in all_names)
    id_at = names.index("id")
    found = {}
    for row in result:
        if row[id_at] == settle_id:
            run = _from_db(NodeRun, all_names, [row[i] for i in order])
        else:
            run = _from_db(NodeRun, names, row[: len(names)])
        found[run.node_id] = run
    return found


def read_runs(
    execution_id: int, *, fields: Iterable[str], settle_id: int | None = None, settle_fields: Iterable[str] = ()
) -> dict[str, NodeRun]:
    """The execution's node runs by node id, with ``fields`` loaded (attnames),
    and for the run ``settle_id`` also ``settle_fields``. One statement; the
    caller holds the execution's lock."""
    names = in_model_order(NodeRun, tuple(fields))
    extra = tuple(name for name in in_model_order(NodeRun, tuple(settle_fields)) if name not in names)
    if not _postgresql():
        found = {nr.node_id: nr for nr in NodeRun.objects.filter(execution_id=execution_id).only(*names)}
        if settle_id is not None and extra:
            settle = NodeRun.objects.only(*names, *extra).filter(pk=settle_id).first()
            if settle is not None:
                found[settle.node_id] = settle
        return found
    with connection.cursor() as cursor:
        cursor.execute(_read_sql(names, extra), [settle_id] * len(extra) + [execution_id])
        result = cursor.fetchall()
    return _runs_from_rows(result, names, extra, settle_id)
