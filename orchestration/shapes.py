"""Typed shapes of the definition JSON that crosses modules, for mypy.

The JSON itself is checked at run time by the published schema
(``orchestration.contract``); these TypedDicts say what a checked document
holds, so code that reads a checked definition is type-checked against the
same field names. Keys follow the seed's camelCase; ``None`` stands for a
key left out wherever the schema allows ``null``.
"""

from __future__ import annotations

from typing import Any, Required, TypedDict


class Condition(TypedDict, total=False):
    """A node's run condition: ``expression`` (with ``expression``) or
    ``content-change`` (with ``threshold``, 0 to 1)."""

    type: Required[str]
    expression: str
    threshold: float


class Execution(TypedDict, total=False):
    """A node's execution options; times in milliseconds."""

    timeout: int | None
    retryAttempts: int | None
    retryDelay: int | None
    priority: str


class Node(TypedDict, total=False):
    """A workflow node of the DAG (an entry of ``workflows``)."""

    id: Required[str]
    workflow: Required[str]
    name: str | None
    description: str | None
    config: dict[str, Any] | None
    dependsOn: list[str] | None
    inputFrom: str | None
    condition: Condition | None
    execution: Execution | None
    stopOnFailure: bool


class TaskDefinition(TypedDict, total=False):
    """A task definition as the seed writes it (blocks are their apps' shapes)."""

    taskId: Required[str]
    name: Required[str]
    workflows: Required[list[Node]]
    description: str | None
    template: str | None
    templateVersion: str | None
    version: str | None
    category: str | None
    tags: list[str]
    priority: str
    timeout: int | None
    maxRetries: int | None
    retryDelay: int | None
    enabled: bool
    parameters: dict[str, Any] | None
    schedule: dict[str, Any] | None
    notificationChannels: list[dict[str, Any]] | None
    resourceRequirements: dict[str, Any] | None
    errorHandling: dict[str, Any] | None
