"""Typed template parameters: checking their declarations, turning them into a
JSON Schema, and validating the values a user gives (defaults applied, every
error listed with the parameter's name). Pure Python, no ORM."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from orchestration.references import to_text
from orchestration.schemavalues import whole_numbers_to_int

PARAMETER_TYPES = ("string", "number", "integer", "boolean", "array", "object")
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Keys a parameter declaration may have, beyond name and type.
_COMMON_KEYS = {"name", "type", "required", "default", "enum", "description", "label", "extracted"}
_KEYS_BY_TYPE: dict[str, set[str]] = {
    "string": {"pattern", "minLength", "maxLength"},
    "number": {"minimum", "maximum"},
    "integer": {"minimum", "maximum"},
    "boolean": set(),
    "array": {"minItems", "maxItems"},
    "object": set(),
}


# ``{"path": "parameters.maxPosts", "message": "..."}``, the API's error shape.
Error = dict[str, str]


def json_type(value: Any) -> str:
    """The JSON type name of a Python value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def parameter_schema(param: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON Schema of one declared parameter's value."""
    schema: dict[str, Any] = {"type": param.get("type", "string")}
    for key in ("enum", "minimum", "maximum", "pattern", "minLength", "maxLength", "minItems", "maxItems"):
        if key in param:
            schema[key] = param[key]
    if "description" in param:
        schema["description"] = param["description"]
    if "default" in param:
        schema["default"] = param["default"]
    return schema


def parameters_schema(params: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The JSON Schema of a whole parameter object. Names a template does not
    declare are allowed: a task may carry extra parameters for run-time
    expressions (the seed task does)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {p["name"]: parameter_schema(p) for p in params},
        "required": [p["name"] for p in params if p.get("required") and "default" not in p],
    }


def check_declarations(params: Any, *, path: str = "parameters") -> list[Error]:
    """Problems with a template's parameter list itself (names, types, defaults, enums)."""
    if params is None:
        return []
    if not isinstance(params, list):
        return [{"path": path, "message": "must be a list of parameter declarations"}]
    errors: list[Error] = []
    seen: set[str] = set()
    for index, param in enumerate(params):
        here = f"{path}[{index}]"
        if not isinstance(param, dict):
            errors.append({"path": here, "message": "must be an object with at least a name"})
            continue
        name = param.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            errors.append(
                {"path": f"{here}.name", "message": "must be a name of letters, digits and _ (not starting with a digit)"}
            )
        elif name in seen:
            errors.append({"path": f"{here}.name", "message": f"parameter {name!r} is declared twice"})
        else:
            seen.add(name)
        kind = param.get("type", "string")
        if kind not in PARAMETER_TYPES:
            errors.append(
                {"path": f"{here}.type", "message": f"must be one of {', '.join(PARAMETER_TYPES)} (got {kind!r})"}
            )
            continue
        allowed = _COMMON_KEYS | _KEYS_BY_TYPE[kind]
        for key in param:
            if key not in allowed:
                errors.append(
                    {"path": f"{here}.{key}", "message": f"not a field of a {kind} parameter (allowed: {', '.join(sorted(allowed))})"}
                )
        errors.extend(_check_declaration_fields(param, kind, here))
    return errors


def _check_declaration_fields(param: Mapping[str, Any], kind: str, here: str) -> list[Error]:
    errors: list[Error] = []
    for key in ("required", "extracted"):
        if key in param and not isinstance(param[key], bool):
            errors.append({"path": f"{here}.{key}", "message": "must be true or false"})
    for key in ("description", "label"):
        if key in param and not isinstance(param[key], str):
            errors.append({"path": f"{here}.{key}", "message": "must be text"})
    for key in ("minimum", "maximum"):
        if key in param and (isinstance(param[key], bool) or not isinstance(param[key], int | float)):
            errors.append({"path": f"{here}.{key}", "message": "must be a number"})
    for key in ("minLength", "maxLength", "minItems", "maxItems"):
        if key in param and (isinstance(param[key], bool) or not isinstance(param[key], int) or param[key] < 0):
            errors.append({"path": f"{here}.{key}", "message": "must be a whole number >= 0"})
    if "pattern" in param:
        try:
            re.compile(param["pattern"])
        except (re.error, TypeError) as exc:
            errors.append({"path": f"{here}.pattern", "message": f"is not a valid regular expression: {exc}"})
    if errors:
        return errors
    type_only = {"type": kind}
    if "enum" in param:
        enum = param["enum"]
        if not isinstance(enum, list) or not enum:
            errors.append({"path": f"{here}.enum", "message": "must be a non-empty list of allowed values"})
        else:
            for position, member in enumerate(enum):
                for problem in Draft202012Validator(type_only).iter_errors(member):
                    errors.append({"path": f"{here}.enum[{position}]", "message": _message(problem, type_only)})
    if "default" in param and not errors:
        schema = parameter_schema(param)
        for problem in Draft202012Validator(schema).iter_errors(param["default"]):
            errors.append({"path": f"{here}.default", "message": _message(problem, schema)})
    return errors


def _message(error: ValidationError, schema: Mapping[str, Any]) -> str:
    """A short message for one jsonschema error, without Python reprs."""
    value = error.instance
    shown = to_text(value) if not isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if error.validator == "type":
        return f"must be {_a(error.validator_value)} (got {json_type(value)} {shown})"
    if error.validator == "enum":
        options = ", ".join(to_text(o) for o in error.validator_value)
        return f"must be one of: {options} (got {shown})"
    if error.validator == "minimum":
        return f"must be at least {to_text(error.validator_value)} (got {shown})"
    if error.validator == "maximum":
        return f"must be at most {to_text(error.validator_value)} (got {shown})"
    if error.validator == "pattern":
        return f"must match the pattern {error.validator_value} (got {shown})"
    if error.validator == "minLength":
        return f"must be at least {error.validator_value} characters long"
    if error.validator == "maxLength":
        return f"must be at most {error.validator_value} characters long"
    if error.validator == "minItems":
        return f"must have at least {error.validator_value} items"
    if error.validator == "maxItems":
        return f"must have at most {error.validator_value} items"
    return error.message


def _a(kind: Any) -> str:
    names = {
        "string": "text",
        "number": "a number",
        "integer": "a whole number",
        "boolean": "true or false",
        "array": "a list",
        "object": "an object",
    }
    if isinstance(kind, list):
        return " or ".join(names.get(str(k), str(k)) for k in kind)
    return names.get(kind, str(kind))


def _error_path(error: ValidationError, path: str) -> str:
    out = path
    for step in error.absolute_path:
        out = f"{out}[{step}]" if isinstance(step, int) else f"{out}.{step}"
    return out


def validate_values(
    params: Sequence[Mapping[str, Any]], values: Any, *, path: str = "parameters"
) -> tuple[dict[str, Any], list[Error]]:
    """Check ``values`` against the declared parameters.

    Returns the values with defaults applied and every problem, each with the
    path ``parameters.<name>``. A ``null`` value counts as not given, so its
    default applies. Extra names are kept as they are. A whole-number float
    given for an integer parameter (``2.0``) comes back as an ``int``.
    """
    if values is None:
        values = {}
    if not isinstance(values, dict):
        return {}, [{"path": path, "message": "must be an object of parameter values"}]
    result = {k: copy.deepcopy(v) for k, v in values.items() if v is not None}
    for param in params:
        if param["name"] not in result and "default" in param:
            result[param["name"]] = copy.deepcopy(param["default"])
    schema = parameters_schema(params)
    order = {p["name"]: i for i, p in enumerate(params)}
    errors: list[tuple[int, Error]] = []
    for error in Draft202012Validator(schema).iter_errors(result):
        if error.validator == "required":
            for name in schema["required"]:
                if name not in result:
                    errors.append((order[name], {"path": f"{path}.{name}", "message": "is required"}))
            continue
        name = str(error.absolute_path[0]) if error.absolute_path else ""
        errors.append((order.get(name, len(order)), {"path": _error_path(error, path), "message": _message(error, schema)}))
    errors.sort(key=lambda item: (item[0], item[1]["path"]))
    result = whole_numbers_to_int(schema, result)
    unique: list[Error] = []
    for _, err in errors:
        if err not in unique:
            unique.append(err)
    return result, unique


# --- form values (everything arrives as text) ---------------------------------

MISSING: Any = object()


def enum_choices(param: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(value as text, label)`` pairs for a select of an enum parameter."""
    return [(to_text(member), to_text(member)) for member in param.get("enum", [])]


def value_as_text(param: Mapping[str, Any], value: Any) -> str:
    """How a value is pre-filled in a form field."""
    if value is None or value is MISSING:
        return ""
    if param.get("type") in ("array", "object"):
        return json.dumps(value, ensure_ascii=False, indent=2)
    return to_text(value)


def coerce_form_value(param: Mapping[str, Any], raw: str | None) -> tuple[Any, str | None]:
    """Turn the text a form sent for ``param`` into a typed value.

    Returns ``(value, None)``, ``(MISSING, None)`` when the field was left
    empty, or ``(MISSING, message)`` when the text cannot be that type.
    """
    kind = param.get("type", "string")
    if kind == "boolean":
        return raw is not None and raw not in ("", "false", "off", "0"), None
    if raw is None or raw.strip() == "":
        return MISSING, None
    if "enum" in param:
        for member in param["enum"]:
            if to_text(member) == raw:
                return copy.deepcopy(member), None
    text = raw.strip()
    if kind == "string":
        return raw, None
    if kind == "integer":
        try:
            return int(text), None
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            number = 0.5
        if number.is_integer():  # "2.0" is the whole number 2, as in the API
            return int(number), None
        return MISSING, f"must be a whole number (got {text!r})"
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            return MISSING, f"must be a number (got {text!r})"
        if number != number or number in (float("inf"), float("-inf")):
            return MISSING, f"must be a finite number (got {text!r})"
        return (int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number), None
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        example = "[1, 2]" if kind == "array" else '{"key": "value"}'
        noun = "list" if kind == "array" else "object"
        return MISSING, f"must be a JSON {noun} like {example} ({exc.msg})"
