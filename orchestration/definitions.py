"""Task definitions: validation (every problem at once, each with its JSON path)
and conversion between the seed's camelCase document and the Task model.

Decisions worth knowing:

* ``inputFrom`` is ``<node>.output`` where ``<node>`` is upstream of the node,
  directly or through other nodes: every ancestor has completed by the time a
  node starts, so its output is there to pass on.
* ``${...}`` in a node's config may name a parameter, an upstream node (again
  directly or transitively) or a stored secret. In ``notificationChannels``
  only parameters and secrets make sense (no node output exists there).
* A node's config is checked against its kind's JSON Schema after whole-string
  parameter references are replaced by the parameter's value (so
  ``"${maxPosts}"`` is checked as the number 100). What still holds ``${``
  after that resolves at run time, so schema errors located at such strings
  are not reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema
from croniter import croniter

from orchestration import registry
from orchestration.expressions import check_syntax, expression_names
from orchestration.graph import Graph
from orchestration.references import (
    REFERENCE_RE,
    UnresolvedReference,
    find_references,
    parse_path,
    reference_root,
)
from orchestration.units import parse_rate, parse_size

if TYPE_CHECKING:
    from orchestration.models import Task

Problem = dict[str, str]
SecretExists = Callable[[str], bool]

PRIORITIES = ("low", "normal", "high", "critical")
TASK_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,199}$")
NODE_ID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,199}$")
PARAMETER_NAME_RE = re.compile(r"^[^.\[\]{}$\s]+$")
STRATEGIES = ("stop-on-error", "continue-on-error")
SCHEDULE_TYPES = ("cron", "interval", "event", "manual")
INTERVAL_UNITS = ("ms", "s", "m", "h")
MANUAL_TRIGGERS = ("api", "webhook")
CHANNEL_TYPES = ("email", "webhook")
RESOURCE_KEYS = ("cpu", "memory", "disk", "network")

# Top-level keys in the order the seed writes them; exports follow it.
DEFINITION_KEYS = (
    "taskId",
    "name",
    "description",
    "template",
    "templateVersion",
    "version",
    "category",
    "tags",
    "priority",
    "timeout",
    "maxRetries",
    "retryDelay",
    "enabled",
    "schedule",
    "parameters",
    "workflows",
    "notificationChannels",
    "resourceRequirements",
    "errorHandling",
)


def _problem(path: str, message: str) -> Problem:
    return {"path": path, "message": message}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, text) for every string inside ``value``."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, child in value.items():
            yield from _strings(child, _join(path, str(key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _strings(child, _join(path, index))


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


def _check_non_negative_int(
    doc: Mapping[str, Any], key: str, path: str, problems: list[Problem]
) -> None:
    if key in doc and doc[key] is not None and (not _is_int(doc[key]) or doc[key] < 0):
        problems.append(
            _problem(_join(path, key), f"{key} must be a non-negative integer (got {doc[key]!r})")
        )


def _check_priority(value: Any, path: str, problems: list[Problem]) -> None:
    if value not in PRIORITIES:
        problems.append(
            _problem(path, f"priority must be one of {', '.join(PRIORITIES)} (got {value!r})")
        )


def _check_optional_string(
    doc: Mapping[str, Any], key: str, path: str, problems: list[Problem]
) -> None:
    if key in doc and doc[key] is not None and not isinstance(doc[key], str):
        problems.append(_problem(_join(path, key), f"{key} must be a string"))


def validate_task_definition(
    doc: Any, *, partial: bool = False, secret_exists: SecretExists | None = None
) -> list[Problem]:
    """Every problem with a task definition, each ``{"path", "message"}``; an
    empty list means the definition is valid. With ``partial`` missing keys are
    not reported (the document is a fragment to be merged)."""
    if not isinstance(doc, Mapping):
        return [_problem("", "a task definition must be a JSON object")]
    secret_exists = secret_exists or secret_exists_in_db()
    problems: list[Problem] = []

    if "taskId" in doc or not partial:
        task_id = doc.get("taskId")
        if task_id is None or task_id == "":
            problems.append(_problem("taskId", "taskId is required"))
        elif not isinstance(task_id, str) or not TASK_ID_RE.match(task_id):
            problems.append(
                _problem(
                    "taskId",
                    f"taskId must be 1-200 letters, digits, '-' or '_', starting with a letter or digit (got {task_id!r})",
                )
            )
    if "name" in doc or not partial:
        name = doc.get("name")
        if not isinstance(name, str) or not name.strip():
            problems.append(_problem("name", "name is required and must be a non-empty string"))
        elif len(name) > 300:
            problems.append(_problem("name", "name must be at most 300 characters"))
    for key in ("description", "template", "templateVersion", "version", "category"):
        _check_optional_string(doc, key, "", problems)
    if isinstance(doc.get("category"), str) and len(doc["category"]) > 100:
        problems.append(_problem("category", "category must be at most 100 characters"))
    if "tags" in doc:
        tags = doc["tags"]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            problems.append(_problem("tags", "tags must be a list of strings"))
    if "priority" in doc:
        _check_priority(doc["priority"], "priority", problems)
    for key in ("timeout", "maxRetries", "retryDelay"):
        _check_non_negative_int(doc, key, "", problems)
    if "enabled" in doc and not isinstance(doc["enabled"], bool):
        problems.append(_problem("enabled", "enabled must be true or false"))

    parameters = doc.get("parameters", {})
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, Mapping):
        problems.append(_problem("parameters", "parameters must be an object of name: value"))
        parameters = {}
    for name in parameters:
        if not PARAMETER_NAME_RE.match(name):
            problems.append(
                _problem(
                    f"parameters.{name}",
                    "a parameter name must not be empty or contain spaces, '.', '[', ']', '{', '}' or '$'",
                )
            )

    if "workflows" in doc or not partial:
        problems.extend(
            validate_nodes(
                doc.get("workflows"),
                parameter_names=set(parameters),
                parameter_values=parameters,
                secret_exists=secret_exists,
            )
        )
    if doc.get("schedule") is not None:
        problems.extend(validate_schedule(doc["schedule"], "schedule"))
    if doc.get("notificationChannels") is not None:
        problems.extend(
            validate_channels(
                doc["notificationChannels"],
                "notificationChannels",
                parameter_names=set(parameters),
                secret_exists=secret_exists,
            )
        )
    if doc.get("resourceRequirements") is not None:
        problems.extend(validate_resources(doc["resourceRequirements"], "resourceRequirements"))
    if doc.get("errorHandling") is not None:
        problems.extend(validate_error_handling(doc["errorHandling"], "errorHandling"))
    return problems


def validate_nodes(
    nodes: Any,
    *,
    parameter_names: set[str],
    path: str = "workflows",
    parameter_values: Mapping[str, Any] | None = None,
    secret_exists: SecretExists | None = None,
) -> list[Problem]:
    """Problems with a list of workflow nodes (shared with templates, whose
    parameters are declared rather than given: pass no ``parameter_values`` and
    parameter references are left to run time in the schema check)."""
    if nodes is None:
        return [_problem(path, "workflows is required: a list of workflow nodes")]
    if not isinstance(nodes, list):
        return [_problem(path, "workflows must be a list of workflow nodes")]
    if not nodes:
        return [_problem(path, "workflows must contain at least one workflow node")]
    secret_exists = secret_exists or secret_exists_in_db()
    problems: list[Problem] = []
    first_index: dict[str, int] = {}

    for index, node in enumerate(nodes):
        node_path = _join(path, index)
        if not isinstance(node, Mapping):
            problems.append(_problem(node_path, "a workflow node must be an object"))
            continue
        node_id = node.get("id")
        if node_id is None or node_id == "":
            problems.append(_problem(_join(node_path, "id"), "id is required"))
        elif not isinstance(node_id, str) or not NODE_ID_RE.match(node_id):
            problems.append(
                _problem(
                    _join(node_path, "id"),
                    f"id must be letters, digits, '-' or '_' (got {node_id!r})",
                )
            )
        elif node_id in parameter_names:
            problems.append(
                _problem(
                    _join(node_path, "id"),
                    f'node id "{node_id}" is also a parameter name; ${{{node_id}}} would be ambiguous',
                )
            )
        elif node_id in first_index:
            problems.append(
                _problem(
                    _join(node_path, "id"),
                    f'duplicate node id "{node_id}" (first used by {_join(path, first_index[node_id])})',
                )
            )
        else:
            first_index[node_id] = index

    graph = Graph.from_nodes(n for n in nodes if isinstance(n, Mapping))
    cycle = graph.find_cycle()
    if cycle:
        cycle_start = next(
            i for i, n in enumerate(nodes) if isinstance(n, Mapping) and n.get("id") == cycle[0]
        )
        problems.append(
            _problem(
                _join(_join(path, cycle_start), "dependsOn"),
                "dependency cycle: " + " -> ".join(cycle),
            )
        )

    first_seen: dict[str, int] = {}
    for index, node in enumerate(nodes):
        if isinstance(node, Mapping):
            node_id = node.get("id")
            if isinstance(node_id, str):
                first_seen.setdefault(node_id, index)
            problems.extend(
                _validate_node(
                    node,
                    _join(path, index),
                    graph=graph,
                    known_ids=set(graph.nodes),
                    parameter_names=parameter_names,
                    parameter_values=parameter_values,
                    secret_exists=secret_exists,
                    duplicate=isinstance(node_id, str) and first_seen[node_id] != index,
                )
            )
    return problems


def _validate_node(
    node: Mapping[str, Any],
    path: str,
    *,
    graph: Graph,
    known_ids: set[str],
    parameter_names: set[str],
    parameter_values: Mapping[str, Any] | None,
    secret_exists: SecretExists,
    duplicate: bool,
) -> list[Problem]:
    """Problems with one node. A node whose id repeats an earlier one gets no
    checks of its links: which node its id means is ambiguous until it is fixed."""
    problems: list[Problem] = []
    node_id = node.get("id") if isinstance(node.get("id"), str) else None
    label = node_id or path
    # Inside a cycle a node is its own ancestor; the cycle is reported once, elsewhere.
    ancestors = graph.ancestors(node_id) - {node_id} if node_id in known_ids else set()

    _check_optional_string(node, "name", path, problems)
    _check_optional_string(node, "description", path, problems)
    kind = None
    workflow = node.get("workflow")
    if not isinstance(workflow, str) or not workflow:
        problems.append(
            _problem(_join(path, "workflow"), "workflow is required: the name of a workflow kind")
        )
    else:
        try:
            kind = registry.get(workflow)
        except registry.UnknownWorkflowKind:
            problems.append(
                _problem(_join(path, "workflow"), f'unknown workflow kind "{workflow}"')
            )

    if not duplicate:
        problems.extend(
            _check_links(
                node,
                path,
                label=label,
                ancestors=ancestors,
                known_ids=known_ids,
                parameter_names=parameter_names,
            )
        )

    execution = node.get("execution")
    if execution is not None:
        if not isinstance(execution, Mapping):
            problems.append(_problem(_join(path, "execution"), "execution must be an object"))
        else:
            for key in ("timeout", "retryAttempts", "retryDelay"):
                _check_non_negative_int(execution, key, _join(path, "execution"), problems)
            if "priority" in execution:
                _check_priority(
                    execution["priority"], _join(_join(path, "execution"), "priority"), problems
                )
    if "stopOnFailure" in node and not isinstance(node["stopOnFailure"], bool):
        problems.append(
            _problem(_join(path, "stopOnFailure"), "stopOnFailure must be true or false")
        )

    config = node.get("config", {})
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        problems.append(_problem(_join(path, "config"), "config must be an object"))
        return problems
    if not duplicate:
        problems.extend(
            _check_references(
                config,
                _join(path, "config"),
                label=label,
                ancestors=ancestors,
                known_ids=known_ids,
                parameter_names=parameter_names,
                secret_exists=secret_exists,
            )
        )
    if kind is not None:
        problems.extend(
            _check_schema(config, kind.config_schema, _join(path, "config"), parameter_values)
        )
    return problems


def _check_links(
    node: Mapping[str, Any],
    path: str,
    *,
    label: str,
    ancestors: set[str],
    known_ids: set[str],
    parameter_names: set[str],
) -> list[Problem]:
    """Problems with how a node refers to others: dependsOn, inputFrom, condition."""
    problems: list[Problem] = []
    depends = node.get("dependsOn", [])
    if depends is None:
        depends = []
    if not isinstance(depends, list):
        problems.append(_problem(_join(path, "dependsOn"), "dependsOn must be a list of node ids"))
        depends = []
    seen_deps: set[str] = set()
    for position, dep in enumerate(depends):
        dep_path = _join(_join(path, "dependsOn"), position)
        if not isinstance(dep, str):
            problems.append(_problem(dep_path, "a dependency must be a node id (string)"))
        elif dep not in known_ids:
            problems.append(_problem(dep_path, f'{label} depends on unknown node "{dep}"'))
        elif dep in seen_deps:
            problems.append(_problem(dep_path, f'"{dep}" is listed twice'))
        else:
            seen_deps.add(dep)

    input_from = node.get("inputFrom")
    if input_from is not None:
        source = input_from[: -len(".output")] if isinstance(input_from, str) else None
        if not isinstance(input_from, str) or not input_from.endswith(".output") or not source:
            problems.append(
                _problem(
                    _join(path, "inputFrom"),
                    f'inputFrom must be "<node id>.output" (got {input_from!r})',
                )
            )
        elif source not in known_ids:
            problems.append(
                _problem(_join(path, "inputFrom"), f'inputFrom names unknown node "{source}"')
            )
        elif source not in ancestors:
            problems.append(
                _problem(
                    _join(path, "inputFrom"),
                    f'inputFrom "{input_from}": {source} is not upstream of {label}; add it to dependsOn',
                )
            )

    if node.get("condition") is not None:
        problems.extend(
            _validate_condition(
                node["condition"],
                _join(path, "condition"),
                label=label,
                ancestors=ancestors,
                known_ids=known_ids,
                parameter_names=parameter_names,
            )
        )
    return problems


def _validate_condition(
    condition: Any,
    path: str,
    *,
    label: str,
    ancestors: set[str],
    known_ids: set[str],
    parameter_names: set[str],
) -> list[Problem]:
    if not isinstance(condition, Mapping):
        return [_problem(path, "condition must be an object with a type")]
    kind = condition.get("type")
    if kind == "expression":
        expression = condition.get("expression")
        expr_path = _join(path, "expression")
        if not isinstance(expression, str) or not expression.strip():
            return [_problem(expr_path, "an expression condition needs an expression string")]
        known = parameter_names | known_ids
        problem = check_syntax(expression, known=known)
        if problem:
            return [_problem(expr_path, problem)]
        problems = []
        for name in sorted(expression_names(expression, known=known)):
            if name in parameter_names or name in ancestors:
                continue
            if name in known_ids:
                message = f'condition reads "{name}", which is not upstream of {label}; add it to dependsOn'
            else:
                message = f'condition reads "{name}", which is not a parameter or an upstream node of {label}'
            problems.append(_problem(expr_path, message))
        return problems
    if kind == "content-change":
        threshold = condition.get("threshold")
        problems = []
        if not _is_number(threshold) or not 0 <= threshold <= 1:
            problems.append(
                _problem(
                    _join(path, "threshold"),
                    f"threshold must be a number from 0 to 1 (got {threshold!r})",
                )
            )
        if not ancestors:
            problems.append(
                _problem(
                    path, f"a content-change condition needs an upstream node; {label} has none"
                )
            )
        return problems
    return [
        _problem(
            _join(path, "type"),
            f"condition type must be expression or content-change (got {kind!r})",
        )
    ]


def _check_references(
    value: Any,
    path: str,
    *,
    label: str | None,
    ancestors: set[str],
    known_ids: set[str],
    parameter_names: set[str],
    secret_exists: SecretExists,
) -> list[Problem]:
    """Problems with ``${...}`` references inside ``value``. ``label`` is the
    node the value belongs to, or None outside nodes (no outputs there)."""
    problems: list[Problem] = []
    for string_path, text in _strings(value, path):
        for ref in find_references(text):
            try:
                root, steps = parse_path(ref)
            except UnresolvedReference as exc:
                problems.append(_problem(string_path, str(exc)))
                continue
            if not root:
                problems.append(_problem(string_path, "empty reference ${}"))
                continue
            if root in parameter_names or root in ancestors:
                continue
            if not steps and secret_exists(root):
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
            problems.append(_problem(string_path, message))
    return problems


def _substitute_parameters(value: Any, parameters: Mapping[str, Any]) -> Any:
    """``value`` with whole-string references to parameters replaced by their values."""
    if isinstance(value, str):
        whole = REFERENCE_RE.fullmatch(value)
        if whole is not None:
            ref = whole.group(1).strip()
            if ref == reference_root(ref) and ref in parameters:
                return parameters[ref]
        return value
    if isinstance(value, Mapping):
        return {key: _substitute_parameters(child, parameters) for key, child in value.items()}
    if isinstance(value, list):
        return [_substitute_parameters(child, parameters) for child in value]
    return value


def _check_schema(
    config: Mapping[str, Any],
    schema: Mapping[str, Any],
    path: str,
    parameter_values: Mapping[str, Any] | None,
) -> list[Problem]:
    instance = _substitute_parameters(config, parameter_values or {})
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in sorted(
        validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))
    ):
        if isinstance(error.instance, str) and "${" in error.instance:
            continue
        error_path = path
        for step in error.absolute_path:
            error_path = _join(error_path, step)
        problems.append(_problem(error_path, error.message))
    return problems


def validate_schedule(schedule: Any, path: str) -> list[Problem]:
    if not isinstance(schedule, Mapping):
        return [_problem(path, "schedule must be an object")]
    problems: list[Problem] = []
    kind = schedule.get("type")
    if kind not in SCHEDULE_TYPES:
        problems.append(
            _problem(
                _join(path, "type"),
                f"schedule type must be one of {', '.join(SCHEDULE_TYPES)} (got {kind!r})",
            )
        )
    if "timezone" in schedule:
        timezone = schedule["timezone"]
        try:
            if not isinstance(timezone, str) or not timezone:
                raise ZoneInfoNotFoundError
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(_problem(_join(path, "timezone"), f"unknown timezone {timezone!r}"))
    if "enabled" in schedule and not isinstance(schedule["enabled"], bool):
        problems.append(_problem(_join(path, "enabled"), "enabled must be true or false"))
    if kind == "cron":
        expression = schedule.get("expression")
        if not isinstance(expression, str) or len(expression.split()) != 5:
            problems.append(
                _problem(
                    _join(path, "expression"),
                    f"a cron schedule needs a 5-field expression such as '0 */2 * * *' (got {expression!r})",
                )
            )
        elif not croniter.is_valid(expression):
            problems.append(
                _problem(_join(path, "expression"), f"invalid cron expression {expression!r}")
            )
    elif kind == "interval":
        interval = schedule.get("interval")
        if not _is_number(interval) or interval <= 0:
            problems.append(
                _problem(
                    _join(path, "interval"),
                    f"interval must be a positive number (got {interval!r})",
                )
            )
        unit = schedule.get("unit", "ms")
        if unit not in INTERVAL_UNITS:
            problems.append(
                _problem(
                    _join(path, "unit"),
                    f"unit must be one of {', '.join(INTERVAL_UNITS)} (got {unit!r})",
                )
            )
    elif kind == "event":
        event = schedule.get("event")
        if not isinstance(event, str) or not event:
            problems.append(
                _problem(
                    _join(path, "event"),
                    "an event schedule needs the event name, e.g. task.completed",
                )
            )
        if "filter" in schedule and not isinstance(schedule["filter"], Mapping):
            problems.append(_problem(_join(path, "filter"), "filter must be an object"))
    elif kind == "manual":
        trigger = schedule.get("trigger", "api")
        if trigger not in MANUAL_TRIGGERS:
            problems.append(
                _problem(
                    _join(path, "trigger"),
                    f"trigger must be one of {', '.join(MANUAL_TRIGGERS)} (got {trigger!r})",
                )
            )
    return problems


def validate_channels(
    channels: Any,
    path: str,
    *,
    parameter_names: set[str],
    secret_exists: SecretExists | None = None,
) -> list[Problem]:
    if not isinstance(channels, list):
        return [_problem(path, "notificationChannels must be a list")]
    secret_exists = secret_exists or secret_exists_in_db()
    problems: list[Problem] = []
    for index, channel in enumerate(channels):
        channel_path = _join(path, index)
        if not isinstance(channel, Mapping):
            problems.append(_problem(channel_path, "a notification channel must be an object"))
            continue
        kind = channel.get("type")
        if kind not in CHANNEL_TYPES:
            problems.append(
                _problem(
                    _join(channel_path, "type"),
                    f"channel type must be email or webhook (got {kind!r})",
                )
            )
        config = channel.get("config")
        config_path = _join(channel_path, "config")
        if not isinstance(config, Mapping):
            problems.append(_problem(config_path, "config must be an object"))
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
                    _problem(
                        _join(config_path, "recipients"),
                        "recipients must be a non-empty list of email addresses",
                    )
                )
        elif kind == "webhook":
            url = config.get("url")
            if not isinstance(url, str) or not re.match(r"^(https?://\S+|\$\{[^}]+\}\S*)$", url):
                problems.append(
                    _problem(_join(config_path, "url"), f"url must be an http(s) URL (got {url!r})")
                )
            headers = config.get("headers")
            if headers is not None and (
                not isinstance(headers, Mapping)
                or not all(isinstance(v, str) for v in headers.values())
            ):
                problems.append(
                    _problem(_join(config_path, "headers"), "headers must be an object of strings")
                )
        problems.extend(
            _check_references(
                config,
                config_path,
                label=None,
                ancestors=set(),
                known_ids=set(),
                parameter_names=parameter_names,
                secret_exists=secret_exists,
            )
        )
    return problems


def validate_resources(resources: Any, path: str) -> list[Problem]:
    if not isinstance(resources, Mapping):
        return [_problem(path, "resourceRequirements must be an object")]
    problems: list[Problem] = []
    for key in resources:
        if key not in RESOURCE_KEYS:
            problems.append(
                _problem(
                    _join(path, key), f"unknown resource {key!r}; use {', '.join(RESOURCE_KEYS)}"
                )
            )
    if "cpu" in resources and (not _is_number(resources["cpu"]) or resources["cpu"] <= 0):
        problems.append(
            _problem(
                _join(path, "cpu"), f"cpu must be a positive number (got {resources['cpu']!r})"
            )
        )
    for key in ("memory", "disk"):
        if key in resources:
            try:
                parse_size(resources[key])
            except ValueError as exc:
                problems.append(_problem(_join(path, key), str(exc)))
    if "network" in resources:
        try:
            parse_rate(resources["network"])
        except ValueError as exc:
            problems.append(_problem(_join(path, "network"), str(exc)))
    return problems


def validate_error_handling(handling: Any, path: str) -> list[Problem]:
    if not isinstance(handling, Mapping):
        return [_problem(path, "errorHandling must be an object")]
    problems: list[Problem] = []
    if "strategy" in handling and handling["strategy"] not in STRATEGIES:
        problems.append(
            _problem(
                _join(path, "strategy"),
                f"strategy must be one of {', '.join(STRATEGIES)} (got {handling['strategy']!r})",
            )
        )
    for key in ("maxRetries", "retryDelay"):
        _check_non_negative_int(handling, key, path, problems)
    if "notificationOnFailure" in handling and not isinstance(
        handling["notificationOnFailure"], bool
    ):
        problems.append(
            _problem(
                _join(path, "notificationOnFailure"), "notificationOnFailure must be true or false"
            )
        )
    policy = handling.get("escalationPolicy")
    policy_path = _join(path, "escalationPolicy")
    if policy is None:
        return problems
    if isinstance(policy, Mapping):
        levels: list[tuple[str, Any]] = [(_join(policy_path, str(k)), v) for k, v in policy.items()]
    elif isinstance(policy, list):
        levels = [(_join(policy_path, i), v) for i, v in enumerate(policy)]
    else:
        return [*problems, _problem(policy_path, "escalationPolicy must be an object of levels")]
    for level_path, level in levels:
        if not isinstance(level, Mapping):
            problems.append(
                _problem(
                    level_path, "an escalation level must be an object with threshold and action"
                )
            )
            continue
        threshold = level.get("threshold")
        if not _is_int(threshold) or threshold <= 0:
            problems.append(
                _problem(
                    _join(level_path, "threshold"),
                    f"threshold must be a positive integer (got {threshold!r})",
                )
            )
        action = level.get("action")
        if not isinstance(action, str) or not action:
            problems.append(
                _problem(_join(level_path, "action"), "action must be a non-empty string")
            )
    return problems


def definition_to_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Task model field values for a (valid) definition; unknown top-level keys go to ``extra``."""
    return {
        "task_id": doc["taskId"],
        "name": doc["name"],
        "description": doc.get("description") or "",
        "template_id": doc.get("template") or "",
        "template_version": doc.get("templateVersion") or "",
        "version": doc.get("version") or "",
        "category": doc.get("category") or "",
        "tags": list(doc.get("tags") or []),
        "priority": doc.get("priority") or "normal",
        "timeout_ms": doc.get("timeout"),
        "max_retries": doc.get("maxRetries") or 0,
        "retry_delay_ms": doc.get("retryDelay") or 0,
        "enabled": doc.get("enabled", True),
        "schedule": doc.get("schedule"),
        "parameters": dict(doc.get("parameters") or {}),
        "workflows": list(doc["workflows"]),
        "notification_channels": list(doc.get("notificationChannels") or []),
        "resource_requirements": doc.get("resourceRequirements"),
        "error_handling": doc.get("errorHandling"),
        "extra": {key: value for key, value in doc.items() if key not in DEFINITION_KEYS},
    }


