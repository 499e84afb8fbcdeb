"""Checking task definitions: every problem at once, each with its JSON path.

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
from dataclasses import replace
from typing import Any, cast

import jsonschema

from orchestration import blocks, contract, registry
from orchestration.definition_checks import (
    Problem,
    Scope,
    SecretExists,
    check_references,
    join,
    problem,
    secret_exists_in_db,
)
from orchestration.expressions import check_syntax, expression_names
from orchestration.graph import Graph
from orchestration.references import (
    UnresolvedReference,
    find_references,
    parse_path,
    with_parameters,
)
from orchestration.schemavalues import whole_numbers_to_int
from orchestration.shapes import TaskDefinition
from orchestration.urlpolicy import url_problems

# Where the blocks' problems go among the others (after workflows).
BLOCK_ORDER = ("schedule", "notificationChannels", "resourceRequirements")


_STEP_RE = re.compile(r"\[(\d+)\]|\.?([^.\[]+)")


def _order(problems: list[Problem], keys: list[str], doc: Any = None) -> list[Problem]:
    """``problems`` in document order: top-level keys in ``keys`` order, list
    items by index, a node's fields in the schema's order, other keys in the
    order ``doc`` has them (missing keys after, in report order)."""
    node_fields = list(contract.core_schema("task-definition")["$defs"]["node"]["properties"])

    def rank(item: Problem) -> list[int]:
        value, key = doc, []
        steps: list[str | int] = [int(index) if index else name for index, name in _STEP_RE.findall(item["path"])]
        for depth, step in enumerate(steps):
            if isinstance(step, int):
                key.append(step)
            else:
                in_node = depth == 2 and steps[0] == "workflows" and step in node_fields
                doc_order = list(value) if isinstance(value, Mapping) else []
                order = keys if depth == 0 else node_fields if in_node else doc_order
                key.append(order.index(step) if step in order else len(order))
            if isinstance(value, Mapping):
                value = value.get(step)
            else:
                value = value[step] if isinstance(value, list) and isinstance(step, int) and step < len(value) else None
        return key

    return sorted(problems, key=rank)


def checked(doc: Mapping[str, Any]) -> TaskDefinition:
    """``doc`` typed as a checked task definition, for the code that reads it
    after :func:`validate_task_definition` found no problem (mypy then checks
    the keys it reads against ``orchestration.shapes.TaskDefinition``)."""
    return cast(TaskDefinition, doc)


def normalise_definition(doc: Any, name: str = "task-definition") -> Any:
    """``doc`` with every whole-number float in an integer-typed field made an
    ``int``: the fields of the published schema ``name`` (``maxRetries: 2.0``,
    ``execution.retryAttempts``, the schedule block's ``interval`` ...) and
    each node's config per its kind's schema (``"topKeywords": 8.0`` -> ``8``,
    issue 12.6; nodes of an unknown kind are left as they are).

    JSON Schema counts ``2.0`` as an integer, so the server normalises instead
    of refusing: what the published schema accepts, the server accepts, and
    code downstream sees ``2``. Returns a new document; anything that is not
    an object is returned unchanged (validation reports it)."""
    if not isinstance(doc, Mapping):
        return doc
    documents = {f"{other}.json": contract.schema(other) for other in contract.SCHEMA_NAMES}
    normalised = whole_numbers_to_int(contract.schema(name), dict(doc), documents=documents)
    if isinstance(normalised.get("workflows"), list):
        normalised["workflows"] = nodes = list(normalised["workflows"])
        for index, node in enumerate(nodes):
            kind = node.get("workflow") if isinstance(node, Mapping) else None
            if isinstance(kind, str) and registry.exists(kind) and isinstance(node.get("config"), Mapping):
                config = whole_numbers_to_int(registry.get(kind).config_schema, dict(node["config"]))
                nodes[index] = {**node, "config": config}
    return normalised


def validate_task_definition(
    doc: Any, *, partial: bool = False, secret_exists: SecretExists | None = None, warnings: list[Problem] | None = None
) -> list[Problem]:
    """Every problem with a task definition, each ``{"path", "message"}``; an
    empty list means the definition is valid. With ``partial`` missing keys
    are not reported (the document is a fragment to be merged). Given a
    ``warnings`` list, references to secrets that do not exist yet are added
    there instead of being problems (see ``check_references``)."""
    doc = normalise_definition(doc)
    problems = contract.schema_problems(doc, "task-definition", skip=[b.name for b in blocks.registered()])
    if not isinstance(doc, Mapping):
        return problems
    if partial:
        problems = [p for p in problems if "." in p["path"] or "[" in p["path"] or p["path"] in doc]
    parameters = doc["parameters"] if isinstance(doc.get("parameters"), Mapping) else {}
    scope = Scope(set(parameters), secret_exists or secret_exists_in_db(), warnings)
    problems += validate_body(doc, scope, parameters=parameters)
    core = [key for key in contract.core_schema("task-definition")["properties"] if key != "errorHandling"]
    return _order(problems, [*core, *BLOCK_ORDER, "errorHandling"], doc)


def validate_body(doc: Mapping[str, Any], scope: Scope, *, parameters: Mapping[str, Any] | None) -> list[Problem]:
    """The semantic problems of a task definition or a template, whose
    structure the caller has checked: its ``workflows`` nodes, the registered
    blocks present in ``doc`` (each by its app's parser; a null block is left
    out) and the ``${...}`` references in ``notificationChannels``.
    ``parameters`` are a task's parameter values; a template's are only
    declared (None), so references to them are left to run time."""
    problems = validate_nodes(doc.get("workflows"), scope, parameter_values=parameters, structure=False)
    for block in blocks.registered():
        if doc.get(block.name) is not None:
            problems += block.parse(doc[block.name], block.name, parameters=parameters).errors
    channels = doc.get("notificationChannels")
    for index, channel in enumerate(channels if isinstance(channels, list) else []):
        if isinstance(channel, Mapping) and isinstance(channel.get("config"), Mapping):
            problems += check_references(channel["config"], f"notificationChannels[{index}].config", scope)
    return problems


def validate_nodes(
    nodes: Any,
    scope: Scope,
    *,
    path: str = "workflows",
    parameter_values: Mapping[str, Any] | None = None,
    structure: bool = True,
) -> list[Problem]:
    """Problems with a list of workflow nodes whose references may name what
    ``scope`` holds. With ``structure`` the list is first checked against the
    schema's ``$defs/workflows`` and the problems are put in document order.
    Without ``parameter_values`` (parameters declared only, as in a template)
    references to parameters are left to run time."""
    problems = []
    if structure:
        problems = contract.schema_problems(nodes, "task-definition", definition="workflows", prefix=path)
    if not isinstance(nodes, list):
        return problems
    first_seen: dict[str, int] = {}
    for index, node in enumerate(nodes):
        node_id = node.get("id") if isinstance(node, Mapping) else None
        first = first_seen.setdefault(node_id, index) if isinstance(node_id, str) else index
        if not isinstance(node_id, str) or not node_id:
            continue
        where = join(join(path, index), "id")
        if node_id in scope.parameter_names:
            message = f'node id "{node_id}" is also a parameter name; ${{{node_id}}} would be ambiguous'
            problems.append(problem(where, message))
        elif first != index:
            problems.append(problem(where, f'duplicate node id "{node_id}" (first used by {join(path, first)})'))

    graph = Graph.from_nodes(n for n in nodes if isinstance(n, Mapping))
    if cycle := graph.find_cycle():
        where = join(join(path, first_seen[cycle[0]]), "dependsOn")
        problems.append(problem(where, "dependency cycle: " + " -> ".join(cycle)))
    scope = replace(scope, known_ids=frozenset(graph.nodes))
    for index, node in enumerate(nodes):
        if isinstance(node, Mapping):
            node_id = node.get("id") if isinstance(node.get("id"), str) else None
            # Inside a cycle a node is its own ancestor; the cycle is reported once, above.
            ancestors = frozenset(graph.ancestors(node_id) - {node_id}) if node_id in graph.nodes else frozenset()
            in_node = replace(scope, label=node_id or join(path, index), ancestors=ancestors)
            duplicate = node_id is not None and first_seen[node_id] != index
            problems += _validate_node(node, join(path, index), in_node, parameter_values, duplicate)
    return _order(problems, [path], {path: nodes}) if structure else problems


def _validate_node(
    node: Mapping[str, Any], path: str, scope: Scope, parameter_values: Mapping[str, Any] | None, duplicate: bool
) -> list[Problem]:
    """Semantic problems with one node (its structure is the schema's). A node
    whose id repeats an earlier one gets no checks of its links: which node its
    id means is ambiguous until it is fixed. Its config is checked against its
    kind's schema, and URLs against the policy, with parameters substituted."""
    problems: list[Problem] = []
    kind = None
    kind_name = node.get("workflow")  # the seed's key for a node's kind
    if isinstance(kind_name, str) and kind_name:
        try:
            kind = registry.get(kind_name)
        except registry.UnknownNodeKind:
            problems.append(problem(join(path, "workflow"), f'unknown workflow kind "{kind_name}"'))
    config = node.get("config") or {}
    if not duplicate:
        problems += _check_links(node, path, scope)
    if not isinstance(config, Mapping):
        return problems
    if not duplicate:
        problems += check_references(config, join(path, "config"), scope)
    instance = with_parameters(config, parameter_values or {}, everywhere=False)
    if kind is not None:
        checker = jsonschema.Draft202012Validator(kind.config_schema)
        problems += contract.problems_from(checker, instance, prefix=join(path, "config"), skip_references=True)
    return problems + [problem(where, message) for where, message in url_problems(instance, join(path, "config"))]


def _check_links(node: Mapping[str, Any], path: str, scope: Scope) -> list[Problem]:
    """Problems with how a node refers to others: dependsOn, inputFrom, condition."""
    problems: list[Problem] = []
    depends = node.get("dependsOn")
    direct: set[str] = set()
    for position, dep in enumerate(depends if isinstance(depends, list) else []):
        where = join(join(path, "dependsOn"), position)
        if isinstance(dep, str) and dep not in scope.known_ids:
            problems.append(problem(where, f'{scope.label} depends on unknown node "{dep}"'))
        elif isinstance(dep, str) and dep in direct:
            problems.append(problem(where, f'"{dep}" is listed twice'))
        elif isinstance(dep, str):
            direct.add(dep)

    source = node.get("inputFrom")
    if isinstance(source, str) and source.endswith(".output") and source != ".output":
        name = source.removesuffix(".output")
        if name not in scope.known_ids:
            problems.append(problem(join(path, "inputFrom"), f'inputFrom names unknown node "{name}"'))
        elif name not in scope.ancestors:
            message = f'inputFrom "{source}": {name} is not upstream of {scope.label}; add it to dependsOn'
            problems.append(problem(join(path, "inputFrom"), message))

    condition = node.get("condition")
    if isinstance(condition, Mapping):
        problems += _validate_condition(condition, join(path, "condition"), scope, direct)
    return problems


def _validate_condition(condition: Mapping[str, Any], path: str, scope: Scope, direct: set[str]) -> list[Problem]:
    """Semantic problems of a condition: what an expression reads (parameters
    and direct dependencies), and that a content-change condition has an
    upstream node to compare."""
    kind, expression = condition.get("type"), condition.get("expression")
    if kind == "content-change" and not scope.ancestors:
        return [problem(path, f"a content-change condition needs an upstream node; {scope.label} has none")]
    if kind != "expression" or not isinstance(expression, str) or not expression.strip():
        return []
    known = scope.parameter_names | scope.known_ids
    syntax_error = check_syntax(expression, known=known)
    if syntax_error:
        return [problem(join(path, "expression"), syntax_error)]
    problems: list[Problem] = []
    for name in sorted(expression_names(expression, known=known) - scope.parameter_names - direct):
        if name in scope.known_ids:
            message = f'condition reads "{name}", which is not a direct dependency of {scope.label}; '
            message += "add it to dependsOn"
        else:
            message = f'condition reads "{name}", which is not a parameter or an upstream node of {scope.label}'
        problems.append(problem(join(path, "expression"), message))
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
