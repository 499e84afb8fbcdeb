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
    assert paths == {"parameters[0].type", "parameters[1].colour", "workflows[1].dependsOn", "version"}


@pytest.mark.django_db
def test_the_schemas_are_served_to_anyone(client):
    for name in contract.SCHEMA_NAMES:
        response = client.get(f"/api/v1/schemas/{name}.json")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/schema+json"
        assert response.json() == contract.schema(name)
    missing = client.get("/api/v1/schemas/nothing.json")
    assert missing.status_code == 404


def test_the_served_task_schema_is_the_core_file_plus_each_registered_block(client):
    from orchestration import blocks

    served = client.get("/api/v1/schemas/task-definition.json").json()
    core = contract.core_schema("task-definition")
    registered = {block.name: block.schema for block in blocks.registered()}
    assert set(registered) == {"schedule", "notificationChannels", "resourceRequirements"}
    for name, piece in registered.items():
        assert name not in core["properties"]  # the core file does not repeat a block
        assert served["properties"][name] == {"$ref": f"#/$defs/{name}"}
        published = {k: v for k, v in piece.items() if k != "$schema"}
        assert served["$defs"][name] == {**published, "type": [piece["type"], "null"]}
        jsonschema.Draft202012Validator.check_schema(piece)
    assert {k: v for k, v in served["properties"].items() if k not in registered} == core["properties"]
    assert {k: v for k, v in served["$defs"].items() if k not in registered} == core["$defs"]


def _block_cases() -> list[tuple[str, Any]]:
    from tests.monitoring.test_block_agreement import CHANNELS
    from tests.resources.test_block_agreement import BLOCKS as RESOURCES
    from tests.scheduling.test_block_agreement import BLOCKS as SCHEDULES

    return (
        [("schedule", p.values[0]) for p in SCHEDULES]
        + [("notificationChannels", [p.values[0]]) for p in CHANNELS]
        + [("resourceRequirements", p.values[0]) for p in RESOURCES]
    )


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "value"), _block_cases(), ids=lambda v: v if isinstance(v, str) else None)
def test_a_block_schema_never_refuses_what_its_parser_accepts(name, value):
    """An editor checking against the published schema must not flag a block
    the server takes; what the schema refuses, the parser refuses too."""
    from orchestration import blocks

    block = {b.name: b for b in blocks.registered()}.get(name)
    assert block is not None
    schema_ok = not list(jsonschema.Draft202012Validator(block.schema).iter_errors(value))
    parser_ok = not block.parse(value, name, parameters={}).errors
    assert schema_ok or not parser_ok, (name, value)


def test_the_schedule_schema_agrees_on_the_cases_from_the_issue():
    from orchestration import blocks

    schedule = {b.name: b for b in blocks.registered()}.get("schedule")
    assert schedule is not None
    validator = jsonschema.Draft202012Validator(schedule.schema)
    assert validator.is_valid({"type": "cron", "expression": "@hourly"})
    assert not validator.is_valid({"type": "interval", "interval": 0.5, "unit": "h"})


def test_the_typed_shapes_name_the_schema_fields():
    """orchestration.shapes is what mypy checks readers of a checked definition
    against; it must name the same fields as the published schema."""
    from typing import get_type_hints

    from orchestration import shapes

    served = contract.schema("task-definition")
    assert set(get_type_hints(shapes.TaskDefinition)) == set(served["properties"])
    assert set(get_type_hints(shapes.Node)) == set(served["$defs"]["node"]["properties"])
    assert set(get_type_hints(shapes.Execution)) == set(served["$defs"]["node"]["properties"]["execution"]["properties"])
    condition = served["$defs"]["condition"]
    fields = set(condition["properties"]) | {k for branch in condition["allOf"] for k in branch["then"]["properties"]}
    assert set(get_type_hints(shapes.Condition)) == fields


# (where to change the seed, a value the published schema accepts): the server
# must accept it too (issue 12.6; issue 16 review). JSON Schema counts 2.0 as
# an integer, and null on an optional key is the same as leaving it out.
ACCEPTED = [
    (["maxRetries"], 2.0),
    (["timeout"], 600000.0),
    (["retryDelay"], 5000.0),
    (["workflows", 0, "execution", "retryAttempts"], 2.0),
    (["workflows", 0, "execution", "timeout"], 300000.0),
    (["workflows", 0, "execution", "retryDelay"], 1000.0),
    (["workflows", 1, "config", "maxPosts"], 100.0),
    (["errorHandling", "maxRetries"], 3.0),
    (["errorHandling", "escalationPolicy", "level1", "threshold"], 3.0),
    (["schedule"], {"type": "interval", "interval": 60.0, "unit": "s", "maxRuns": 3.0}),
    (["description"], None),
    (["category"], None),
    (["version"], None),
    (["workflows", 0, "description"], None),
    (["schedule"], None),
    (["notificationChannels"], None),
    (["resourceRequirements"], None),
    (["errorHandling"], None),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("where", "value"), ACCEPTED, ids=[".".join(map(str, m[0])) + "=" + repr(m[1]) for m in ACCEPTED])
def test_what_the_schema_accepts_the_server_accepts(seed_ready, seed, where, value):
    doc = copy.deepcopy(seed)
    _set(doc, where, value)
    assert contract.schema_problems(doc, "task-definition") == []
    assert validate_task_definition(doc) == []


@pytest.mark.django_db
def test_whole_number_floats_in_integer_fields_are_stored_as_ints(seed_ready, seed, api_client):
    from orchestration.models import Task

    doc = copy.deepcopy(seed)
    doc["maxRetries"] = 2.0
    doc["retryDelay"] = 5000.0
    doc["workflows"][0]["execution"]["retryAttempts"] = 2.0
    doc["workflows"][1]["config"]["maxPosts"] = 100.0
    doc["workflows"][2] = {**doc["workflows"][2], "workflow": "content-analysis", "config": {"topKeywords": 8.0}}
    doc["schedule"] = {"type": "interval", "interval": 60.0, "unit": "s"}
    response = api_client.post("/api/v1/tasks/", doc, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["maxRetries"] == 2 and isinstance(response.json()["maxRetries"], int)
    stored = api_client.get(f"/api/v1/tasks/{doc['taskId']}/definition/").json()
    values = [
        stored["maxRetries"],
        stored["retryDelay"],
        stored["workflows"][0]["execution"]["retryAttempts"],
        stored["workflows"][1]["config"]["maxPosts"],
        stored["workflows"][2]["config"]["topKeywords"],
        stored["schedule"]["interval"],
    ]
    assert values == [2, 5000, 2, 100, 8, 60]
    assert all(type(value) is int for value in values)
    task = Task.objects.get(task_id=doc["taskId"])
    assert type(task.max_retries) is int
