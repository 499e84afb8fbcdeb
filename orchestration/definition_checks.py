"""Building blocks of definition validation shared by tasks and templates:
JSON paths and ``${...}`` reference checks, each returning
``{"path", "message"}`` problems. Structure is the published schema's
(``orchestration.contract``); blocks are their apps' (``orchestration.blocks``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from orchestration.references import UnresolvedReference, find_references, parse_path

Problem = dict[str, str]
SecretExists = Callable[[str], bool]


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


@dataclass(frozen=True)
class Scope:
    """What the ``${...}`` references of one part of a definition may name:
    its parameters, stored secrets and, inside the node ``label``, the nodes
    upstream of it (``ancestors``; ``known_ids`` are all the nodes). Outside
    nodes ``label`` is None: no node output exists there. Given ``warnings``,
    a reference to a secret not stored yet is reported there, not as a problem."""

    parameter_names: set[str]
    secret_exists: SecretExists
    warnings: list[Problem] | None = None
    known_ids: frozenset[str] = frozenset()
    label: str | None = None
    ancestors: frozenset[str] = frozenset()


def check_references(value: Any, path: str, scope: Scope) -> list[Problem]:
    """Problems with the ``${...}`` references inside ``value``. A bare
    ``${name}`` that is no parameter, node or stored secret may be a secret yet
    to be added: a warning when the scope collects them (saving may go on; the
    run will not start without it), else a problem."""
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
            elif root in scope.parameter_names or root in scope.ancestors or (not steps and scope.secret_exists(root)):
                continue
            elif not steps and scope.warnings is not None and root not in scope.known_ids:
                scope.warnings.append(problem(string_path, missing_secret_message(ref)))
            elif scope.label is None:
                message = "not a parameter or a stored secret"
                problems.append(problem(string_path, f"unresolvable reference ${{{ref}}}: {message}"))
            elif root in scope.known_ids:
                message = f"{root} is not upstream of {scope.label}; add it to dependsOn"
                problems.append(problem(string_path, f"unresolvable reference ${{{ref}}}: {message}"))
            else:
                message = f"not a parameter, an upstream node of {scope.label} or a stored secret"
                problems.append(problem(string_path, f"unresolvable reference ${{{ref}}}: {message}"))
    return problems


def missing_secret_message(ref: str) -> str:
    """The warning for ``${ref}`` naming no parameter, node or stored secret."""
    return (
        f"${{{ref}}} is not a parameter, an upstream node or a stored secret yet: "
        f"add the secret {ref!r} before the task runs (a run will not start without it)"
    )
