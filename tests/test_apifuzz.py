"""Bounded schemathesis run over the whole REST API (issue 16, points 6 and 7).

Every operation of the OpenAPI document is called with generated valid and
invalid inputs, as a superuser (so no operation stops at a permission check),
through the project's real WSGI application and a throwaway test database
seeded with one of each object. The run fails on any 5xx, on a response that
does not match its documented schema, on an undocumented status code and on
an undocumented content type.

Bounded and repeatable: few examples per operation, derandomized generation
(the same inputs on every run), no shrinking; the whole run takes a few
minutes on the CI machine.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.monitoring import factories
from webauto.wsgi import application

pytestmark = [pytest.mark.slow]

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]
MAX_EXAMPLES = 10
# APIFUZZ_ONLY="workflows" runs only the operations whose path matches this regex.
ONLY = os.environ.get("APIFUZZ_ONLY", "")

WORKFLOW = {
    "name": "fuzz-page",
    "version": "1.0.0",
    "description": "Reads a title",
    "inputSchema": {"type": "object", "properties": {"url": {"type": "string"}}},
    "steps": [{"op": "goto", "id": "page", "url": "${url}"}, {"op": "extract", "selector": "h1"}],
}


def _seed(client: Any) -> None:
    """One of each object the API manages, so detail operations find something."""
    from django.core.management import call_command

    from monitoring.models import Alert, Channel, Delivery
    from orchestration import services
    from orchestration.models import Secret

    call_command("load_templates", stdout=io.StringIO())
    Secret.objects.create(name="fuzzSecret", value="fuzz-secret-value", description="fuzz")
    task = services.task_create(
        definition={
            "taskId": "fuzz-task",
            "name": "Fuzz task",
            "description": "seeded for the API fuzz run",
            "tags": ["fuzz"],
            "parameters": {"greeting": "hello"},
            "workflows": [{"id": "first", "workflow": "echo", "config": {"output": {"text": "${greeting}"}}}],
        },
        user=None,
    )
    for status in ("completed", "failed", "running", "pending"):
        factories.execution(task, status, duration=None if status == "running" else 3.0)
    channel = Channel.objects.create(
        name="fuzz-channel", kind="webhook", config={"url": "http://127.0.0.1:9/hook"}
    )
    Delivery.objects.create(channel=channel, channel_name="fuzz-channel", channel_kind="webhook", purpose="test")
    Alert.objects.create(rule="failure", task=task, fingerprint="failure:fuzz:", title="Broken")
    for path, body in (
        ("/api/v1/schedules/", {"taskId": "fuzz-task", "type": "cron", "expression": "0 3 * * *"}),
        ("/api/v1/schedules/", {"taskId": "fuzz-task", "type": "manual", "trigger": "webhook", "webhookSecret": "fuzz-hook-key"}),
        ("/api/v1/workflows/", WORKFLOW),
        ("/api/v1/browser-sessions/", {"site": "weibo", "cookies": [{"name": "a", "value": "b", "domain": ".weibo.com"}]}),
    ):
        response = client.post(path, body, format="json")
        assert response.status_code == 201, (path, response.content)


@pytest.fixture
def _registry_restored() -> Iterator[None]:
    """Step workflows created by the run register kinds in this process: forget them after."""
    from orchestration import registry

    kinds, aliases = dict(registry._kinds), dict(registry._aliases)
    yield
    registry._kinds.clear()
    registry._kinds.update(kinds)
    registry._aliases.clear()
    registry._aliases.update(aliases)


@pytest.fixture
def auth_headers(transactional_db, django_user_model, _registry_restored) -> dict[str, str]:
    """A superuser's token header, after seeding the database (``transactional_db``:
    the WSGI app closes the connection after each request, as a server does)."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    admin = django_user_model.objects.create_superuser("fuzz-admin", "fuzz@example.com", "pw-fuzz-123")
    client = APIClient()
    client.force_authenticate(admin)
    _seed(client)
    return {"Authorization": f"Token {Token.objects.create(user=admin).key}"}


def _document() -> dict[str, Any]:
    """The OpenAPI document /api/schema/ serves (built in-process: no request, no database)."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(public=True)))


schema = schemathesis.openapi.from_dict(_document())
schema.app = application
if ONLY:
    schema = schema.include(path_regex=ONLY)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    report_multiple_bugs=False,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_and_the_schema_holds(case, auth_headers):
    case.call_and_validate(headers=auth_headers, checks=CHECKS)
