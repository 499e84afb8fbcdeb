"""Fixtures for definition and API tests: the seed document, stand-in kinds
registered under the seed's workflow names, and the secret it references."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestration import registry
from orchestration.registry import NodeKind

# A byte-for-byte copy of the spec's examples/task-definition.json, kept in the
# repository so that the suite runs in a clean clone.
SEED_PATH = Path(__file__).resolve().parent / "seed" / "task-definition.json"

SEED_KIND_SCHEMAS: dict[str, dict[str, Any]] = {
    "weibo-content-monitoring-workflow": {
        "type": "object",
        "properties": {
            "targetUrl": {"type": "string"},
            "changeThreshold": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": ["targetUrl"],
    },
    "weibo-batch-download-workflow": {
        "type": "object",
        "properties": {
            "maxPosts": {"type": "integer", "minimum": 1},
            "mediaQuality": {"type": "string", "enum": ["original", "large", "thumbnail"]},
            "includeComments": {"type": "boolean"},
        },
    },
    "content-analysis-workflow": {"type": "object"},
    "notification-workflow": {"type": "object"},
}


def _stand_in(config: dict[str, Any], input: Any, context: Any) -> dict[str, Any]:
    return {"config": config}


@pytest.fixture
def seed_kinds() -> Iterator[None]:
    """Register stand-in kinds under the seed's workflow names (restoring what was there)."""
    saved = {name: registry._kinds.get(name) for name in SEED_KIND_SCHEMAS}
    saved_aliases = {name: registry._aliases.get(name) for name in SEED_KIND_SCHEMAS}
    for name, schema in SEED_KIND_SCHEMAS.items():
        registry._aliases.pop(name, None)
        registry.register(NodeKind(name=name, run=_stand_in, config_schema=schema))
    yield
    for name, kind in saved.items():
        if kind is None:
            registry._kinds.pop(name, None)
        else:
            registry._kinds[name] = kind
        if saved_aliases[name] is not None:
            registry._aliases[name] = saved_aliases[name]


@pytest.fixture
def seed_text() -> str:
    return SEED_PATH.read_text(encoding="utf-8")


@pytest.fixture
def seed(seed_text: str) -> dict[str, Any]:
    return json.loads(seed_text)


@pytest.fixture
def webhook_secret(db):
    from orchestration.models import Secret

    return Secret.objects.create(
        name="webhookToken", value="s3cr3t-token-value", description="webhook"
    )


@pytest.fixture
def seed_ready(seed_kinds, webhook_secret) -> None:
    """Everything the seed needs to validate: its kinds and its secret."""


@pytest.fixture
def make_definition():
    """A small valid definition built from echo nodes, with overrides."""

    def make(**overrides: Any) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "taskId": "small-task",
            "name": "Small task",
            "parameters": {"greeting": "hello", "limit": 3},
            "workflows": [
                {"id": "first", "workflow": "echo", "config": {"output": {"text": "${greeting}"}}},
                {
                    "id": "second",
                    "workflow": "echo",
                    "dependsOn": ["first"],
                    "inputFrom": "first.output",
                },
            ],
        }
        doc.update(copy.deepcopy(overrides))
        return doc

    return make
