"""OpenAPI post-processing: every operation documents the errors it can answer.

Views declare their specific outcomes (201, 202, 409 ...); the statuses that
come from the framework itself are added here, all with the shared
``ErrorResponse`` body (``{"errors": [{"path", "message"}]}``):

* 400 when the operation takes parameters or a body (validation, NUL guard);
* 401 (no or bad credentials) and 403 (the account's role lacks the
  permission) on every authenticated operation;
* 404 when the path has a parameter (no such object) or the list is paged
  (a page past the last one);
* 415 when the operation takes a body (an unsupported content type).

A view's own declaration of one of these statuses is kept.
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA_NAME = "ErrorResponse"
ERROR_COMPONENTS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object",
        "properties": {
            "path": {
                "type": "string",
                "description": 'JSON path of the problem, e.g. "workflows[1].dependsOn[0]".',
            },
            "message": {"type": "string"},
        },
        "required": ["message", "path"],
    },
    ERROR_SCHEMA_NAME: {
        "type": "object",
        "properties": {"errors": {"type": "array", "items": {"$ref": "#/components/schemas/Error"}}},
        "required": ["errors"],
    },
}
DESCRIPTIONS = {
    "400": "The request is not valid; each error names the field.",
    "401": "No credentials, or credentials that are not valid.",
    "403": "The account may not do this.",
    "404": "No such object (or no such page).",
    "415": "The body's content type is not supported.",
}
METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")


def _error_response(code: str) -> dict[str, Any]:
    return {
        "description": DESCRIPTIONS[code],
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}}
        },
    }


def _is_authenticated(operation: dict[str, Any], default_security: list[Any]) -> bool:
    security = operation.get("security", default_security)
    return bool(security) and {} not in security


def add_error_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular ``POSTPROCESSING_HOOKS`` entry (see the module docstring)."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, component in ERROR_COMPONENTS.items():
        schemas.setdefault(name, component)
    default_security = result.get("security", [])
    for path, item in result.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            codes = []
            has_body = "requestBody" in operation
            if operation.get("parameters") or has_body:
                codes.append("400")
            if _is_authenticated(operation, default_security):
                codes += ["401", "403"]
            names = {p.get("name") for p in operation.get("parameters", [])}
            if "{" in path or "page" in names:
                codes.append("404")
            if has_body:
                codes.append("415")
            responses = operation.setdefault("responses", {})
            for code in codes:
                responses.setdefault(code, _error_response(code))
    return result



# The published definition schemas (``orchestration.contract``), embedded as
# components, and the operations whose request body is such a definition.
DEFINITION_COMPONENTS = {
    "task-definition": "TaskDefinitionDocument",
    "template-definition": "TemplateDefinitionDocument",
}
DEFINITION_BODIES = {
    "v1_tasks_create": "task-definition",
    "v1_tasks_update": "task-definition",
    "v1_tasks_validate_create": "task-definition",
    "templates_create": "template-definition",
    "templates_new_version": "template-definition",
}


def embedded_schema(name: str) -> dict[str, Any]:
    """The published schema ``name`` as the OpenAPI document embeds it: the
    served file without its ``$id``, each ``$ref`` rebased from the file
    (``#/$defs/node``, ``task-definition.json#/$defs/node``) to the component
    (``#/components/schemas/TaskDefinitionDocument/$defs/node``). Nothing else
    changes: the document is OpenAPI 3.1, whose Schema Object is JSON Schema
    2020-12, so the file needs no translation."""
    from orchestration import contract

    def rebase(value: Any) -> Any:
        if isinstance(value, dict):
            out = {}
            for key, child in value.items():
                if key == "$ref" and isinstance(child, str):
                    document, _, fragment = child.partition("#")
                    target = DEFINITION_COMPONENTS[document.removesuffix(".json") if document else name]
                    child = f"#/components/schemas/{target}{fragment}"
                out[key] = rebase(child)
            return out
        if isinstance(value, list):
            return [rebase(child) for child in value]
        return value

    doc = {key: value for key, value in contract.schema(name).items() if key != "$id"}
    rebased: dict[str, Any] = rebase(doc)
    return rebased


def add_definition_schemas(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular ``POSTPROCESSING_HOOKS`` entry: the published task and
    template definition schemas become the components named in
    ``DEFINITION_COMPONENTS`` (:func:`embedded_schema`), and the request body of
    each operation in ``DEFINITION_BODIES`` (create, replace and validate a
    task; create a template and a new version) is a JSON ``$ref`` to its one."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, component in DEFINITION_COMPONENTS.items():
        schemas[component] = embedded_schema(name)
    for item in result.get("paths", {}).values():
        for method in METHODS:
            operation = item.get(method)
            body = DEFINITION_BODIES.get(operation.get("operationId", "")) if operation else None
            if body is None:
                continue
            ref = {"$ref": f"#/components/schemas/{DEFINITION_COMPONENTS[body]}"}
            operation["requestBody"] = {"content": {"application/json": {"schema": ref}}, "required": True}
    return result
