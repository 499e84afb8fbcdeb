"""Task definitions: validation (every problem at once, each with its JSON path)
and conversion between the seed's camelCase document and the Task model.

Decisions worth knowing:

* ``inputFrom`` is ``<node>.output`` where ``<node>`` is upstream of the node,
  directly or through other nodes: every ancestor has completed by the time a
  node starts, so its output is there to pass on.
* An ``expression`` condition may read parameters and the outputs of the
  node's direct dependencies (what the engine shows it), nothing further up.
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
from collections.abc import Mapping
from typing import Any

import jsonschema

from orchestration import registry
from orchestration.definition_checks import (
    Problem,
    SecretExists,
    check_non_negative_int,
    check_optional_string,
    check_priority,
    check_references,
    is_number,
    join,
    problem,
    secret_exists_in_db,
    validate_channels,
    validate_error_handling,
    validate_resources,
    validate_schedule,
)
from orchestration.definition_export import definition_to_fields, task_to_definition
from orchestration.expressions import check_syntax, expression_names
from orchestration.graph import Graph
from orchestration.references import (
    REFERENCE_RE,
    UnresolvedReference,
    find_references,
    parse_path,
    reference_root,
)
from orchestration.urlpolicy import url_problems

__all__ = [
    "Problem",
    "definition_to_fields",
    "secret_exists_in_db",
    "task_to_definition",
    "validate_channels",
    "validate_nodes",
    "validate_task_definition",
]

# Names the API uses in /api/v1/tasks/<name>/ for actions on the collection.
RESERVED_TASK_IDS = frozenset({"validate"})
TASK_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,199}$")
NODE_ID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,199}$")
PARAMETER_NAME_RE = re.compile(r"^[^.\[\]{}$\s]+$")


def validate_task_definition(
    doc: Any,
    *,
    partial: bool = False,
    secret_exists: SecretExists | None = None,
    warnings: list[Problem] | None = None,
) -> list[Problem]:
    """Every problem with a task definition, each ``{"path", "message"}``; an
    empty list means the definition is valid. With ``partial`` missing keys are
    not reported (the document is a fragment to be merged). Given a
    ``warnings`` list, references to secrets that do not exist yet are added
    there instead of being problems (see ``check_references``)."""
    if not isinstance(doc, Mapping):
        return [problem("", "a task definition must be a JSON object")]
    secret_exists = secret_exists or secret_exists_in_db()
    problems: list[Problem] = []

    if "taskId" in doc or not partial:
        task_id = doc.get("taskId")
        if task_id is None or task_id == "":
            problems.append(problem("taskId", "taskId is required"))
        elif not isinstance(task_id, str) or not TASK_ID_RE.match(task_id):
            problems.append(
                problem(
                    "taskId",
                    f"taskId must be 1-200 letters, digits, '-' or '_', starting with a letter or digit (got {task_id!r})",
                )
            )
        elif task_id in RESERVED_TASK_IDS:
            problems.append(problem("taskId", f'taskId "{task_id}" is reserved; choose another'))
    if "name" in doc or not partial:
        name = doc.get("name")
        if not isinstance(name, str) or not name.strip():
            problems.append(problem("name", "name is required and must be a non-empty string"))
        elif len(name) > 300:
            problems.append(problem("name", "name must be at most 300 characters"))
    for key in ("description", "template", "templateVersion", "version", "category"):
        check_optional_string(doc, key, "", problems)
    if isinstance(doc.get("category"), str) and len(doc["category"]) > 100:
        problems.append(problem("category", "category must be at most 100 characters"))
    if "tags" in doc:
        tags = doc["tags"]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            problems.append(problem("tags", "tags must be a list of strings"))
    if "priority" in doc:
        check_priority(doc["priority"], "priority", problems)
    for key in ("timeout", "maxRetries", "retryDelay"):
        check_non_negative_int(doc, key, "", problems)
    if "enabled" in doc and not isinstance(doc["enabled"], bool):
        problems.append(problem("enabled", "enabled must be true or false"))

    parameters = doc.get("parameters", {})
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, Mapping):
        problems.append(problem("parameters", "parameters must be an object of name: value"))
        parameters = {}
    for name in parameters:
        if not PARAMETER_NAME_RE.match(name):
            problems.append(
                problem(
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
                warnings=warnings,
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
                warnings=warnings,
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
    warnings: list[Problem] | None = None,
) -> list[Problem]:
    """Problems with a list of workflow nodes (shared with templates, whose
    parameters are declared rather than given: pass no ``parameter_values`` and
    parameter references are left to run time in the schema check)."""
    if nodes is None:
        return [problem(path, "workflows is required: a list of workflow nodes")]
    if not isinstance(nodes, list):
        return [problem(path, "workflows must be a list of workflow nodes")]
    if not nodes:
        return [problem(path, "workflows must contain at least one workflow node")]
    secret_exists = secret_exists or secret_exists_in_db()
    problems: list[Problem] = []
    first_index: dict[str, int] = {}

    for index, node in enumerate(nodes):
        node_path = join(path, index)
        if not isinstance(node, Mapping):
            problems.append(problem(node_path, "a workflow node must be an object"))
            continue
        node_id = node.get("id")
        if node_id is None or node_id == "":
            problems.append(problem(join(node_path, "id"), "id is required"))
        elif not isinstance(node_id, str) or not NODE_ID_RE.match(node_id):
            problems.append(
                problem(
                    join(node_path, "id"),
                    f"id must be letters, digits, '-' or '_' (got {node_id!r})",
                )
            )
        elif node_id in parameter_names:
            problems.append(
                problem(
                    join(node_path, "id"),
                    f'node id "{node_id}" is also a parameter name; ${{{node_id}}} would be ambiguous',
                )
            )
        elif node_id in first_index:
            problems.append(
                problem(
                    join(node_path, "id"),
                    f'duplicate node id "{node_id}" (first used by {join(path, first_index[node_id])})',
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
            problem(
                join(join(path, cycle_start), "dependsOn"),
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
                    join(path, index),
                    graph=graph,
                    known_ids=set(graph.nodes),
                    parameter_names=parameter_names,
                    parameter_values=parameter_values,
                    secret_exists=secret_exists,
                    warnings=warnings,
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
    warnings: list[Problem] | None = None,
) -> list[Problem]:
    """Problems with one node. A node whose id repeats an earlier one gets no
    checks of its links: which node its id means is ambiguous until it is fixed."""
    problems: list[Problem] = []
    node_id = node.get("id") if isinstance(node.get("id"), str) else None
    label = node_id or path
    # Inside a cycle a node is its own ancestor; the cycle is reported once, elsewhere.
    ancestors = graph.ancestors(node_id) - {node_id} if node_id in known_ids else set()

    check_optional_string(node, "name", path, problems)
    check_optional_string(node, "description", path, problems)
    kind = None
    workflow = node.get("workflow")
    if not isinstance(workflow, str) or not workflow:
        problems.append(
            problem(join(path, "workflow"), "workflow is required: the name of a workflow kind")
        )
    else:
        try:
            kind = registry.get(workflow)
        except registry.UnknownWorkflowKind:
            problems.append(problem(join(path, "workflow"), f'unknown workflow kind "{workflow}"'))

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
            problems.append(problem(join(path, "execution"), "execution must be an object"))
        else:
            for key in ("timeout", "retryAttempts", "retryDelay"):
                check_non_negative_int(execution, key, join(path, "execution"), problems)
            if "priority" in execution:
                check_priority(
                    execution["priority"], join(join(path, "execution"), "priority"), problems
                )
    if "stopOnFailure" in node and not isinstance(node["stopOnFailure"], bool):
        problems.append(problem(join(path, "stopOnFailure"), "stopOnFailure must be true or false"))

    config = node.get("config", {})
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        problems.append(problem(join(path, "config"), "config must be an object"))
        return problems
    if not duplicate:
        problems.extend(
            check_references(
                config,
                join(path, "config"),
                label=label,
                ancestors=ancestors,
                known_ids=known_ids,
                parameter_names=parameter_names,
                secret_exists=secret_exists,
                warnings=warnings,
            )
        )
    if kind is not None:
        problems.extend(
            _check_schema(config, kind.config_schema, join(path, "config"), parameter_values)
        )
    problems.extend(
        problem(where, message)
        for where, message in url_problems(
            _substitute_parameters(config, parameter_values or {}), join(path, "config")
        )
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
        problems.append(problem(join(path, "dependsOn"), "dependsOn must be a list of node ids"))
        depends = []
    seen_deps: set[str] = set()
    for position, dep in enumerate(depends):
        dep_path = join(join(path, "dependsOn"), position)
        if not isinstance(dep, str):
            problems.append(problem(dep_path, "a dependency must be a node id (string)"))
        elif dep not in known_ids:
            problems.append(problem(dep_path, f'{label} depends on unknown node "{dep}"'))
        elif dep in seen_deps:
            problems.append(problem(dep_path, f'"{dep}" is listed twice'))
        else:
            seen_deps.add(dep)

    input_from = node.get("inputFrom")
    if input_from is not None:
        source = input_from[: -len(".output")] if isinstance(input_from, str) else None
        if not isinstance(input_from, str) or not input_from.endswith(".output") or not source:
            problems.append(
                problem(
                    join(path, "inputFrom"),
                    f'inputFrom must be "<node id>.output" (got {input_from!r})',
                )
            )
        elif source not in known_ids:
            problems.append(
                problem(join(path, "inputFrom"), f'inputFrom names unknown node "{source}"')
            )
        elif source not in ancestors:
            problems.append(
                problem(
                    join(path, "inputFrom"),
                    f'inputFrom "{input_from}": {source} is not upstream of {label}; add it to dependsOn',
                )
            )

    if node.get("condition") is not None:
        problems.extend(
            _validate_condition(
                node["condition"],
                join(path, "condition"),
                label=label,
                ancestors=ancestors,
                direct=seen_deps,
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
    direct: set[str],
    known_ids: set[str],
    parameter_names: set[str],
) -> list[Problem]:
    if not isinstance(condition, Mapping):
        return [problem(path, "condition must be an object with a type")]
    kind = condition.get("type")
    if kind == "expression":
        expression = condition.get("expression")
        expr_path = join(path, "expression")
        if not isinstance(expression, str) or not expression.strip():
            return [problem(expr_path, "an expression condition needs an expression string")]
        known = parameter_names | known_ids
        syntax_error = check_syntax(expression, known=known)
        if syntax_error:
            return [problem(expr_path, syntax_error)]
        problems: list[Problem] = []
        for name in sorted(expression_names(expression, known=known)):
            if name in parameter_names or name in direct:
                continue
            if name in known_ids:
                message = (
                    f'condition reads "{name}", which is not a direct dependency of {label}; '
                    "add it to dependsOn"
                )
            else:
                message = f'condition reads "{name}", which is not a parameter or an upstream node of {label}'
            problems.append(problem(expr_path, message))
        return problems
    if kind == "content-change":
        threshold = condition.get("threshold")
        problems = []
        if not is_number(threshold) or not 0 <= threshold <= 1:
            problems.append(
                problem(
                    join(path, "threshold"),
                    f"threshold must be a number from 0 to 1 (got {threshold!r})",
                )
            )
        if not ancestors:
            problems.append(
                problem(
                    path, f"a content-change condition needs an upstream node; {label} has none"
                )
            )
        return problems
    return [
        problem(
            join(path, "type"),
            f"condition type must be expression or content-change (got {kind!r})",
        )
    ]


def missing_secrets(
    *,
    workflows: Any,
    parameters: Mapping[str, Any] | None,
    channels: Any = None,
    secret_exists: SecretExists | None = None,
) -> list[str]:
    """Names of the secrets that a task's nodes and channels reference but the
    store does not hold, sorted. A bare ``${name}`` that is no parameter and no
    node id is a secret reference (the seed's ``${webhookToken}``). Costs one
    query, and none when nothing refers to a secret. Checked when a run starts
    (``engine.execution_create`` raises ``SecretsMissing``)."""
    node_ids = {n.get("id") for n in workflows or [] if isinstance(n, Mapping)}
    names = set(parameters or {})
    candidates: set[str] = set()
    for ref in find_references([workflows or [], channels or []]):
        try:
            root, steps = parse_path(ref)
        except UnresolvedReference:
            continue
        if root and not steps and root not in names and root not in node_ids:
            candidates.add(root)
    if not candidates:
        return []
    if secret_exists is None:
        from orchestration.models import Secret

        present = set(Secret.objects.filter(name__in=candidates).values_list("name", flat=True))
        return sorted(candidates - present)
    return sorted(name for name in candidates if not secret_exists(name))


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
            error_path = join(error_path, step)
        problems.append(problem(error_path, error.message))
    return problems
