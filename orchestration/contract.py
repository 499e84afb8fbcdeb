"""The published contract of task and template definitions: two JSON Schema
(2020-12) documents, served at ``/api/v1/schemas/task-definition.json`` and
``/api/v1/schemas/template-definition.json``, and the structural check of
definitions on the server.

``orchestration/schemas/`` holds the core documents. The blocks that feature
apps own (``schedule``, ``notificationChannels``, ``resourceRequirements``)
are not in the core file: each app registers its block's schema with
``orchestration.blocks`` and :func:`schema` composes the task-definition
document from the core file and the registered blocks (as
``$defs/<block>``, referenced from ``properties/<block>``; its top-level
``type`` also allows ``null``, as for every optional key).

Messages: a ``ValidationError`` becomes ``{"path", "message"}`` with the path
from ``ValidationError.json_path`` (``$.workflows[0].id`` -> ``workflows[0].id``;
a missing required key is reported at the key's own path) and a human
message. A subschema may carry ``errorMessage`` (a keyword of this project,
ignored by other validators): a template for every failure of that
subschema, or an object of templates by failing keyword (``"type"``,
``"pattern"``, ...; ``"required"`` is used when the key is missing, null or
empty; ``"*"`` for the others). Templates may use ``{name}`` (the field's
name) and ``{got}`` (the value, as Python ``repr``). Without a template,
``type``, ``enum`` and ``required`` get generic messages ("priority must be
one of low, normal, high, critical (got 'urgent')").

What a schema cannot express stays in code: the graph (cycles, unknown
dependencies), ``${...}`` references, expressions, units, cron expressions
and each kind's own config schema (``orchestration.definitions``), and the
blocks' own parsers (``orchestration.blocks``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Collection, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

from orchestration import blocks

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
SCHEMA_NAMES = ("task-definition", "template-definition")
_TYPE_WORDS = {
    "string": "a string",
    "boolean": "true or false",
    "integer": "an integer",
    "number": "a number",
    "array": "a list",
    "object": "an object",
}


class UnknownSchema(LookupError):
    """No published schema has that name."""


@cache
def core_schema(name: str) -> dict[str, Any]:
    """The core document ``name`` as kept in ``orchestration/schemas/`` (without
    blocks). Cached: do not change the returned dict."""
    if name not in SCHEMA_NAMES:
        raise UnknownSchema(f"no schema named {name!r}; known: {', '.join(SCHEMA_NAMES)}")
    loaded: dict[str, Any] = json.loads((SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


@cache
def schema(name: str) -> dict[str, Any]:
    """The published schema ``name`` (``task-definition`` or
    ``template-definition``) as a dict: the core document, and for the task
    definition every registered block. Raises :class:`UnknownSchema`. Cached:
    call it after the apps are ready (blocks register in ``ready()``)."""
    doc = copy.deepcopy(core_schema(name))
    if name == "task-definition":
        for block in blocks.registered():
            piece = copy.deepcopy(block.schema)
            piece.pop("$schema", None)
            piece["type"] = _nullable(piece.get("type"))
            doc.setdefault("$defs", {})[block.name] = piece
            doc["properties"][block.name] = {"$ref": f"#/$defs/{block.name}"}
    return doc


def _nullable(kind: Any) -> Any:
    """A block's top-level ``type`` with ``"null"`` added: a null block is the
    same as leaving it out (the server skips it), so the schema accepts it too."""
    if isinstance(kind, str):
        return [kind, "null"]
    if isinstance(kind, list) and "null" not in kind:
        return [*kind, "null"]
    return kind


@cache
def _registry() -> Registry:
    resources = [(f"{name}.json", Resource.from_contents(schema(name))) for name in SCHEMA_NAMES]
    return Registry().with_resources(resources)


@cache
def validator(name: str, definition: str | None = None) -> jsonschema.Draft202012Validator:
    """A compiled validator for the schema ``name``, or for its
    ``$defs/<definition>`` (cached: compile once per process)."""
    target = schema(name) if definition is None else {"$ref": f"{name}.json#/$defs/{definition}"}
    return jsonschema.Draft202012Validator(target, registry=_registry())


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _path(json_path: str, prefix: str) -> str:
    """``$.workflows[0].id`` -> ``workflows[0].id`` (the API's error paths), under ``prefix``."""
    rest = json_path[1:]
    if not prefix:
        return rest.removeprefix(".")
    return prefix + rest


def _template(schema_: Any, keyword: str) -> str | None:
    if not isinstance(schema_, dict):
        return None
    custom = schema_.get("errorMessage")
    if isinstance(custom, str):
        return custom
    if isinstance(custom, dict):
        found = custom.get(keyword, custom.get("*"))
        return found if isinstance(found, str) else None
    return None


def _fill(template: str, name: str, got: Any) -> str:
    return template.replace("{name}", name).replace("{got}", repr(got))


def _generic(error: jsonschema.ValidationError, name: str) -> str:
    if error.validator == "type":
        types = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        words = [_TYPE_WORDS.get(str(t), str(t)) for t in types if t != "null"]
        return f"{name} must be {' or '.join(words)}"
    if error.validator == "enum":
        return f"{name} must be one of {', '.join(str(v) for v in error.validator_value)} (got {error.instance!r})"
    return f"{name}: {error.message}" if name else error.message


def _problems(error: jsonschema.ValidationError, prefix: str) -> Iterator[dict[str, str]]:
    path = _path(error.json_path, prefix)
    steps = [step for step in error.absolute_path if isinstance(step, str)]
    name = steps[-1] if steps else (prefix.rsplit(".", 1)[-1] if prefix else "")
    if error.validator == "required":
        properties = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        for key in error.validator_value:
            # one error per missing key; its message starts with the key's repr
            if isinstance(error.instance, dict) and key not in error.instance and error.message.startswith(repr(key)):
                message = _template(properties.get(key), "required") or f"{key} is required"
                yield {"path": _join(path, key), "message": _fill(message, key, None)}
        return
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        # one problem per unknown key, at the key's own path
        known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        unknown = _template(error.schema, "additionalProperties") or "unknown field '{name}'"
        for key in error.instance:
            if key not in known:
                yield {"path": _join(path, key), "message": _fill(unknown, key, error.instance[key])}
        return
    if "propertyNames" in error.relative_schema_path:
        # the instance is the offending name: report it at its own path
        path = _join(path, str(error.instance))
    missing = error.instance is None or error.instance == ""
    template = (_template(error.schema, "required") if missing else None) or _template(error.schema, str(error.validator))
    text = _fill(template, name, error.instance) if template else _generic(error, name)
    yield {"path": path, "message": text}


def schema_problems(
    doc: Any,
    name: str,
    *,
    definition: str | None = None,
    prefix: str = "",
    skip: Collection[str] = (),
) -> list[dict[str, str]]:
    """Every structural problem of ``doc`` against the schema ``name`` (or its
    ``$defs/<definition>``), as ``[{"path", "message"}]`` in the schema's
    order, paths under ``prefix`` (see the module docstring for messages).
    Errors inside the top-level keys in ``skip`` are left out: their owners
    (the block parsers) report them. Empty when ``doc`` conforms."""
    return problems_from(validator(name, definition), doc, prefix=prefix, skip=skip)


def problems_from(
    checker: jsonschema.protocols.Validator,
    doc: Any,
    *,
    prefix: str = "",
    skip: Collection[str] = (),
    skip_references: bool = False,
) -> list[dict[str, str]]:
    """:func:`schema_problems` for any compiled validator (a block's own
    schema, checked by its parser; a node kind's config schema): the same
    paths and messages. With ``skip_references``, errors at a string that
    still holds a ``${...}`` reference are left out (it resolves at run time)."""
    found: list[dict[str, str]] = []
    for error in checker.iter_errors(doc):
        top = error.absolute_path[0] if error.absolute_path else None
        if top in skip or (skip_references and isinstance(error.instance, str) and "${" in error.instance):
            continue
        # two failing keywords with one message (type and minimum of 0.5) are one problem
        found.extend(p for p in _problems(error, prefix) if p not in found)
    return found
