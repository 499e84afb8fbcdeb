"""The published JSON Schemas of task and template definitions: valid
2020-12 schemas, served by the API, accepting both seed examples, and
refusing what the server's validation refuses (at the same path)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from orchestration import contract
from orchestration.definitions import validate_task_definition

TEMPLATE_SEED = Path(__file__).resolve().parents[2] / "templates_app" / "predefined" / "weibo-monitoring-template.json"


def test_both_documents_are_valid_2020_12_schemas():
    for name in contract.SCHEMA_NAMES:
        jsonschema.Draft202012Validator.check_schema(contract.schema(name))


def test_both_seed_examples_conform(seed):
    assert contract.schema_problems(seed, "task-definition") == []
    template = json.loads(TEMPLATE_SEED.read_text(encoding="utf-8"))
    assert contract.schema_problems(template, "template-definition") == []


def test_problems_carry_api_style_paths(seed):
    seed["workflows"][1]["dependsOn"] = "monitoring"
    seed["priority"] = "urgent"
    paths = [p["path"] for p in contract.schema_problems(seed, "task-definition")]
    assert paths == ["priority", "workflows[1].dependsOn"]


def _set(doc: dict[str, Any], path: list[Any], value: Any) -> None:
    target = doc
    for step in path[:-1]:
        target = target[step]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value


_DELETE = object()

# (where to change the seed, the new value, the path both must report)
MUTATIONS = [
    (["taskId"], "bad id!", "taskId"),
    (["name"], "", "name"),
    (["priority"], "urgent", "priority"),
    (["timeout"], -1, "timeout"),
    (["maxRetries"], 1.5, "maxRetries"),
    (["tags"], "monitoring", "tags"),
    (["workflows"], [], "workflows"),
    (["workflows", 0, "id"], _DELETE, "workflows[0]"),
    (["workflows", 0, "workflow"], "", "workflows[0].workflow"),
    (["workflows", 1, "dependsOn"], "monitoring", "workflows[1].dependsOn"),
    (["workflows", 1, "inputFrom"], "monitoring", "workflows[1].inputFrom"),
    (["workflows", 1, "condition", "type"], "sometimes", "workflows[1].condition"),
    (["workflows", 1, "condition", "threshold"], 2, "workflows[1].condition"),
    (["workflows", 0, "execution", "priority"], "asap", "workflows[0].execution.priority"),
    (["workflows", 0, "execution", "retryAttempts"], -1, "workflows[0].execution.retryAttempts"),
    (["workflows", 3, "stopOnFailure"], "no", "workflows[3].stopOnFailure"),
    (["schedule", "type"], "hourly", "schedule.type"),
    (["schedule", "enabled"], "yes", "schedule.enabled"),
    (["notificationChannels", 0, "type"], "sms", "notificationChannels[0].type"),
    (["notificationChannels", 0, "config", "recipients"], [], "notificationChannels[0].config.recipients"),
    (["notificationChannels", 1, "config", "url"], "ftp://x", "notificationChannels[1].config.url"),
    (["resourceRequirements", "gpu"], 1, "resourceRequirements"),
    (["resourceRequirements", "cpu"], 0, "resourceRequirements.cpu"),
    (["errorHandling", "strategy"], "retry", "errorHandling.strategy"),
    (["errorHandling", "escalationPolicy", "level1", "threshold"], 0, "errorHandling.escalationPolicy.level1.threshold"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("where", "value", "path"), MUTATIONS, ids=[m[2] + "=" + repr(m[1]) for m in MUTATIONS])
def test_the_schema_and_the_server_refuse_the_same_structure(seed_ready, seed, where, value, path):
    doc = copy.deepcopy(seed)
    _set(doc, where, value)
    schema_paths = [p["path"] for p in contract.schema_problems(doc, "task-definition")]
    server_paths = [p["path"] for p in validate_task_definition(doc)]
    assert any(p == path or p.startswith(path) for p in schema_paths), schema_paths
    assert any(p == path or p.startswith(path + ".") or p.startswith(path + "[") for p in server_paths), server_paths


def test_the_template_schema_checks_parameters_and_nodes():
    template = json.loads(TEMPLATE_SEED.read_text(encoding="utf-8"))
    template["parameters"][0]["type"] = "text"
    template["parameters"][1]["colour"] = "red"
    template["workflows"][1]["dependsOn"] = "monitoring"
    template["version"] = "1.0"
    paths = {p["path"] for p in contract.schema_problems(template, "template-definition")}
    assert paths == {"parameters[0].type", "parameters[1]", "workflows[1].dependsOn", "version"}


@pytest.mark.django_db
def test_the_schemas_are_served_to_anyone(client):
    for name in contract.SCHEMA_NAMES:
        response = client.get(f"/api/v1/schemas/{name}.json")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/schema+json"
        assert response.json() == contract.schema(name)
    missing = client.get("/api/v1/schemas/nothing.json")
    assert missing.status_code == 404
