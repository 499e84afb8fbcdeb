"""Template parameters inside workflow nodes: finding the undeclared ones at
create time, and substituting the values at instantiate time. Only template
parameters are substituted; ``${node.path}`` references, secrets and
expression conditions stay in the task for run time. Pure Python, no ORM."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from orchestration.references import (
    REFERENCE_RE,
    UnresolvedReference,
    lookup,
    parse_path,
    to_text,
)
from templates_app.parameters import NAME_RE, Error

_REMOVE: Any = object()


def plain_reference_root(ref: str) -> str | None:
    """The name a plain reference (``name`` or ``name.a[0]``) starts with, or
    None for an expression such as ``monitoring.hasChanges == true``."""
    try:
        root, _steps = parse_path(ref)
    except UnresolvedReference:
        return None
    return root if NAME_RE.match(root) else None


def _is_expression_slot(path: tuple[str | int, ...]) -> bool:
    """``workflows[i].condition.expression`` is evaluated at run time as a whole."""
    return len(path) == 3 and path[1] == "condition" and path[2] == "expression"


def _strings(value: Any, root: str) -> Iterator[tuple[str, str]]:
    """``(json path, text)`` of every string in ``value``, expression slots excluded."""

    def walk(item: Any, path: tuple[str | int, ...]) -> Iterator[tuple[str, str]]:
        if isinstance(item, str):
            if not (root == "workflows" and _is_expression_slot(path)):
                yield _path_text(path, root), item
        elif isinstance(item, Mapping):
            for key, child in item.items():
                yield from walk(child, (*path, str(key)))
        elif isinstance(item, list):
            for index, child in enumerate(item):
                yield from walk(child, (*path, index))

    yield from walk(value, ())


def _path_text(path: tuple[str | int, ...], root: str = "workflows") -> str:
    out = root
    for step in path:
        out = f"{out}[{step}]" if isinstance(step, int) else f"{out}.{step}"
    return out


def node_ids(nodes: Any) -> set[str]:
    if not isinstance(nodes, list):
        return set()
    return {n["id"] for n in nodes if isinstance(n, Mapping) and isinstance(n.get("id"), str)}


def extract_parameters(
    nodes: Any, *, declared: set[str], secrets: set[str], channels: Any = None
) -> list[dict[str, Any]]:
    """Names used as ``${name}`` (in the nodes and the template's notification
    channels) that are neither declared parameters, node ids nor declared
    secrets, as required string parameters (the seed's ``extractParameters``),
    each saying where it was found first."""
    known = declared | secrets | node_ids(nodes)
    found: dict[str, dict[str, Any]] = {}
    places = [*_strings(nodes, "workflows"), *_strings(channels, "notificationChannels")]
    for path, text in places:
        for match in REFERENCE_RE.finditer(text):
            root = plain_reference_root(match.group(1))
            if root is None or root in known or root in found:
                continue
            found[root] = {
                "name": root,
                "type": "string",
                "required": True,
                "description": f"Parameter found in {path}",
                "extracted": True,
            }
    return list(found.values())


def substitute(
    nodes: Sequence[Any],
    *,
    values: Mapping[str, Any],
    parameter_names: set[str],
    root: str = "workflows",
) -> tuple[list[Any], list[Error]]:
    """A copy of ``nodes`` (or of the list at ``root``, such as the template's
    notificationChannels) with every template parameter reference replaced.

    ``"${name}"`` alone takes the value with its type; inside longer text the
    value is interpolated. A declared parameter with no value (optional, no
    default) removes the config entry that is exactly ``"${name}"``, so the
    workflow's own default applies, and interpolates as empty text.
    """
    errors: list[Error] = []
    parameters = {k: v for k, v in values.items() if k in parameter_names}

    def one(ref: str, path: tuple[str | int, ...]) -> Any:
        name = plain_reference_root(ref)
        if name is None or name not in parameter_names:
            return None
        if name not in parameters:
            return _REMOVE
        try:
            found = lookup(ref, parameters=parameters, outputs={}, secret_lookup=lambda _name: None)
            return copy.deepcopy(found)
        except UnresolvedReference as exc:
            errors.append({"path": _path_text(path, root), "message": str(exc)})
            return _REMOVE

    def text(item: str, path: tuple[str | int, ...]) -> Any:
        whole = REFERENCE_RE.fullmatch(item)
        if whole is not None:
            value = one(whole.group(1), path)
            return item if value is None else value

        def replace(match: Any) -> str:
            value = one(match.group(1), path)
            if value is None:
                return match.group(0)
            return "" if value is _REMOVE else to_text(value)

        return REFERENCE_RE.sub(replace, item)

    def walk(item: Any, path: tuple[str | int, ...]) -> Any:
        if isinstance(item, str):
            return item if root == "workflows" and _is_expression_slot(path) else text(item, path)
        if isinstance(item, Mapping):
            out = {}
            for key, child in item.items():
                value = walk(child, (*path, str(key)))
                if value is not _REMOVE:
                    out[key] = value
            return out
        if isinstance(item, list):
            return [v for i, c in enumerate(item) if (v := walk(c, (*path, i))) is not _REMOVE]
        return copy.deepcopy(item)

    result = []
    for index, node in enumerate(nodes):
        value = walk(node, (index,))
        result.append(node if value is _REMOVE else value)
    return result, errors
