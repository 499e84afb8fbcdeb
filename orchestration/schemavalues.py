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

from typing import Any


def _is_integer_schema(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    if kind == "integer":
        return True
    return isinstance(kind, list) and "integer" in kind and "number" not in kind


def whole_numbers_to_int(schema: Any, value: Any) -> Any:
    """``value`` with every float that has no fractional part made an ``int``
    where ``schema`` (or a sub-schema under ``properties``,
    ``additionalProperties``, ``items``, ``prefixItems``, ``anyOf``, ``oneOf``
    or ``allOf``) says ``"type": "integer"``. Returns a new value; ``value``
    is not changed. Floats with a fraction (which validation has already
    refused) and values the schema says nothing about stay as they are."""
    if not isinstance(schema, dict):
        return value
    if isinstance(value, float) and not isinstance(value, bool) and value.is_integer():
        subschemas = [schema, *_alternatives(schema)]
        if any(_is_integer_schema(s) for s in subschemas if isinstance(s, dict)):
            return int(value)
        return value
    for alternative in _alternatives(schema):
        value = whole_numbers_to_int(alternative, value)
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        out = {}
        for key, item in value.items():
            sub = properties.get(key, extra if isinstance(extra, dict) else None)
            out[key] = whole_numbers_to_int(sub, item)
        return out
    if isinstance(value, list):
        prefix = schema.get("prefixItems") or []
        items = schema.get("items")
        return [
            whole_numbers_to_int(prefix[i] if i < len(prefix) else items, item) for i, item in enumerate(value)
        ]
    return value


def _alternatives(schema: dict[str, Any]) -> list[Any]:
    return [s for key in ("anyOf", "oneOf", "allOf") for s in schema.get(key) or []]
