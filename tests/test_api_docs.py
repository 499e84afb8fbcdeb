"""The OpenAPI schema and its docs page, served without any CDN."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


def test_schema_describes_the_api(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/tasks/" in paths and "/api/v1/executions/{id}/cancel/" in paths


def test_docs_page_loads_its_assets_from_this_server(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(not a.startswith(("http://", "https://", "//")) for a in assets), assets


def _schema(client, admin_user):
    client.force_login(admin_user)
    return client.get("/api/schema/?format=json").json()


def test_every_operation_documents_its_error_statuses(client, admin_user):
    schema = _schema(client, admin_user)
    error_body = {"$ref": "#/components/schemas/ErrorResponse"}
    assert schema["components"]["schemas"]["ErrorResponse"]["required"] == ["errors"]
    operations = 0
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            operations += 1
            responses = operation["responses"]
            security = operation.get("security", schema.get("security", []))
            public = not security or {} in security  # e.g. the published definition schemas
            expected = set() if public else {"401", "403"}
            if "{" in path:
                expected.add("404")
            if "requestBody" in operation:
                expected |= {"400", "415"}
            assert expected <= set(responses), (method, path, sorted(responses))
            for code in expected:
                assert responses[code]["content"]["application/json"]["schema"] == error_body
    assert operations > 50
    public_paths = {
        path for path, item in schema["paths"].items()
        for operation in item.values() if isinstance(operation, dict)
        and (not operation.get("security", schema.get("security", [])) or {} in operation.get("security", []))
    }
    assert public_paths == {"/api/v1/schemas/{name}.json"}


def test_values_that_can_be_empty_are_nullable_and_lists_are_arrays(client, admin_user):
    schema = _schema(client, admin_user)
    components = schema["components"]["schemas"]
    for component, field in (
        ("Execution", "startedAt"),
        ("Execution", "durationSeconds"),
        ("Execution", "retryOf"),
        ("NodeRun", "finishedAt"),
        ("Alert", "resolvedAt"),
        ("Channel", "lastSuccessAt"),
        ("Delivery", "sentAt"),
    ):
        # OpenAPI 3.1: a nullable value has "null" among its types.
        assert "null" in components[component]["properties"][field]["type"], (component, field)
    # Present only in the answer that made a webhook token.
    assert "webhookUrl" not in components["Schedule"]["required"]
    for path in ("/api/v1/workflows/", "/api/v1/browser-sessions/"):
        body = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        assert body["schema"]["type"] == "array", path


def test_fields_of_nullable_columns_allow_null_in_every_api_serializer():
    """The generic kind behind the nullable findings: a serializer field that
    reads a nullable column must say so (``allow_null``), or the schema lies."""
    import importlib
    import inspect

    from django.core.exceptions import FieldDoesNotExist
    from rest_framework import serializers

    modules = ["monitoring.serializers", "orchestration.api.serializers"]
    checked = []
    for module_name in modules:
        module = importlib.import_module(module_name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            meta = getattr(cls, "Meta", None)
            if not issubclass(cls, serializers.ModelSerializer) or meta is None:
                continue
            for field_name, field in cls().fields.items():
                if field.source == "*" or "." in field.source:
                    continue
                try:
                    column = meta.model._meta.get_field(field.source.removesuffix("_id"))
                except FieldDoesNotExist:
                    continue
                if column.null:
                    checked.append((name, field_name))
                    assert field.allow_null, f"{name}.{field_name} reads a nullable column"
    assert ("ExecutionSerializer", "startedAt") in checked and ("AlertSerializer", "resolvedAt") in checked


def test_the_schema_and_docs_need_the_viewer_role_while_definition_schemas_stay_public(client, role_user):
    """README: an account with no role gets 403 from the API; the OpenAPI
    document and its docs page answered 200 to anonymous and no-role accounts."""
    for path in ("/api/schema/?format=json", "/api/docs/"):
        assert client.get(path).status_code in (401, 403), path
    client.force_login(role_user(None, username="norole-docs"))
    for path in ("/api/schema/?format=json", "/api/docs/"):
        assert client.get(path).status_code == 403, path
    client.force_login(role_user("viewer", username="viewer-docs"))
    assert client.get("/api/schema/?format=json").status_code == 200
    assert client.get("/api/docs/").status_code == 200
    client.logout()
    assert client.get("/api/v1/schemas/task-definition.json").status_code == 200


DEFINITION_BODIES = (
    ("post", "/api/v1/tasks/", "task-definition"),
    ("put", "/api/v1/tasks/{taskId}/", "task-definition"),
    ("post", "/api/v1/tasks/validate/", "task-definition"),
    ("post", "/api/v1/templates/", "template-definition"),
    ("put", "/api/v1/templates/{template_id}/", "template-definition"),
)


def _as_served(value, owner, components):
    """An embedded schema with its ``$ref``s written back the way the served
    file has them (``#/$defs/...`` inside the owner, ``<file>.json#/...`` to
    the other document)."""
    if isinstance(value, dict):
        out = {}
        for key, child in value.items():
            if key == "$ref" and child.startswith("#/components/schemas/"):
                component, _, fragment = child.removeprefix("#/components/schemas/").partition("/")
                target = components[component]
                child = f"#/{fragment}" if target == owner else f"{target}.json#/{fragment}"
            out[key] = _as_served(child, owner, components)
        return out
    if isinstance(value, list):
        return [_as_served(child, owner, components) for child in value]
    return value


def test_definition_request_bodies_refer_to_the_published_schemas(client, admin_user):
    """Issue 15.1: the request bodies of the task and template endpoints are
    the published definition schemas, the same content as the served files."""
    schema = _schema(client, admin_user)
    assert schema["openapi"].startswith("3.1")  # Schema Object = JSON Schema 2020-12
    components = {}
    for method, path, name in DEFINITION_BODIES:
        body = schema["paths"][path][method]["requestBody"]
        ref = body["content"]["application/json"]["schema"]["$ref"]
        assert ref.startswith("#/components/schemas/"), (method, path, ref)
        component = ref.removeprefix("#/components/schemas/")
        assert components.setdefault(component, name) == name, (method, path, component)
    assert len(components) == 2
    client.logout()
    for component, name in components.items():
        served = client.get(f"/api/v1/schemas/{name}.json").json()
        embedded = _as_served(schema["components"]["schemas"][component], name, components)
        assert embedded == {key: value for key, value in served.items() if key != "$id"}, name
        assert served["$id"] == f"{name}.json"


def test_a_definition_the_schema_accepts_is_accepted_and_one_it_refuses_is_refused(client, admin_user):
    """The embedded schema is what the server checks: a body valid against the
    OpenAPI component validates on the server, an invalid one does not."""
    import jsonschema

    schema = _schema(client, admin_user)
    component = schema["components"]["schemas"]["TaskDefinitionDocument"]
    # Resolve the component's $refs inside the OpenAPI document.
    validator = jsonschema.Draft202012Validator({**component, "components": schema["components"]})
    good = {"taskId": "doc-task", "name": "Doc", "workflows": [{"id": "a", "workflow": "echo"}]}
    bad = {**good, "priority": "urgent"}
    assert validator.is_valid(good) and not validator.is_valid(bad)
    assert client.post("/api/v1/tasks/validate/", good, content_type="application/json").json()["valid"] is True
    answer = client.post("/api/v1/tasks/validate/", bad, content_type="application/json").json()
    assert answer["valid"] is False and [e["path"] for e in answer["errors"]] == ["priority"]