# Key orders of the seed's nested objects. PostgreSQL's jsonb does not keep the
# order of keys, so exports put known keys back in the seed's order (keys of
# free-form objects such as parameters and config come back in jsonb's order).
NODE_KEYS = (
    "id",
    "name",
    "description",
    "workflow",
    "dependsOn",
    "condition",
    "inputFrom",
    "config",
    "execution",
    "stopOnFailure",
)
SCHEDULE_KEYS = (
    "type",
    "expression",
    "interval",
    "unit",
    "event",
    "filter",
    "trigger",
    "timezone",
    "startDate",
    "endDate",
    "maxRuns",
    "concurrent",
    "enabled",
)
CONDITION_KEYS = ("type", "expression", "threshold")
EXECUTION_KEYS = ("timeout", "priority", "retryAttempts", "retryDelay")
CHANNEL_KEYS = ("type", "config")
CHANNEL_CONFIG_KEYS = ("recipients", "subject", "url", "method", "headers")
ERROR_HANDLING_KEYS = (
    "strategy",
    "maxRetries",
    "retryDelay",
    "notificationOnFailure",
    "escalationPolicy",
)
LEVEL_KEYS = ("threshold", "action")


def _ordered(value: Any, keys: tuple[str, ...]) -> Any:
    """``value`` with ``keys`` first, in that order, then its other keys."""
    if not isinstance(value, Mapping):
        return value
    out = {key: value[key] for key in keys if key in value}
    out.update((key, child) for key, child in value.items() if key not in out)
    return out


