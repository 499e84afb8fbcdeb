"""The published contract of task and template definitions: two JSON Schema
(2020-12) documents kept in ``orchestration/schemas/`` and served at
``/api/v1/schemas/task-definition.json`` and
``/api/v1/schemas/template-definition.json``.

The schemas describe structure (fields, types, enums, required keys) so an
editor can complete and check a definition written by hand. What a schema
cannot express stays in code: the graph (cycles, unknown dependencies), ``${...}``
references, expressions, units, cron expressions and each kind's own config
schema (``orchestration.definitions``).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
SCHEMA_NAMES = ("task-definition", "template-definition")


class UnknownSchema(LookupError):
    """No published schema has that name."""


@cache
def schema(name: str) -> dict[str, Any]:
    """The schema document called ``name`` (``task-definition`` or
    ``template-definition``) as a dict; raises :class:`UnknownSchema`."""
    if name not in SCHEMA_NAMES:
        raise UnknownSchema(f"no schema named {name!r}; known: {', '.join(SCHEMA_NAMES)}")
    loaded: dict[str, Any] = json.loads((SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


@cache
def _registry() -> Registry:
    resources = [(f"{name}.json", Resource.from_contents(schema(name))) for name in SCHEMA_NAMES]
    return Registry().with_resources(resources)


@cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    """A compiled validator for the schema ``name`` (cached: compile once per process)."""
    return jsonschema.Draft202012Validator(schema(name), registry=_registry())


def _path(json_path: str) -> str:
    """``$.workflows[0].id`` -> ``workflows[0].id`` (the API's error paths)."""
    if json_path.startswith("$."):
        return json_path[2:]
    return json_path[1:] if json_path.startswith("$") else json_path


def schema_problems(doc: Any, name: str) -> list[dict[str, str]]:
    """Every structural problem of ``doc`` against the schema ``name``, as
    ``[{"path", "message"}]`` sorted by path (paths from
    ``jsonschema.ValidationError.json_path``); empty when ``doc`` conforms."""
    errors = sorted(validator(name).iter_errors(doc), key=lambda e: e.json_path)
    return [{"path": _path(e.json_path), "message": e.message} for e in errors]
