"""Building blocks of definition validation shared by tasks and templates:
JSON paths and ``${...}`` reference checks, each returning
``{"path", "message"}`` problems. Structure is the published schema's
(``orchestration.contract``); blocks are their apps' (``orchestration.blocks``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from orchestration.references import UnresolvedReference, find_references, parse_path

Problem = dict[str, str]
SecretExists = Callable[[str], bool]

RESOURCE_KEYS = ("cpu", "memory", "disk", "network")


def problem(path: str, message: str) -> Problem:
    return {"path": path, "message": message}


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, text) for every string inside ``value``."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, child in value.items():
            yield from strings(child, join(path, str(key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from strings(child, join(path, index))


def secret_exists_in_db() -> SecretExists:
    """A check against ``orchestration.models.Secret`` (one query for all names)."""
    from orchestration.models import Secret

    names: set[str] | None = None

    def exists(name: str) -> bool:
        nonlocal names
        if names is None:
            names = set(Secret.objects.values_list("name", flat=True))
        return name in names

    return exists


def check_references(
    value: Any,
    path: str,
    *,
    label: str | None,
    ancestors: set[str],
    known_ids: set[str],
    parameter_names: set[str],
    secret_exists: SecretExists,
    warnings: list[Problem] | None = None,
) -> list[Problem]:
    """Problems with ``${...}`` references inside ``value``. ``label`` is the
    node the value belongs to, or None outside nodes (no outputs there).

    A bare ``${name}`` that is no parameter, node or stored secret may be a
    secret that is yet to be added: with a ``warnings`` list it is reported
    there (saving may go on; the run will not start without it), without one
    it is a problem."""
    problems: list[Problem] = []
    for string_path, text in strings(value, path):
        for ref in find_references(text):
            try:
                root, steps = parse_path(ref)
            except UnresolvedReference as exc:
                problems.append(problem(string_path, str(exc)))
                continue
            if not root:
                problems.append(problem(string_path, "empty reference ${}"))
                continue
            if root in parameter_names or root in ancestors:
                continue
            if not steps and secret_exists(root):
                continue
            if not steps and warnings is not None and root not in known_ids:
                warnings.append(problem(string_path, missing_secret_message(ref)))
                continue
            if label is None:
                message = f"unresolvable reference ${{{ref}}}: not a parameter or a stored secret"
            elif root in known_ids:
                message = f"unresolvable reference ${{{ref}}}: {root} is not upstream of {label}; add it to dependsOn"
            else:
                message = (
                    f"unresolvable reference ${{{ref}}}: not a parameter, "
                    f"an upstream node of {label} or a stored secret"
                )
            problems.append(problem(string_path, message))
    return problems


def missing_secret_message(ref: str) -> str:
    """The warning for ``${ref}`` naming no parameter, node or stored secret."""
    return (
        f"${{{ref}}} is not a parameter, an upstream node or a stored secret yet: "
        f"add the secret {ref!r} before the task runs (a run will not start without it)"
    )
