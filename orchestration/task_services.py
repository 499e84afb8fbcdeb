"""Writes for task definitions: create, update, delete.

Each runs in one transaction: the definition is validated first, the row is
written, ``task_definition_saved`` receivers (schedules, channels, ...) run
inside the same transaction, and the event is recorded. A receiver raising
DefinitionInvalid rolls everything back, so nothing is ever half-saved.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from orchestration import events
from orchestration.credentials import MaskedCredentialMoved, unmask_definition
from orchestration.definition_export import definition_to_fields, task_to_definition
from orchestration.definitions import checked, normalise_definition, validate_task_definition
from orchestration.errors import DefinitionInvalid
from orchestration.models import EXECUTION_ACTIVE, Task
from orchestration.signals import task_definition_saved, task_deleting


class TaskInUse(Exception):
    """The task has executions that have not finished."""


def _taken(task_id: str) -> DefinitionInvalid:
    return DefinitionInvalid(
        [{"path": "taskId", "message": f'a task with taskId "{task_id}" already exists'}]
    )


def task_create(*, definition: dict[str, Any], user: Any = None) -> Task:
    """Validate ``definition`` and create the task (raises DefinitionInvalid).

    References to secrets that do not exist yet do not stop the save: they are
    left on ``task.definition_warnings`` (``[{"path", "message"}]``) for the
    caller to show."""
    definition = normalise_definition(definition)
    warnings: list[dict[str, str]] = []
    errors = validate_task_definition(definition, warnings=warnings)
    if errors:
        raise DefinitionInvalid(errors)
    if Task.objects.filter(task_id=definition["taskId"]).exists():
        raise _taken(definition["taskId"])
    try:
        with transaction.atomic():
            task = Task.objects.create(
                **definition_to_fields(checked(definition)),
                created_by=user if getattr(user, "is_authenticated", False) else None,
            )
            task_definition_saved.send(sender=Task, task=task, created=True, definition=definition)
            events.emit("task.created", task=task, data={"taskId": task.task_id, "name": task.name})
            task.definition_warnings = warnings
    except IntegrityError:
        # Another request created the same taskId between the check and the insert.
        if Task.objects.filter(task_id=definition["taskId"]).exists():
            raise _taken(definition["taskId"]) from None
        raise
    return task


def task_update(*, task: Task, definition: dict[str, Any], partial: bool = False) -> Task:
    """Replace the task's definition (``partial``: only the top-level keys given).

    The taskId cannot change; it may be left out. Warnings as for
    :func:`task_create`."""
    with transaction.atomic():
        # Row lock: two concurrent partial updates must not both merge into the
        # same old definition and lose one another's change.
        locked = Task.objects.select_for_update().get(pk=task.pk)
        stored = task_to_definition(locked)
        if partial:
            merged = {**stored, **definition}
        else:
            merged = {"taskId": locked.task_id, **definition}
        # Channel credentials are shown masked; sent back masked, they keep their stored value.
        try:
            merged = normalise_definition(unmask_definition(merged, stored))
        except MaskedCredentialMoved as exc:
            raise DefinitionInvalid([{"path": exc.path, "message": exc.message}]) from None
        if merged.get("taskId") != locked.task_id:
            raise DefinitionInvalid(
                [
                    {
                        "path": "taskId",
                        "message": f'taskId cannot be changed (it is "{locked.task_id}")',
                    }
                ]
            )
        warnings: list[dict[str, str]] = []
        errors = validate_task_definition(merged, warnings=warnings)
        if errors:
            raise DefinitionInvalid(errors)
        for field, value in definition_to_fields(checked(merged)).items():
            setattr(locked, field, value)
        locked.save()
        task_definition_saved.send(sender=Task, task=locked, created=False, definition=merged)
        events.emit(
            "task.updated", task=locked, data={"taskId": locked.task_id, "name": locked.name}
        )
    locked.definition_warnings = warnings
    return locked


def task_delete(*, task: Task) -> None:
    """Delete the task and its history. Refused while an execution is active."""
    with transaction.atomic():
        # Row lock: serialises the delete with a concurrent update of the same task.
        locked = Task.objects.select_for_update().get(pk=task.pk)
        active = locked.executions.filter(status__in=EXECUTION_ACTIVE).count()
        if active:
            raise TaskInUse(
                f'task "{locked.task_id}" has {active} unfinished execution(s); cancel them first'
            )
        task_deleting.send(sender=Task, task=locked)
        events.emit("task.deleted", data={"taskId": locked.task_id, "name": locked.name})
        locked.delete()
