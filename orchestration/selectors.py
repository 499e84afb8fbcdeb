"""Reads of the core models for the REST API (and anyone else who needs them)."""

from __future__ import annotations

import json

from django.db import connection
from django.db.models import Q, QuerySet

from orchestration.models import Execution, Secret, Task


def task_list(
    *, category: str = "", tag: str = "", enabled: bool | None = None, search: str = ""
) -> QuerySet[Task]:
    """Tasks matching every filter given, by taskId."""
    tasks = Task.objects.all()
    if category:
        tasks = tasks.filter(category=category)
    if tag:
        tasks = tasks_with_tag(tasks, tag)
    if enabled is not None:
        tasks = tasks.filter(enabled=enabled)
    if search:
        tasks = tasks_matching(tasks, search)
    return tasks.order_by("task_id")


def tasks_matching(tasks: QuerySet[Task], text: str) -> QuerySet[Task]:
    """Tasks whose taskId, name or description contains ``text`` (any case)."""
    return tasks.filter(
        Q(task_id__icontains=text) | Q(name__icontains=text) | Q(description__icontains=text)
    )


def tasks_with_tag(tasks: QuerySet[Task], tag: str) -> QuerySet[Task]:
    if connection.features.supports_json_field_contains:
        return tasks.filter(tags__contains=[tag])
    # SQLite keeps JSON as text written with json.dumps (ASCII escapes), so the
    # quoted, escaped tag finds exactly that list element.
    return tasks.filter(tags__icontains=json.dumps(tag))


def execution_list(*, task_id: str = "", statuses: list[str] | None = None) -> QuerySet[Execution]:
    """Executions, newest first, optionally of one task and in some statuses."""
    executions = Execution.objects.select_related("task", "retry_of")
    if task_id:
        executions = executions.filter(task__task_id=task_id)
    if statuses:
        executions = executions.filter(status__in=statuses)
    return executions.order_by("-created_at", "-id")


def secret_values() -> list[str]:
    """Every stored secret value: what API output is scrubbed of."""
    return [value for value in Secret.objects.values_list("value", flat=True) if value]
