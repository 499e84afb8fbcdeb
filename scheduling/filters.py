"""Event filters: which events start an event schedule.

A filter is an object mapping a dotted path into the event's data to either a
plain value (equality) or an object of operators::

    {"taskId": "weibo-monitor",
     "status": {"in": ["failed", "timed_out"]},
     "durationSeconds": {"gt": 30},
     "output.stats.new": {"gte": 1},
     "items.0.kind": "video"}

Operators: ``eq``, ``ne``, ``gt``, ``gte``, ``lt``, ``lte``, ``in``, ``nin``,
``exists``. All conditions must hold. Paths may step into lists by index.
An object value is always read as operators (``{"eq": {...}}`` compares with
an object).
"""

from __future__ import annotations

from typing import Any

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "exists")
_MISSING = object()


def filter_errors(spec: Any, path: str) -> list[dict[str, str]]:
    """Problems with a filter definition, each with its JSON path."""
    if spec is None:
        return []
    if not isinstance(spec, dict):
        return [{"path": path, "message": "filter must be an object of path: value or path: {operator: value}"}]
    errors: list[dict[str, str]] = []
    for key, condition in spec.items():
        where = f"{path}.{key}"
        if not isinstance(key, str) or not key or any(part == "" for part in key.split(".")):
            errors.append({"path": where, "message": "a filter path must be dotted names like 'output.count'"})
            continue
        if not _is_operator_object(condition):
            continue
        if not condition:
            errors.append({"path": where, "message": "an empty condition; give a value or operators like {\"gt\": 3}"})
        for op, value in condition.items():
            if op not in OPERATORS:
                errors.append(
                    {"path": f"{where}.{op}", "message": f"unknown operator '{op}'; use one of {', '.join(OPERATORS)}"}
                )
            elif op in ("in", "nin") and not isinstance(value, list):
                errors.append({"path": f"{where}.{op}", "message": f"'{op}' needs a list of values"})
            elif op in ("gt", "gte", "lt", "lte") and not isinstance(value, int | float | str):
                errors.append({"path": f"{where}.{op}", "message": f"'{op}' needs a number or a string"})
            elif op == "exists" and not isinstance(value, bool):
                errors.append({"path": f"{where}.{op}", "message": "'exists' needs true or false"})
    return errors


def _is_operator_object(condition: Any) -> bool:
    # Any object is a set of operators; compare with an object literal through {"eq": {...}}.
    return isinstance(condition, dict)


def lookup(data: Any, path: str) -> Any:
    """The value at dotted ``path`` in ``data`` (``_MISSING`` when absent)."""
    current = data
    for part in path.split("."):
        if isinstance(current, dict):
            if part not in current:
                return _MISSING
            current = current[part]
        elif isinstance(current, list) and part.isascii() and part.lstrip("-").isdigit():
            index = int(part)
            if not -len(current) <= index < len(current):
                return _MISSING
            current = current[index]
        else:
            return _MISSING
    return current


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op == "exists":
        return (actual is not _MISSING) == bool(expected)
    if actual is _MISSING:
        return op in ("ne", "nin")
    if op == "eq":
        return _equal(actual, expected)
    if op == "ne":
        return not _equal(actual, expected)
    if op == "in":
        return any(_equal(actual, item) for item in expected)
    if op == "nin":
        return not any(_equal(actual, item) for item in expected)
    # Ordering only between numbers or between strings; anything else is no match.
    numbers = (int, float)
    comparable = (
        isinstance(actual, numbers) and not isinstance(actual, bool) and isinstance(expected, numbers)
    ) or (isinstance(actual, str) and isinstance(expected, str))
    if not comparable:
        return False
    if op == "gt":
        return actual > expected
    if op == "gte":
        return actual >= expected
    if op == "lt":
        return actual < expected
    return actual <= expected


def _equal(actual: Any, expected: Any) -> bool:
    # True == 1 in Python; in a filter a boolean only equals a boolean.
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    return actual == expected


def matches(spec: dict[str, Any] | None, data: Any) -> bool:
    """True when ``data`` satisfies every condition of filter ``spec``."""
    for path, condition in (spec or {}).items():
        actual = lookup(data, path)
        if _is_operator_object(condition):
            if not all(_compare(op, actual, value) for op, value in condition.items()):
                return False
        elif not _compare("eq", actual, condition):
            return False
    return True