def _ordered_node(node: Any) -> Any:
    node = _ordered(node, NODE_KEYS)
    if isinstance(node, dict):
        if "condition" in node:
            node["condition"] = _ordered(node["condition"], CONDITION_KEYS)
        if "execution" in node:
            node["execution"] = _ordered(node["execution"], EXECUTION_KEYS)
    return node


def _ordered_channel(channel: Any) -> Any:
    channel = _ordered(channel, CHANNEL_KEYS)
    if isinstance(channel, dict) and "config" in channel:
        channel["config"] = _ordered(channel["config"], CHANNEL_CONFIG_KEYS)
    return channel


def _ordered_error_handling(handling: Any) -> Any:
    handling = _ordered(handling, ERROR_HANDLING_KEYS)
    policy = handling.get("escalationPolicy") if isinstance(handling, dict) else None
    if isinstance(policy, Mapping):
        handling["escalationPolicy"] = {
            name: _ordered(level, LEVEL_KEYS) for name, level in policy.items()
        }
    elif isinstance(policy, list):
        handling["escalationPolicy"] = [_ordered(level, LEVEL_KEYS) for level in policy]
    return handling


def task_to_definition(task: Task) -> dict[str, Any]:
    """The task as a definition document in the seed's camelCase and key order.

    Importing the result gives the same task back. Optional parts that are
    empty (no template, no schedule, ...) are left out; ``enabled`` is written
    only when the task is disabled."""
    doc: dict[str, Any] = {
        "taskId": task.task_id,
        "name": task.name,
        "description": task.description,
    }
    if task.template_id:
        doc["template"] = task.template_id
    if task.template_version:
        doc["templateVersion"] = task.template_version
    if task.version:
        doc["version"] = task.version
    doc["category"] = task.category
    doc["tags"] = list(task.tags)
    doc["priority"] = task.priority
    if task.timeout_ms is not None:
        doc["timeout"] = task.timeout_ms
    doc["maxRetries"] = task.max_retries
    doc["retryDelay"] = task.retry_delay_ms
    if not task.enabled:
        doc["enabled"] = False
    if task.schedule is not None:
        doc["schedule"] = _ordered(task.schedule, SCHEDULE_KEYS)
    doc["parameters"] = task.parameters
    doc["workflows"] = [_ordered_node(node) for node in task.workflows]
    doc["notificationChannels"] = [_ordered_channel(c) for c in task.notification_channels]
    if task.resource_requirements is not None:
        doc["resourceRequirements"] = _ordered(task.resource_requirements, RESOURCE_KEYS)
    if task.error_handling is not None:
        doc["errorHandling"] = _ordered_error_handling(task.error_handling)
    doc.update(task.extra or {})
    return doc
