"""Conversion between a task definition document (the seed's camelCase) and
the Task model. An export, imported again, gives the same task back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from orchestration.shapes import TaskDefinition

if TYPE_CHECKING:
    from orchestration.models import Task

# The resource block's keys in the order exports write them.
RESOURCE_KEYS = ("cpu", "memory", "disk", "network")
# Top-level keys in the order the seed writes them; exports follow it.
DEFINITION_KEYS = (
    "taskId",
    "name",
    "description",
    "template",
    "templateVersion",
    "version",
    "category",
    "tags",
    "priority",
    "timeout",
    "maxRetries",
    "retryDelay",
    "enabled",
    "schedule",
    "parameters",
    "workflows",
    "notificationChannels",
    "resourceRequirements",
    "errorHandling",
)


# Keys of the schedule block that carry a secret value (a webhook's signing
# secret). The scheduling app keeps them from the ``definition`` of the saved
# signal; the task row never stores them, so no export or page can show them.
WRITE_ONLY_SCHEDULE_KEYS = ("webhookSecret",)


def _without_write_only(schedule: Any) -> Any:
    if not isinstance(schedule, Mapping):
        return schedule
    return {key: value for key, value in schedule.items() if key not in WRITE_ONLY_SCHEDULE_KEYS}


def definition_to_fields(doc: TaskDefinition) -> dict[str, Any]:
    """Task model field values for a checked definition (see
    ``orchestration.definitions.checked``); unknown top-level keys go to ``extra``."""
    return {
        "task_id": doc["taskId"],
        "name": doc["name"],
        "description": doc.get("description") or "",
        "template_id": doc.get("template") or "",
        "template_version": doc.get("templateVersion") or "",
        "version": doc.get("version") or "",
        "category": doc.get("category") or "",
        "tags": list(doc.get("tags") or []),
        "priority": doc.get("priority") or "normal",
        "timeout_ms": doc.get("timeout"),
        "max_retries": doc.get("maxRetries") or 0,
        "retry_delay_ms": doc.get("retryDelay") or 0,
        "enabled": doc.get("enabled", True),
        "schedule": _without_write_only(doc.get("schedule")),
        "parameters": dict(doc.get("parameters") or {}),
        "workflows": list(doc["workflows"]),
        "notification_channels": list(doc.get("notificationChannels") or []),
        "resource_requirements": doc.get("resourceRequirements"),
        "error_handling": doc.get("errorHandling"),
        "extra": {key: value for key, value in doc.items() if key not in DEFINITION_KEYS},
    }


# Key orders of the seed's nested objects. PostgreSQL's jsonb does not keep the
# order of keys, so exports put known keys back in the seed's order (keys of
# free-form objects such as parameters and config come back in jsonb's order).
NODE_KEYS = (
    "id",
    "name",
    "description",
    "workflow",
    "dependsOn",
    "condition",
    "inputFrom",
    "config",
    "execution",
    "stopOnFailure",
)
SCHEDULE_KEYS = (
    "type",
    "expression",
    "interval",
    "unit",
    "event",
    "filter",
    "trigger",
    "timezone",
    "startDate",
    "endDate",
    "maxRuns",
    "concurrent",
    "enabled",
)
CONDITION_KEYS = ("type", "expression", "threshold")
EXECUTION_KEYS = ("timeout", "priority", "retryAttempts", "retryDelay")
CHANNEL_KEYS = ("type", "config")
CHANNEL_CONFIG_KEYS = ("recipients", "subject", "url", "method", "headers")
ERROR_HANDLING_KEYS = (
    "strategy",
    "maxRetries",
    "retryDelay",
    "notificationOnFailure",
    "escalationPolicy",
)
LEVEL_KEYS = ("threshold", "action")


def _ordered(value: Any, keys: tuple[str, ...]) -> Any:
    """``value`` with ``keys`` first, in that order, then its other keys."""
    if not isinstance(value, Mapping):
        return value
    out = {key: value[key] for key in keys if key in value}
    out.update((key, child) for key, child in value.items() if key not in out)
    return out


def _ordered_node(node: Any) -> Any:
    node = _ordered(node, NODE_KEYS)
    if isinstance(node, dict):
        if "condition" in node:
            node["condition"] = _ordered(node["condition"], CONDITION_KEYS)
        if "execution" in node:
            node["execution"] = _ordered(node["execution"], EXECUTION_KEYS)
    return node


def _ordered_channel(channel: Any) -> Any:
    channel = _ordered(channel, CHANNEL_KEYS)
    if isinstance(channel, dict) and "config" in channel:
        channel["config"] = _ordered(channel["config"], CHANNEL_CONFIG_KEYS)
    return channel


def _ordered_error_handling(handling: Any) -> Any:
    handling = _ordered(handling, ERROR_HANDLING_KEYS)
    policy = handling.get("escalationPolicy") if isinstance(handling, dict) else None
    if isinstance(policy, Mapping):
        handling["escalationPolicy"] = {
            name: _ordered(level, LEVEL_KEYS) for name, level in policy.items()
        }
    elif isinstance(policy, list):
        handling["escalationPolicy"] = [_ordered(level, LEVEL_KEYS) for level in policy]
    return handling


def task_to_definition(task: Task) -> dict[str, Any]:
    """The task as a definition document in the seed's camelCase and key order.

    Importing the result gives the same task back. Optional parts that are
    empty (no template, no schedule, ...) are left out; ``enabled`` is written
    only when the task is disabled."""
    doc: dict[str, Any] = {
        "taskId": task.task_id,
        "name": task.name,
        "description": task.description,
    }
    if task.template_id:
        doc["template"] = task.template_id
    if task.template_version:
        doc["templateVersion"] = task.template_version
    if task.version:
        doc["version"] = task.version
    doc["category"] = task.category
    doc["tags"] = list(task.tags)
    doc["priority"] = task.priority
    if task.timeout_ms is not None:
        doc["timeout"] = task.timeout_ms
    doc["maxRetries"] = task.max_retries
    doc["retryDelay"] = task.retry_delay_ms
    if not task.enabled:
        doc["enabled"] = False
    if task.schedule is not None:
        doc["schedule"] = _ordered(task.schedule, SCHEDULE_KEYS)
    doc["parameters"] = task.parameters
    doc["workflows"] = [_ordered_node(node) for node in task.workflows]
    doc["notificationChannels"] = [_ordered_channel(c) for c in task.notification_channels]
    if task.resource_requirements is not None:
        doc["resourceRequirements"] = _ordered(task.resource_requirements, RESOURCE_KEYS)
    if task.error_handling is not None:
        doc["errorHandling"] = _ordered_error_handling(task.error_handling)
    doc.update(task.extra or {})
    return doc
