"""Building blocks of definition validation shared by tasks and templates:
JSON paths, small type checks, ``${...}`` reference checks, and the sections
that are not part of the graph (schedule, notification channels, resource
requirements, error handling). Each check returns or appends
``{"path", "message"}`` problems."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeGuard

from orchestration.references import UnresolvedReference, find_references, parse_path
from orchestration.scheduling.spec import parse_block
from orchestration.units import parse_rate, parse_size

Problem = dict[str, str]
SecretExists = Callable[[str], bool]

PRIORITIES = ("low", "normal", "high", "critical")
STRATEGIES = ("stop-on-error", "continue-on-error")
CHANNEL_TYPES = ("email", "webhook")
RESOURCE_KEYS = ("cpu", "memory", "disk", "network")


def problem(path: str, message: str) -> Problem:
    return {"path": path, "message": message}


def is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


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


def check_non_negative_int(
    doc: Mapping[str, Any], key: str, path: str, problems: list[Problem]
) -> None:
    if key in doc and doc[key] is not None and (not is_int(doc[key]) or doc[key] < 0):
        problems.append(
            problem(join(path, key), f"{key} must be a non-negative integer (got {doc[key]!r})")
        )


def check_priority(value: Any, path: str, problems: list[Problem]) -> None:
    if value not in PRIORITIES:
        problems.append(
            problem(path, f"priority must be one of {', '.join(PRIORITIES)} (got {value!r})")
        )


def check_optional_string(
    doc: Mapping[str, Any], key: str, path: str, problems: list[Problem]
) -> None:
    if key in doc and doc[key] is not None and not isinstance(doc[key], str):
        problems.append(problem(join(path, key), f"{key} must be a string"))


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


def validate_schedule(schedule: Any, path: str) -> list[Problem]:
    """Problems with a task definition's ``schedule`` block, each with its JSON
    path under ``path``. The block is checked by the one schedule-block parser
    (``orchestration.scheduling.spec.parse_block``) that the schedules API,
    the pages and template options use too, so all of them accept and refuse
    the same blocks."""
    return parse_block(schedule, path).errors


def validate_channels(
    channels: Any,
    path: str,
    *,
    parameter_names: set[str],
    secret_exists: SecretExists | None = None,
    warnings: list[Problem] | None = None,
) -> list[Problem]:
    """Problems with a list of notification channels (``warnings``: see
    :func:`check_references`)."""
    if not isinstance(channels, list):
        return [problem(path, "notificationChannels must be a list")]
    secret_exists = secret_exists or secret_exists_in_db()
    problems: list[Problem] = []
    for index, channel in enumerate(channels):
        channel_path = join(path, index)
        if not isinstance(channel, Mapping):
            problems.append(problem(channel_path, "a notification channel must be an object"))
            continue
        kind = channel.get("type")
        if kind not in CHANNEL_TYPES:
            problems.append(
                problem(
                    join(channel_path, "type"),
                    f"channel type must be email or webhook (got {kind!r})",
                )
            )
        config = channel.get("config")
        config_path = join(channel_path, "config")
        if not isinstance(config, Mapping):
            problems.append(problem(config_path, "config must be an object"))
            continue
        if kind == "email":
            recipients = config.get("recipients")
            if (
                not isinstance(recipients, list)
                or not recipients
                or not all(
                    isinstance(r, str) and ("@" in r or r.startswith("${")) for r in recipients
                )
            ):
                problems.append(
                    problem(
                        join(config_path, "recipients"),
                        "recipients must be a non-empty list of email addresses",
                    )
                )
        elif kind == "webhook":
            url = config.get("url")
            if not isinstance(url, str) or not re.match(r"^(https?://\S+|\$\{[^}]+\}\S*)$", url):
                problems.append(
                    problem(join(config_path, "url"), f"url must be an http(s) URL (got {url!r})")
                )
            headers = config.get("headers")
            if headers is not None and (
                not isinstance(headers, Mapping)
                or not all(isinstance(v, str) for v in headers.values())
            ):
                problems.append(
                    problem(join(config_path, "headers"), "headers must be an object of strings")
                )
        problems.extend(
            check_references(
                config,
                config_path,
                label=None,
                ancestors=set(),
                known_ids=set(),
                parameter_names=parameter_names,
                secret_exists=secret_exists,
                warnings=warnings,
            )
        )
    return problems


def validate_resources(resources: Any, path: str) -> list[Problem]:
    if not isinstance(resources, Mapping):
        return [problem(path, "resourceRequirements must be an object")]
    problems: list[Problem] = []
    for key in resources:
        if key not in RESOURCE_KEYS:
            problems.append(
                problem(
                    join(path, key), f"unknown resource {key!r}; use {', '.join(RESOURCE_KEYS)}"
                )
            )
    if "cpu" in resources and (not is_number(resources["cpu"]) or resources["cpu"] <= 0):
        problems.append(
            problem(join(path, "cpu"), f"cpu must be a positive number (got {resources['cpu']!r})")
        )
    for key in ("memory", "disk"):
        if key in resources:
            try:
                parse_size(resources[key])
            except ValueError as exc:
                problems.append(problem(join(path, key), str(exc)))
    if "network" in resources:
        try:
            parse_rate(resources["network"])
        except ValueError as exc:
            problems.append(problem(join(path, "network"), str(exc)))
    return problems


def validate_error_handling(handling: Any, path: str) -> list[Problem]:
    if not isinstance(handling, Mapping):
        return [problem(path, "errorHandling must be an object")]
    problems: list[Problem] = []
    if "strategy" in handling and handling["strategy"] not in STRATEGIES:
        problems.append(
            problem(
                join(path, "strategy"),
                f"strategy must be one of {', '.join(STRATEGIES)} (got {handling['strategy']!r})",
            )
        )
    for key in ("maxRetries", "retryDelay"):
        check_non_negative_int(handling, key, path, problems)
    if "notificationOnFailure" in handling and not isinstance(
        handling["notificationOnFailure"], bool
    ):
        problems.append(
            problem(
                join(path, "notificationOnFailure"), "notificationOnFailure must be true or false"
            )
        )
    policy = handling.get("escalationPolicy")
    policy_path = join(path, "escalationPolicy")
    if policy is None:
        return problems
    if isinstance(policy, Mapping):
        levels: list[tuple[str, Any]] = [(join(policy_path, str(k)), v) for k, v in policy.items()]
    elif isinstance(policy, list):
        levels = [(join(policy_path, i), v) for i, v in enumerate(policy)]
    else:
        return [*problems, problem(policy_path, "escalationPolicy must be an object of levels")]
    for level_path, level in levels:
        if not isinstance(level, Mapping):
            problems.append(
                problem(
                    level_path, "an escalation level must be an object with threshold and action"
                )
            )
            continue
        threshold = level.get("threshold")
        if not is_int(threshold) or threshold <= 0:
            problems.append(
                problem(
                    join(level_path, "threshold"),
                    f"threshold must be a positive integer (got {threshold!r})",
                )
            )
        action = level.get("action")
        if not isinstance(action, str) or not action:
            problems.append(
                problem(join(level_path, "action"), "action must be a non-empty string")
            )
    return problems
