"""Roles on pages and htmx actions: every page view declares its role, an
account with no role sees only the "no role yet" page, each action is refused
below its role, and buttons a role cannot use are not shown."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from orchestration.models import Secret

pytestmark = pytest.mark.django_db

ROLES = ["viewer", "operator", "editor", "admin"]
HTMX = {"HTTP_HX_REQUEST": "true"}
# Pages that are not the product's operator pages: the login views, the Django
# admin (its own staff check), the API (RolePermission), the public sandbox
# site, the signed webhook URL, the token-protected /metrics and the favicon.
PUBLIC_PREFIXES = ("admin/", "accounts/", "api/", "sandbox/", "hooks/", "metrics", "favicon.ico")


def _page_patterns(patterns=None, prefix: str = ""):
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(entry.pattern)
        if route.startswith(PUBLIC_PREFIXES):
            continue
        if isinstance(entry, URLResolver):
            yield from _page_patterns(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield route, entry.callback


def test_every_page_view_declares_the_role_it_needs():
    missing = [route for route, view in _page_patterns() if not hasattr(view, "required_roles")]
    assert missing == []


@pytest.fixture
def login(client, role_user):
    made: dict[str | None, object] = {}

    def as_role(role: str | None):
        if role not in made:
            made[role] = role_user(role, username=f"{role or 'nobody'}-page")
        client.force_login(made[role])
        return client

    return as_role


def test_an_account_without_a_role_sees_only_the_no_role_page(login, chain_task):
    client = login(None)
    home = client.get("/")
    assert home.status_code == 403
    body = home.content.decode()
    assert "No role yet" in body and "ask an admin" in body.lower()
    assert "mainnav" not in body  # no links to pages it cannot open
    for url in ["/tasks/", reverse("ui:task-detail", args=[chain_task.task_id]), "/executions/", "/schedules/",
                "/templates/", "/alerts/", "/channels/", "/secrets/", "/resources/", "/workflows/"]:
        assert client.get(url).status_code == 403, url
    assert client.get("/tasks/", **HTMX).content.decode().startswith("Your account has no role yet")


def test_a_viewer_reads_every_page_but_gets_no_buttons(login, chain_task, finished_execution):
    Secret.objects.create(name="api_token", value="s3cr3t-value")
    client = login("viewer")
    for url in ["/", "/tasks/", "/executions/", "/schedules/", "/templates/", "/alerts/", "/channels/",
                "/secrets/", "/resources/", "/workflows/",
                reverse("ui:execution-detail", args=[finished_execution.pk])]:
        assert client.get(url).status_code == 200, url
    detail = client.get(reverse("ui:task-detail", args=[chain_task.task_id])).content.decode()
    assert 'id="run-now"' not in detail and "Edit in builder" not in detail and 'id="delete-task"' not in detail
    listing = client.get("/tasks/").content.decode()
    assert "+ New task" not in listing and "Run now" not in listing
    secrets = client.get("/secrets/").content.decode()
    assert "api_token" in secrets and 'id="secret-form"' not in secrets and "Delete" not in secrets
    assert 'href="/admin/"' not in client.get("/").content.decode()
    execution = client.get(reverse("ui:execution-detail", args=[finished_execution.pk])).content.decode()
    assert 'id="run-again"' not in execution


def test_each_role_sees_the_buttons_of_its_role(login, chain_task):
    url = reverse("ui:task-detail", args=[chain_task.task_id])
    operator = login("operator").get(url).content.decode()
    assert 'id="run-now"' in operator and "Edit in builder" not in operator
    editor = login("editor").get(url).content.decode()
    assert 'id="run-now"' in editor and "Edit in builder" in editor and 'id="delete-task"' in editor
    assert 'id="secret-form"' not in login("editor").get("/secrets/").content.decode()
    admin_page = login("admin").get("/secrets/").content.decode()
    assert 'id="secret-form"' in admin_page and 'href="/admin/"' in admin_page


def _actions(task_id: str, finished: int, running: int) -> list[tuple[str, str, str, dict]]:
    """(method, url, role needed, data) of the pages and htmx actions that change something."""
    return [
        ("post", reverse("ui:task-run", args=[task_id]), "operator", {"stay": "1"}),
        ("post", reverse("ui:task-toggle", args=[task_id]), "operator", {"set": "1", "enabled": "on"}),
        ("post", reverse("ui:execution-cancel", args=[running]), "operator", {}),
        ("post", reverse("ui:execution-rerun", args=[finished]), "operator", {}),
        ("post", "/alerts/987654/ack/", "operator", {}),
        ("post", "/schedules/987654/pause/", "operator", {}),
        ("post", "/schedules/987654/resume/", "operator", {}),
        ("post", "/schedules/987654/run/", "operator", {}),
        ("post", "/schedules/987654/toggle/", "operator", {}),
        ("post", "/schedules/987654/rotate/", "editor", {}),
        ("post", "/schedules/987654/delete/", "editor", {}),
        ("get", reverse("ui:task-create"), "editor", {}),
        ("get", reverse("ui:task-edit", args=[task_id]), "editor", {}),
        ("post", reverse("ui:builder-validate"), "editor", {"definition": "{}"}),
        ("get", "/schedules/new/", "editor", {}),
        ("get", "/templates/new/", "editor", {}),
        ("get", "/templates/no-such-template/use/", "editor", {}),
        ("post", "/secrets/", "admin", {"name": "new_one", "value": "long-enough-value"}),
        ("post", "/secrets/no_such_secret/delete/", "admin", {}),
        ("post", "/channels/987654/test/", "admin", {}),
        # Last: it deletes the task the actions above use.
        ("post", reverse("ui:task-delete", args=[task_id]), "editor", {}),
    ]


def test_every_action_is_refused_below_its_role_and_allowed_from_it(
    client, role_user, chain_task, finished_execution, running_execution
):
    users = {role: role_user(role, username=f"{role}-act") for role in ROLES}
    users[None] = role_user(None, username="nobody-act")
    for method, url, needed, data in _actions(chain_task.task_id, finished_execution.pk, running_execution.pk):
        # Lower roles first, so the allowed call (which may delete) comes after the refusals.
        for role in [None, *ROLES]:
            client.force_login(users[role])
            response = getattr(client, method)(url, data, **HTMX)
            if role is None or ROLES.index(role) < ROLES.index(needed):
                assert response.status_code == 403, (role, method, url, response.status_code)
            else:
                assert response.status_code != 403, (role, method, url, response.content[:300])
