"""Values after JSON Schema validation: whole-number floats become ints.

JSON Schema counts ``2.0`` as an integer (draft 2020-12, section 6.1.1:
"a number with a zero fractional part"), so a value that passed validation
may still be a Python ``float`` and break code that needs an ``int``
(``items[:2.0]`` raises ``TypeError: slice indices must be integers``). Every
place that validates parameters or configs (template parameters, node
configs, step workflow inputs and steps) calls :func:`whole_numbers_to_int`
on the validated value, so code downstream always sees ``2``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _is_integer_schema(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    if kind == "integer":
        return True
    return isinstance(kind, list) and "integer" in kind and "number" not in kind


def whole_numbers_to_int(
    schema: Any, value: Any, *, root: Any = None, documents: Mapping[str, Any] | None = None
) -> Any:
    """``value`` with every float that has no fractional part made an ``int``
    where ``schema`` (or a sub-schema under ``properties``,
    ``additionalProperties``, ``items``, ``prefixItems``, ``anyOf``, ``oneOf``,
    ``allOf`` or a ``$ref``) says ``"type": "integer"``.

    A ``$ref`` such as ``#/$defs/count`` is resolved in ``root`` (by default
    ``schema`` itself); one naming another document
    (``task-definition.json#/$defs/node``) in ``documents`` (``{name:
    schema}``), whose own local references then resolve in it. References
    that resolve nowhere are ignored. Returns a new value; ``value`` is not
    changed. Floats with a fraction (which validation refuses) and values the
    schema says nothing about stay as they are."""
    if not isinstance(schema, dict):
        return value
    root = schema if root is None else root
    documents = documents or {}
    if isinstance(value, float) and not isinstance(value, bool) and value.is_integer():
        return int(value) if _says_integer(schema, root, documents, 8) else value
    for alternative, where in _alternatives(schema, root, documents):
        value = whole_numbers_to_int(alternative, value, root=where, documents=documents)
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        out = {}
        for key, item in value.items():
            sub = properties.get(key, extra if isinstance(extra, dict) else None)
            out[key] = whole_numbers_to_int(sub, item, root=root, documents=documents)
        return out
    if isinstance(value, list):
        prefix = schema.get("prefixItems") or []
        items = schema.get("items")
        return [
            whole_numbers_to_int(prefix[i] if i < len(prefix) else items, item, root=root, documents=documents)
            for i, item in enumerate(value)
        ]
    return value


def _says_integer(schema: Any, root: Any, documents: Mapping[str, Any], depth: int) -> bool:
    """Whether ``schema``, or an alternative or reference it leads to (at most
    ``depth`` references deep, against reference loops), types the value as an integer."""
    if not isinstance(schema, dict) or depth < 0:
        return False
    if _is_integer_schema(schema):
        return True
    return any(_says_integer(s, where, documents, depth - 1) for s, where in _alternatives(schema, root, documents))


def _alternatives(schema: dict[str, Any], root: Any, documents: Mapping[str, Any]) -> list[tuple[Any, Any]]:
    """The sub-schemas that apply to the same value: ``anyOf``/``oneOf``/
    ``allOf`` items and the ``$ref`` target, each with the root document its
    own references resolve in."""
    found: list[tuple[Any, Any]] = [(s, root) for key in ("anyOf", "oneOf", "allOf") for s in schema.get(key) or []]
    ref = schema.get("$ref")
    if isinstance(ref, str) and "#" in ref:
        name, _, pointer = ref.partition("#")
        target = documents.get(name) if name else root
        where = target
        for step in pointer.split("/")[1:] if pointer else []:
            target = target.get(step.replace("~1", "/").replace("~0", "~")) if isinstance(target, dict) else None
        if isinstance(target, dict):
            found.append((target, where))
    return found
