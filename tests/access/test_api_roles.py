"""The role matrix against every operation of the generated OpenAPI document.

The expected role of each write is written here by hand (the rules of issue
16 / README "Roles"), independently of orchestration/access/policy.py; the
operations come from drf-spectacular's generator, so a new write endpoint
that nobody gave a role fails ``test_every_write_operation_has_an_expected_role``
and is refused to everyone (default-deny) until the policy names it.
"""

from __future__ import annotations

import re

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

ROLES = ["viewer", "operator", "editor", "admin"]

EXPECTED: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/alerts/{id}/ack/"): "operator",
    ("POST", "/api/v1/alerts/{id}/resolve/"): "operator",
    ("POST", "/api/v1/browser-sessions/"): "admin",
    ("DELETE", "/api/v1/browser-sessions/{site}/"): "admin",
    ("POST", "/api/v1/channels/"): "admin",
    ("PUT", "/api/v1/channels/{id}/"): "admin",
    ("PATCH", "/api/v1/channels/{id}/"): "admin",
    ("DELETE", "/api/v1/channels/{id}/"): "admin",
    ("POST", "/api/v1/channels/{id}/test/"): "admin",
    ("POST", "/api/v1/events/"): "operator",
    ("POST", "/api/v1/executions/{id}/cancel/"): "operator",
    ("POST", "/api/v1/executions/{id}/rerun/"): "operator",
    ("PATCH", "/api/v1/resources/pool/"): "admin",
    ("POST", "/api/v1/resources/requirements/"): "editor",
    ("POST", "/api/v1/sandbox/advance/"): "operator",
    ("POST", "/api/v1/sandbox/reset/"): "operator",
    ("POST", "/api/v1/schedules/"): "editor",
    ("PUT", "/api/v1/schedules/{id}/"): "editor",
    ("PATCH", "/api/v1/schedules/{id}/"): "editor",
    ("DELETE", "/api/v1/schedules/{id}/"): "editor",
    ("POST", "/api/v1/schedules/{id}/pause/"): "operator",
    ("POST", "/api/v1/schedules/{id}/resume/"): "operator",
    ("POST", "/api/v1/schedules/{id}/rotate-token/"): "editor",
    ("POST", "/api/v1/schedules/{id}/trigger/"): "operator",
    ("POST", "/api/v1/schedules/events/"): "operator",
    ("POST", "/api/v1/secrets/"): "admin",
    ("PUT", "/api/v1/secrets/{name}/"): "admin",
    ("PATCH", "/api/v1/secrets/{name}/"): "admin",
    ("DELETE", "/api/v1/secrets/{name}/"): "admin",
    ("POST", "/api/v1/tasks/"): "editor",
    ("PUT", "/api/v1/tasks/{taskId}/"): "editor",
    ("PATCH", "/api/v1/tasks/{taskId}/"): "editor",
    ("DELETE", "/api/v1/tasks/{taskId}/"): "editor",
    ("POST", "/api/v1/tasks/{taskId}/execute/"): "operator",
    ("POST", "/api/v1/tasks/validate/"): "editor",
    ("POST", "/api/v1/templates/"): "editor",
    ("PUT", "/api/v1/templates/{template_id}/"): "editor",
    ("POST", "/api/v1/templates/{template_id}/instantiate/"): "editor",
    ("POST", "/api/v1/templates/{template_id}/upgrade-task/"): "editor",
    ("POST", "/api/v1/workflows/"): "editor",
    ("PUT", "/api/v1/workflows/{name}/"): "editor",
    ("PATCH", "/api/v1/workflows/{name}/"): "editor",
    ("DELETE", "/api/v1/workflows/{name}/"): "editor",
}


def _operations() -> list[tuple[str, str, dict]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    found = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                found.append((method.upper(), path, operation))
    return found


OPERATIONS = _operations()
WRITES = [(m, p, op) for m, p, op in OPERATIONS if m != "GET"]
READS = [(m, p, op) for m, p, op in OPERATIONS if m == "GET"]


def _url(path: str, operation: dict) -> str:
    """The path with each parameter filled in with a value of its type (the
    object need not exist: the role check comes before the lookup)."""
    kinds = {
        p["name"]: (p.get("schema") or {}).get("type")
        for p in operation.get("parameters", [])
        if p.get("in") == "path"
    }
    return re.sub(
        r"\{(\w+)\}",
        lambda m: "987654" if kinds.get(m.group(1)) == "integer" or m.group(1) == "id" else "no-such-thing",
        path,
    )


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _call(client: APIClient, method: str, url: str):
    if method == "GET":
        return client.get(url)
    return getattr(client, method.lower())(url, {}, format="json")


def test_every_write_operation_has_an_expected_role():
    in_schema = {(m, p) for m, p, _ in WRITES}
    assert in_schema - set(EXPECTED) == set(), "write operations with no expected role"
    assert set(EXPECTED) - in_schema == set(), "expected roles for operations not in the schema"


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "operation"), WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
def test_a_write_is_refused_below_its_role_and_allowed_from_it(method, path, operation, role_user, admin_user):
    needed = EXPECTED.get((method, path))
    assert needed is not None, f"{method} {path} has no expected role"
    url = _url(path, operation)
    users = {role: role_user(role) for role in ROLES}
    users[None] = role_user(None)
    for role, user in users.items():
        response = _call(_client(user), method, url)
        if role is None or ROLES.index(role) < ROLES.index(needed):
            assert response.status_code == 403, (role, method, url, response.status_code)
            assert response.json()["errors"][0]["message"]
        else:
            assert response.status_code != 403, (role, method, url, response.content[:300])
    # Superusers are admins.
    assert _call(_client(admin_user), method, url).status_code != 403


# Public on purpose: the JSON Schemas of the definition contract (for editors' completion).
PUBLIC_READS = {"/api/v1/schemas/{name}.json"}


@pytest.mark.django_db
def test_an_account_without_a_role_reads_nothing_and_a_viewer_reads_everything(role_user):
    nobody, viewer = _client(role_user(None)), _client(role_user("viewer"))
    for _method, path, operation in READS:
        if path in PUBLIC_READS:
            continue
        url = _url(path, operation)
        refused = nobody.get(url)
        assert refused.status_code == 403, (url, refused.status_code)
        assert "no role yet" in refused.json()["errors"][0]["message"]
        assert viewer.get(url).status_code != 403, url


@pytest.mark.django_db
def test_the_403_names_the_role_needed_and_the_callers_role(role_user):
    response = _client(role_user("operator")).post("/api/v1/secrets/", {"name": "x", "value": "y" * 8}, format="json")
    assert response.status_code == 403
    message = response.json()["errors"][0]["message"]
    assert "admin role" in message and "operator" in message


@pytest.mark.django_db
def test_a_write_the_policy_does_not_name_is_refused_even_to_a_superuser(admin_user):
    from rest_framework.views import APIView

    from orchestration.access.permissions import RolePermission

    class Unmapped(APIView):
        def post(self, request):  # pragma: no cover - never reached
            raise AssertionError("the permission check let an unmapped write through")

    from rest_framework.test import APIRequestFactory, force_authenticate

    factory = APIRequestFactory()
    raw = factory.post("/unmapped/", {}, format="json")
    force_authenticate(raw, admin_user)
    response = Unmapped.as_view(permission_classes=[RolePermission])(raw)
    assert response.status_code == 403
