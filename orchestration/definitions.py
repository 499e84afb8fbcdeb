"""Task definitions: validation (every problem at once, each with its JSON path)
and conversion between the seed's camelCase document and the Task model.

Who checks what: the structure (fields, types, enums, required keys) is the
published JSON Schema's (``orchestration.contract``); each block a feature app
owns (``schedule``, ``notificationChannels``, ``resourceRequirements``) is its
registered parser's (``orchestration.blocks``); this module checks what a
schema cannot say: the graph, references, expressions, kinds' config schemas
and the URL policy.

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
from typing import Any, cast

import jsonschema

from orchestration import blocks, contract, registry
from orchestration.definition_checks import (
    Problem,
    SecretExists,
    check_references,
    join,
    problem,
    secret_exists_in_db,
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
from orchestration.schemavalues import whole_numbers_to_int
from orchestration.shapes import TaskDefinition
from orchestration.urlpolicy import url_problems

__all__ = [
    "Problem",
    "checked",
    "definition_to_fields",
    "normalise_definition",
    "normalise_nodes",
    "secret_exists_in_db",
    "task_to_definition",
    "validate_blocks",
    "validate_nodes",
    "validate_task_definition",
]

# Names the API uses in /api/v1/tasks/<name>/ for actions on the collection.
RESERVED_TASK_IDS = frozenset({"validate"})
# Where the blocks' problems go among the others (after workflows).
BLOCK_ORDER = ("schedule", "notificationChannels", "resourceRequirements")


_STEP_RE = re.compile(r"\[(\d+)\]|\.?([^.\[]+)")


def _order(problems: list[Problem], keys: list[str], doc: Any = None) -> list[Problem]:
    """``problems`` in document order: top-level keys in ``keys`` order, list
    items by index, a node's fields in the schema's order, other keys in the
    order ``doc`` has them (missing keys after, in report order)."""
    node_fields = list(contract.core_schema("task-definition")["$defs"]["node"]["properties"])

    def rank(item: Problem) -> list[tuple[int, int]]:
        key: list[tuple[int, int]] = []
        value, top = doc, ""
        for depth, match in enumerate(_STEP_RE.finditer(item["path"])):
            step: str | int = int(match.group(1)) if match.group(1) else match.group(2)
            if depth == 0:
                top = str(step)
            if isinstance(step, int):
                key.append((0, step))
            elif depth == 0:
                key.append((0, keys.index(step) if step in keys else len(keys)))
            elif depth == 2 and top == "workflows" and step in node_fields:
                key.append((0, node_fields.index(step)))
            else:
                order = list(value) if isinstance(value, Mapping) else []
                key.append((0, order.index(step) if step in order else len(order)))
            if isinstance(value, Mapping):
                value = value.get(step)
            elif isinstance(value, list) and isinstance(step, int) and step < len(value):
                value = value[step]
            else:
                value = None
        return key

    return sorted(problems, key=rank)


def checked(doc: Mapping[str, Any]) -> TaskDefinition:
    """``doc`` typed as a checked task definition, for the code that reads it
    after :func:`validate_task_definition` found no problem (mypy then checks
    the keys it reads against ``orchestration.shapes.TaskDefinition``)."""
    return cast(TaskDefinition, doc)


def normalise_nodes(nodes: Any) -> Any:
    """``nodes`` (a list of workflow nodes) with each node's ``config`` made
    to follow its kind's JSON Schema: whole-number floats in integer fields
    become ints (``"topKeywords": 8.0`` -> ``8``, issue 12.6). Nodes of an
    unknown kind, and anything that is not a node, are left as they are."""
    if not isinstance(nodes, list):
        return nodes
    out = []
    for node in nodes:
        if isinstance(node, Mapping) and isinstance(node.get("config"), Mapping) and isinstance(node.get("workflow"), str):
            try:
                kind = registry.get(node["workflow"])
            except registry.UnknownNodeKind:
                kind = None
            if kind is not None:
                node = {**node, "config": whole_numbers_to_int(kind.config_schema, dict(node["config"]))}
        out.append(node)
    return out


def normalise_definition(doc: Any, name: str = "task-definition") -> Any:
    """``doc`` with every whole-number float in an integer-typed field made an
    ``int``: the fields of the published schema ``name`` (``maxRetries: 2.0``,
    ``execution.retryAttempts``, the schedule block's ``interval`` ...) and
    each node's config per its kind's schema (:func:`normalise_nodes`).

    JSON Schema counts ``2.0`` as an integer, so the server normalises instead
    of refusing: what the published schema accepts, the server accepts, and
    code downstream sees ``2``. Returns a new document; anything that is not
    an object is returned unchanged (validation reports it)."""
    if not isinstance(doc, Mapping):
        return doc
    documents = {f"{other}.json": contract.schema(other) for other in contract.SCHEMA_NAMES}
    normalised = whole_numbers_to_int(contract.schema(name), dict(doc), documents=documents)
    if "workflows" in normalised:
        normalised["workflows"] = normalise_nodes(normalised["workflows"])
    return normalised


def validate_task_definition(
    doc: Any,
    *,
    partial: bool = False,
    secret_exists: SecretExists | None = None,
    warnings: list[Problem] | None = None,
) -> list[Problem]:
    """Every problem with a task definition, each ``{"path", "message"}``; an
    empty list means the definition is valid. Structure is checked by the
    published JSON Schema (``orchestration.contract``), each block by the parser
    its app registered (``orchestration.blocks``), the rest here. With
    ``partial`` missing keys are not reported (the document is a fragment to be
    merged). Given a ``warnings`` list, references to secrets that do not exist
    yet are added there instead of being problems (see ``check_references``)."""
    doc = normalise_definition(doc)
    names = [b.name for b in blocks.registered()]
    problems = contract.schema_problems(doc, "task-definition", skip=names)
    if not isinstance(doc, Mapping):
        return problems
    if partial:
        problems = [p for p in problems if "." in p["path"] or "[" in p["path"] or p["path"] in doc]
    secret_exists = secret_exists or secret_exists_in_db()
    task_id = doc.get("taskId")
    if isinstance(task_id, str) and task_id in RESERVED_TASK_IDS:
        problems.append(problem("taskId", f'taskId "{task_id}" is reserved; choose another'))
    parameters = doc.get("parameters")
    parameters = parameters if isinstance(parameters, Mapping) else {}
    if isinstance(doc.get("workflows"), list):
        problems.extend(
            validate_nodes(
                doc["workflows"],
                parameter_names=set(parameters),
                parameter_values=parameters,
                secret_exists=secret_exists,
                warnings=warnings,
                structure=False,
            )
        )
    problems.extend(
        validate_blocks(doc, parameters=parameters, secret_exists=secret_exists, warnings=warnings)
    )
    core = [key for key in contract.core_schema("task-definition")["properties"] if key != "errorHandling"]
    return _order(problems, [*core, *BLOCK_ORDER, "errorHandling"], doc)


def validate_blocks(
    doc: Mapping[str, Any],
    *,
    parameters: Mapping[str, Any] | None,
    secret_exists: SecretExists,
    warnings: list[Problem] | None = None,
    prefix: str = "",
    parameter_names: set[str] | None = None,
) -> list[Problem]:
    """Problems of the registered blocks present in ``doc`` (each by its app's
    parser; a null block is left out), and of the ``${...}`` references in
    ``notificationChannels`` (parameters and secrets only: no node output
    exists there). ``parameters`` None: declared only (a template), whose
    names are then ``parameter_names``."""
    problems: list[Problem] = []
    for block in blocks.registered():
        value = doc.get(block.name)
        if value is None:
            continue
        path = join(prefix, block.name)
        problems.extend(block.parse(value, path, parameters=parameters).errors)
    channels = doc.get("notificationChannels")
    if isinstance(channels, list):
        for index, channel in enumerate(channels):
            if isinstance(channel, Mapping) and isinstance(channel.get("config"), Mapping):
                problems.extend(
                    check_references(
                        channel["config"],
                        join(join(join(prefix, "notificationChannels"), index), "config"),
                        label=None,
                        ancestors=set(),
                        known_ids=set(),
                        parameter_names=set(parameters or {}) if parameter_names is None else parameter_names,
                        secret_exists=secret_exists,
                        warnings=warnings,
                    )
                )
    return problems


def validate_nodes(
    nodes: Any,
    *,
    parameter_names: set[str],
    path: str = "workflows",
    parameter_values: Mapping[str, Any] | None = None,
    secret_exists: SecretExists | None = None,
    warnings: list[Problem] | None = None,
    structure: bool = True,
) -> list[Problem]:
    """Problems with a list of workflow nodes (shared with templates, whose
    parameters are declared rather than given: pass no ``parameter_values`` and
    parameter references are left to run time in the schema check). With
    ``structure`` the list is first checked against the schema's
    ``$defs/workflows``; without it, the caller has done that."""
    problems: list[Problem] = []
    if structure:
        problems = contract.schema_problems(nodes, "task-definition", definition="workflows", prefix=path)
    if not isinstance(nodes, list):
        return problems
    secret_exists = secret_exists or secret_exists_in_db()
    first_index: dict[str, int] = {}

    for index, node in enumerate(nodes):
        node_id = node.get("id") if isinstance(node, Mapping) else None
        if not isinstance(node_id, str) or not node_id:
            continue
        if node_id in parameter_names:
            problems.append(
                problem(
                    join(join(path, index), "id"),
                    f'node id "{node_id}" is also a parameter name; ${{{node_id}}} would be ambiguous',
                )
            )
        elif node_id in first_index:
            problems.append(
                problem(
                    join(join(path, index), "id"),
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
    return _order(problems, [path], {path: nodes}) if structure else problems


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
    """Semantic problems with one node (its structure is the schema's). A node
    whose id repeats an earlier one gets no checks of its links: which node its
    id means is ambiguous until it is fixed."""
    problems: list[Problem] = []
    node_id = node.get("id") if isinstance(node.get("id"), str) else None
    label = node_id or path
    # Inside a cycle a node is its own ancestor; the cycle is reported once, elsewhere.
    ancestors = graph.ancestors(node_id) - {node_id} if node_id in known_ids else set()

    kind = None
    kind_name = node.get("workflow")  # the seed's key for a node's kind
    if isinstance(kind_name, str) and kind_name:
        try:
            kind = registry.get(kind_name)
        except registry.UnknownNodeKind:
            problems.append(problem(join(path, "workflow"), f'unknown workflow kind "{kind_name}"'))

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

    config = node.get("config") or {}
    if not isinstance(config, Mapping):
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
    depends = node.get("dependsOn")
    seen_deps: set[str] = set()
    for position, dep in enumerate(depends if isinstance(depends, list) else []):
        dep_path = join(join(path, "dependsOn"), position)
        if not isinstance(dep, str):
            continue
        if dep not in known_ids:
            problems.append(problem(dep_path, f'{label} depends on unknown node "{dep}"'))
        elif dep in seen_deps:
            problems.append(problem(dep_path, f'"{dep}" is listed twice'))
        else:
            seen_deps.add(dep)

    input_from = node.get("inputFrom")
    if isinstance(input_from, str) and input_from.endswith(".output") and input_from != ".output":
        source = input_from[: -len(".output")]
        if source not in known_ids:
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

    condition = node.get("condition")
    if isinstance(condition, Mapping):
        problems.extend(
            _validate_condition(
                condition,
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
    condition: Mapping[str, Any],
    path: str,
    *,
    label: str,
    ancestors: set[str],
    direct: set[str],
    known_ids: set[str],
    parameter_names: set[str],
) -> list[Problem]:
    """Semantic problems of a condition: what an expression reads, and that a
    content-change condition has an upstream node to compare."""
    kind = condition.get("type")
    if kind == "content-change" and not ancestors:
        return [
            problem(path, f"a content-change condition needs an upstream node; {label} has none")
        ]
    expression = condition.get("expression")
    if kind != "expression" or not isinstance(expression, str) or not expression.strip():
        return []
    expr_path = join(path, "expression")
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
    """Problems of a node's config against its kind's schema, after whole-string
    parameter references are substituted (see the module docstring)."""
    instance = _substitute_parameters(config, parameter_values or {})
    checker = jsonschema.Draft202012Validator(schema)
    return contract.problems_from(checker, instance, prefix=path, skip_references=True)
