from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration.definition_checks import Scope
from orchestration.definition_export import definition_to_fields, task_to_definition
from orchestration.definitions import validate_nodes, validate_task_definition
from orchestration.graph import Graph
from orchestration.models import Task

pytestmark = pytest.mark.django_db


def problem(path, message):
    return {"path": path, "message": message}


def test_the_seed_is_valid_verbatim(seed_ready, seed):
    assert validate_task_definition(seed) == []


def test_the_seed_needs_its_secret(seed_kinds, seed):
    assert validate_task_definition(seed) == [
        problem(
            "notificationChannels[1].config.headers.Authorization",
            "unresolvable reference ${webhookToken}: not a parameter or a stored secret",
        )
    ]


def test_a_secret_not_stored_yet_is_a_warning_when_warnings_are_collected(seed_kinds, seed):
    warnings: list = []
    assert validate_task_definition(seed, warnings=warnings) == []
    assert warnings == [
        problem(
            "notificationChannels[1].config.headers.Authorization",
            "${webhookToken} is not a parameter, an upstream node or a stored secret yet: "
            "add the secret 'webhookToken' before the task runs (a run will not start without it)",
        )
    ]


def test_references_that_cannot_be_secrets_stay_errors(make_definition):
    doc = make_definition()
    doc["workflows"][1]["config"] = {"output": {"a": "${nothing.there}", "b": "${first}"}}
    doc["workflows"].append({"id": "third", "workflow": "echo", "config": {"output": {"c": "${second}"}}})
    warnings: list = []
    paths = [p["path"] for p in validate_task_definition(doc, warnings=warnings)]
    # a path into something unknown, and a node that is not upstream, are not secrets
    assert paths == ["workflows[1].config.output.a", "workflows[2].config.output.c"]
    assert warnings == []


def test_the_seed_needs_its_kinds(seed_ready, seed):
    for node in seed["workflows"]:
        node["workflow"] = f"unregistered-{node['workflow']}"
    assert validate_task_definition(seed) == [
        problem(f"workflows[{i}].workflow", f'unknown workflow kind "{node["workflow"]}"')
        for i, node in enumerate(seed["workflows"])
    ]


def test_a_definition_must_be_an_object():
    assert validate_task_definition([1, 2]) == [
        problem("", "a task definition must be a JSON object")
    ]


def test_it_lists_every_top_level_problem_at_once(make_definition):
    doc = make_definition(
        priority="urgent",
        timeout=-5,
        maxRetries=1.5,
        retryDelay="soon",
        tags=["ok", 3],
        enabled="yes",
        description=7,
    )
    del doc["taskId"]
    doc["name"] = "  "
    assert validate_task_definition(doc) == [
        problem("taskId", "taskId is required"),
        problem("name", "name is required and must be a non-empty string"),
        problem("description", "description must be a string"),
        problem("tags[1]", "tags must be a list of strings"),
        problem("priority", "priority must be one of low, normal, high, critical (got 'urgent')"),
        problem("timeout", "timeout must be a non-negative integer (got -5)"),
        problem("maxRetries", "maxRetries must be a non-negative integer (got 1.5)"),
        problem("retryDelay", "retryDelay must be a non-negative integer (got 'soon')"),
        problem("enabled", "enabled must be true or false"),
    ]


@pytest.mark.parametrize("task_id", ["has space", "-leading", "a/b", "x" * 201, 12])
def test_task_ids_must_be_slug_like(make_definition, task_id):
    errors = validate_task_definition(make_definition(taskId=task_id))
    assert [e["path"] for e in errors] == ["taskId"]
    assert "taskId must be 1-200 letters, digits" in errors[0]["message"]


def test_parameters_must_be_an_object(make_definition):
    doc = make_definition(parameters=["a"])
    doc["workflows"][0]["config"] = {}
    assert validate_task_definition(doc) == [
        problem("parameters", "parameters must be an object of name: value")
    ]


def test_parameter_names_must_work_as_references(make_definition):
    doc = make_definition(parameters={"a.b": 1, "greeting": "hi"})
    assert validate_task_definition(doc) == [
        problem(
            "parameters.a.b",
            "a parameter name must not be empty or contain spaces, '.', '[', ']', '{', '}' or '$'",
        )
    ]


@pytest.mark.parametrize(
    ("workflows", "expected"),
    [
        (None, "workflows is required: a list of workflow nodes"),
        ({"id": "a"}, "workflows must be a list of workflow nodes"),
        ([], "workflows must contain at least one workflow node"),
    ],
)
def test_workflows_must_be_a_non_empty_list(make_definition, workflows, expected):
    doc = make_definition(workflows=workflows)
    assert validate_task_definition(doc) == [problem("workflows", expected)]


def test_unknown_workflow_kind(make_definition):
    doc = make_definition()
    doc["workflows"][1]["workflow"] = "no-such-kind"
    assert validate_task_definition(doc) == [
        problem("workflows[1].workflow", 'unknown workflow kind "no-such-kind"')
    ]


def test_missing_node_fields(make_definition):
    doc = make_definition()
    doc["workflows"].append({"name": "nameless"})
    doc["workflows"].append("not a node")
    assert validate_task_definition(doc) == [
        problem("workflows[2].id", "id is required"),
        problem("workflows[2].workflow", "workflow is required: the name of a workflow kind"),
        problem("workflows[3]", "a workflow node must be an object"),
    ]


def test_duplicate_node_id(make_definition):
    doc = make_definition()
    doc["workflows"].append({"id": "first", "workflow": "echo"})
    assert validate_task_definition(doc) == [
        problem("workflows[2].id", 'duplicate node id "first" (first used by workflows[0])')
    ]


def test_bad_node_ids(make_definition):
    doc = make_definition()
    doc["workflows"][0]["id"] = "has.dot"
    doc["workflows"][1]["dependsOn"] = []
    doc["workflows"][1]["inputFrom"] = None
    doc["workflows"].append({"id": "greeting", "workflow": "echo"})
    errors = validate_task_definition(doc)
    assert (
        problem("workflows[0].id", "id must be letters, digits, '-' or '_' (got 'has.dot')")
        in errors
    )
    assert (
        problem(
            "workflows[2].id",
            'node id "greeting" is also a parameter name; ${greeting} would be ambiguous',
        )
        in errors
    )


def test_missing_dependency(make_definition):
    doc = make_definition()
    doc["workflows"][1]["dependsOn"] = ["first", "ghost", 5, "first"]
    assert validate_task_definition(doc) == [
        problem("workflows[1].dependsOn[1]", 'second depends on unknown node "ghost"'),
        problem("workflows[1].dependsOn[2]", "a dependency must be a node id (string)"),
        problem("workflows[1].dependsOn[3]", '"first" is listed twice'),
    ]


def test_depends_on_must_be_a_list(make_definition):
    doc = make_definition()
    doc["workflows"][1]["dependsOn"] = "first"
    doc["workflows"][1].pop("inputFrom")
    assert validate_task_definition(doc) == [
        problem("workflows[1].dependsOn", "dependsOn must be a list of node ids")
    ]


def test_dependency_cycle_names_the_nodes(make_definition):
    doc = make_definition()
    doc["workflows"][0]["dependsOn"] = ["third"]
    doc["workflows"].append({"id": "third", "workflow": "echo", "dependsOn": ["second"]})
    errors = validate_task_definition(doc)
    assert errors == [
        problem("workflows[0].dependsOn", "dependency cycle: first -> third -> second -> first")
    ]


def test_a_node_depending_on_itself_is_a_cycle(make_definition):
    doc = make_definition()
    doc["workflows"][0]["dependsOn"] = ["first"]
    assert validate_task_definition(doc) == [
        problem("workflows[0].dependsOn", "dependency cycle: first -> first")
    ]


@pytest.mark.parametrize(
    ("input_from", "message"),
    [
        ("first", "inputFrom must be \"<node id>.output\" (got 'first')"),
        (".output", "inputFrom must be \"<node id>.output\" (got '.output')"),
        (7, 'inputFrom must be "<node id>.output" (got 7)'),
        ("ghost.output", 'inputFrom names unknown node "ghost"'),
        (
            "third.output",
            'inputFrom "third.output": third is not upstream of second; add it to dependsOn',
        ),
    ],
)
def test_input_from_must_name_an_upstream_node(make_definition, input_from, message):
    doc = make_definition()
    doc["workflows"].append({"id": "third", "workflow": "echo"})
    doc["workflows"][1]["inputFrom"] = input_from
    assert validate_task_definition(doc) == [problem("workflows[1].inputFrom", message)]


def test_input_from_may_name_a_transitive_ancestor(make_definition):
    doc = make_definition()
    doc["workflows"].append(
        {"id": "third", "workflow": "echo", "dependsOn": ["second"], "inputFrom": "first.output"}
    )
    assert validate_task_definition(doc) == []


def test_expression_conditions_are_checked(make_definition):
    doc = make_definition()
    doc["workflows"].append({"id": "third", "workflow": "echo"})
    doc["workflows"][1]["condition"] = {
        "type": "expression",
        "expression": "${first.ok and limit > 1}",
    }
    assert validate_task_definition(doc) == []
    doc["workflows"][1]["condition"]["expression"] = "first.ok and third.ok and nobody"
    assert validate_task_definition(doc) == [
        problem(
            "workflows[1].condition.expression",
            'condition reads "nobody", which is not a parameter or an upstream node of second',
        ),
        problem(
            "workflows[1].condition.expression",
            'condition reads "third", which is not a direct dependency of second; add it to dependsOn',
        ),
    ]
    doc["workflows"][1]["condition"]["expression"] = "first.ok =="
    errors = validate_task_definition(doc)
    assert [e["path"] for e in errors] == ["workflows[1].condition.expression"]
    assert errors[0]["message"].startswith("invalid expression 'first.ok =='")
    doc["workflows"][1]["condition"]["expression"] = "open('x')"
    assert "function 'open' is not available" in validate_task_definition(doc)[0]["message"]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("yes", [problem("workflows[1].condition", "condition must be an object with a type")]),
        (
            {"type": "maybe"},
            [
                problem(
                    "workflows[1].condition.type",
                    "condition type must be expression or content-change (got 'maybe')",
                )
            ],
        ),
        (
            {"type": "expression"},
            [
                problem(
                    "workflows[1].condition.expression",
                    "an expression condition needs an expression string",
                )
            ],
        ),
        (
            {"type": "content-change", "threshold": 1.5},
            [
                problem(
                    "workflows[1].condition.threshold",
                    "threshold must be a number from 0 to 1 (got 1.5)",
                )
            ],
        ),
        (
            {"type": "content-change", "threshold": "0.1"},
            [
                problem(
                    "workflows[1].condition.threshold",
                    "threshold must be a number from 0 to 1 (got '0.1')",
                )
            ],
        ),
    ],
)
def test_bad_conditions(make_definition, condition, expected):
    doc = make_definition()
    doc["workflows"][1]["condition"] = condition
    assert validate_task_definition(doc) == expected


def test_expression_conditions_read_direct_dependencies_only(make_definition):
    doc = make_definition()
    doc["workflows"].append(
        {
            "id": "third",
            "workflow": "echo",
            "dependsOn": ["second"],
            "condition": {"type": "expression", "expression": "second.ok and first.ok"},
        }
    )
    assert validate_task_definition(doc) == [
        problem(
            "workflows[2].condition.expression",
            'condition reads "first", which is not a direct dependency of third; add it to dependsOn',
        )
    ]


def test_content_change_needs_an_upstream_node(make_definition):
    doc = make_definition()
    doc["workflows"][0]["condition"] = {"type": "content-change", "threshold": 0.1}
    assert validate_task_definition(doc) == [
        problem(
            "workflows[0].condition",
            "a content-change condition needs an upstream node; first has none",
        )
    ]


def test_node_execution_settings(make_definition):
    doc = make_definition()
    doc["workflows"][0]["execution"] = {"timeout": -1, "retryAttempts": "3", "priority": "asap"}
    doc["workflows"][0]["stopOnFailure"] = "no"
    doc["workflows"][1]["execution"] = []
    assert validate_task_definition(doc) == [
        problem(
            "workflows[0].execution.timeout", "timeout must be a non-negative integer (got -1)"
        ),
        problem(
            "workflows[0].execution.retryAttempts",
            "retryAttempts must be a non-negative integer (got '3')",
        ),
        problem(
            "workflows[0].execution.priority",
            "priority must be one of low, normal, high, critical (got 'asap')",
        ),
        problem("workflows[0].stopOnFailure", "stopOnFailure must be true or false"),
        problem("workflows[1].execution", "execution must be an object"),
    ]


def test_unresolvable_references(make_definition):
    doc = make_definition()
    doc["workflows"].append({"id": "third", "workflow": "echo"})
    doc["workflows"][1]["config"] = {
        "output": {
            "a": "${greeting} ${first.text} ${first.output.text}",
            "b": ["${nowhere}"],
            "c": "${third.value}",
            "d": "${first..x}",
        }
    }
    assert validate_task_definition(doc) == [
        problem(
            "workflows[1].config.output.b[0]",
            "unresolvable reference ${nowhere}: not a parameter, an upstream node of second or a stored secret",
        ),
        problem(
            "workflows[1].config.output.c",
            "unresolvable reference ${third.value}: third is not upstream of second; add it to dependsOn",
        ),
        problem(
            "workflows[1].config.output.d",
            "unresolvable reference ${first..x}: cannot read the path '..x'",
        ),
    ]


def test_secret_references_resolve_against_the_store(make_definition, webhook_secret):
    doc = make_definition()
    doc["workflows"][0]["config"] = {"output": {"auth": "Bearer ${webhookToken}"}}
    assert validate_task_definition(doc) == []
    doc["workflows"][0]["config"] = {"output": {"auth": "${webhookToken.x}"}}
    assert [e["path"] for e in validate_task_definition(doc)] == ["workflows[0].config.output.auth"]


def test_config_is_checked_against_the_kind_schema_after_parameter_substitution(seed_ready, seed):
    doc = copy.deepcopy(seed)
    doc["parameters"]["maxPosts"] = "lots"
    doc["parameters"]["mediaQuality"] = "huge"
    doc["workflows"][0]["config"] = {"changeThreshold": 2}
    assert validate_task_definition(doc) == [
        problem("workflows[0].config.changeThreshold", "changeThreshold: 2 is greater than the maximum of 1"),
        problem("workflows[0].config.targetUrl", "targetUrl is required"),
        problem("workflows[1].config.maxPosts", "maxPosts must be an integer"),
        problem(
            "workflows[1].config.mediaQuality",
            "mediaQuality must be one of original, large, thumbnail (got 'huge')",
        ),
    ]


def test_values_resolved_at_run_time_are_not_type_checked(seed_ready, seed):
    doc = copy.deepcopy(seed)
    doc["workflows"][1]["config"]["maxPosts"] = "${monitoring.count}"
    doc["workflows"][1]["config"]["mediaQuality"] = "q-${mediaQuality}"
    assert validate_task_definition(doc) == []


def test_config_must_be_an_object(make_definition):
    doc = make_definition()
    doc["workflows"][0]["config"] = ["x"]
    assert validate_task_definition(doc) == [
        problem("workflows[0].config", "config must be an object")
    ]


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ({"type": "cron", "expression": "0 */2 * * *", "timezone": "Asia/Shanghai"}, []),
        (
            {"type": "cron", "expression": "61 * * * *"},
            [("schedule.expression", "'61 * * * *' is not a valid cron expression")],
        ),
        (
            {"type": "cron", "expression": "* * * *"},
            [
                (
                    "schedule.expression",
                    "must have 5 fields (minute hour day-of-month month day-of-week), got 4",
                )
            ],
        ),
        (
            {"type": "cron", "expression": "0 * * * *", "timezone": "Mars/Olympus"},
            [("schedule.timezone", "unknown timezone 'Mars/Olympus'")],
        ),
        ({"type": "interval", "interval": 5, "unit": "m"}, []),
        (
            {"type": "interval", "interval": 0, "unit": "days"},
            [
                (
                    "schedule.interval",
                    "interval must be a positive whole number of the unit (got 0); "
                    "for a fraction use a smaller unit, e.g. 30 with unit 'm' for half an hour",
                ),
                ("schedule.unit", "unit must be one of ms, s, m, h (got 'days')"),
            ],
        ),
        ({"type": "event", "event": "task.completed", "filter": {"taskId": "x"}}, []),
        (
            {"type": "event"},
            [
                (
                    "schedule.event",
                    "event must be an event name such as 'execution.failed' (wildcards like 'execution.*' allowed)",
                )
            ],
        ),
        ({"type": "manual", "trigger": "webhook"}, []),
        (
            {"type": "manual", "trigger": "email"},
            [("schedule.trigger", "trigger must be one of api, webhook (got 'email')")],
        ),
        (
            {"type": "hourly"},
            [
                (
                    "schedule.type",
                    "type must be one of cron, interval, event, manual (got 'hourly')",
                )
            ],
        ),
        ("daily", [("schedule", "schedule must be an object")]),
    ],
)
def test_schedules(make_definition, schedule, expected):
    errors = validate_task_definition(make_definition(schedule=schedule))
    assert errors == [problem(path, message) for path, message in expected]


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({"cpu": 0.5, "memory": "256MB", "disk": "1.5GB", "network": "10MB/s"}, []),
        ({"cpu": 0}, [("resourceRequirements.cpu", "must be more than 0 and at most 1024 cores, not 0")]),
        (
            {"memory": "lots"},
            [
                (
                    "resourceRequirements.memory",
                    "'lots' is not a size; write a number and a unit (B, KB, MB, GB, TB), e.g. '512MB'",
                )
            ],
        ),
        (
            {"network": "50MB"},
            [
                (
                    "resourceRequirements.network",
                    "'50MB' is not a rate; write a size per second, e.g. '10MB/s'",
                )
            ],
        ),
        (
            {"gpu": 1},
            [
                (
                    "resourceRequirements.gpu",
                    "unknown field; expected one of cpu, memory, disk, network",
                )
            ],
        ),
    ],
)
def test_resource_requirements(make_definition, resources, expected):
    errors = validate_task_definition(make_definition(resourceRequirements=resources))
    assert errors == [problem(path, message) for path, message in expected]


def test_error_handling(make_definition):
    doc = make_definition(
        errorHandling={
            "strategy": "ignore",
            "maxRetries": -1,
            "notificationOnFailure": "yes",
            "escalationPolicy": {"level1": {"threshold": 0, "action": ""}, "level2": "x"},
        }
    )
    assert validate_task_definition(doc) == [
        problem(
            "errorHandling.strategy",
            "strategy must be one of stop-on-error, continue-on-error (got 'ignore')",
        ),
        problem("errorHandling.maxRetries", "maxRetries must be a non-negative integer (got -1)"),
        problem(
            "errorHandling.notificationOnFailure", "notificationOnFailure must be true or false"
        ),
        problem(
            "errorHandling.escalationPolicy.level1.threshold",
            "threshold must be a positive integer (got 0)",
        ),
        problem(
            "errorHandling.escalationPolicy.level1.action", "action must be a non-empty string"
        ),
        problem(
            "errorHandling.escalationPolicy.level2",
            "an escalation level must be an object with threshold and action",
        ),
    ]


def test_notification_channels(make_definition):
    doc = make_definition(
        notificationChannels=[
            {
                "type": "email",
                "config": {"recipients": ["${greeting}@example.com", "ops@example.com"]},
            },
            {"type": "sms", "config": {}},
            {"type": "email", "config": {"recipients": "ops@example.com"}},
            {"type": "webhook", "config": {"url": "ftp://x", "headers": {"X": 1}}},
            {"type": "webhook", "config": {"url": "https://h.example/${unknownSecret}"}},
            {"type": "webhook"},
        ]
    )
    assert validate_task_definition(doc) == [
        problem(
            "notificationChannels[1].type", "channel type must be email or webhook (got 'sms')"
        ),
        problem(
            "notificationChannels[2].config.recipients",
            "recipients must be a non-empty list of email addresses",
        ),
        problem("notificationChannels[3].config.url", "url must be an http(s) URL (got 'ftp://x')"),
        problem("notificationChannels[3].config.headers.X", "headers must be an object of strings"),
        problem(
            "notificationChannels[4].config.url",
            "unresolvable reference ${unknownSecret}: not a parameter or a stored secret",
        ),
        problem("notificationChannels[5].config", "config must be an object"),
    ]


def test_partial_documents_skip_missing_required_keys():
    assert validate_task_definition({"priority": "low"}, partial=True) == []
    assert validate_task_definition({"priority": "now"}, partial=True) == [
        problem("priority", "priority must be one of low, normal, high, critical (got 'now')")
    ]


def test_validate_nodes_checks_template_workflows_with_declared_parameters():
    nodes = [
        {"id": "watch", "workflow": "delay", "config": {"seconds": "${wait}"}},
        {
            "id": "next",
            "workflow": "echo",
            "dependsOn": ["watch"],
            "config": {"output": "${undeclared}"},
        },
    ]
    errors = validate_nodes(nodes, Scope({"wait"}, secret_exists=lambda n: False), path="workflows")
    # "${wait}" is not checked against {"type": "number"}: it resolves at run time.
    assert errors == [
        problem(
            "workflows[1].config.output",
            "unresolvable reference ${undeclared}: not a parameter, an upstream node of next or a stored secret",
        ),
    ]


def test_definition_fields_round_trip_to_the_same_document(seed_ready, seed):
    task = Task.objects.create(**definition_to_fields(seed))
    task.refresh_from_db()
    exported = task_to_definition(task)
    assert exported == seed
    assert list(exported) == list(seed)
    # Known nested objects come back in the seed's key order even from jsonb.
    for node, original in zip(exported["workflows"], seed["workflows"], strict=True):
        assert list(node) == list(original)
    assert list(exported["schedule"]) == list(seed["schedule"])
    assert list(exported["errorHandling"]) == list(seed["errorHandling"])
    assert json.loads(json.dumps(exported)) == seed


def test_unknown_top_level_keys_are_kept(make_definition):
    doc = make_definition(
        owner={"team": "ops"}, enabled=False, template="t", templateVersion="1.2.0"
    )
    task = Task.objects.create(**definition_to_fields(doc))
    assert task.extra == {"owner": {"team": "ops"}}
    assert task.template_id == "t" and task.template_version == "1.2.0" and task.enabled is False
    exported = task_to_definition(task)
    assert exported["owner"] == {"team": "ops"}
    assert exported["enabled"] is False
    assert (
        Task.objects.create(**{**definition_to_fields(exported), "task_id": "again"}).extra
        == task.extra
    )


def test_defaults_are_filled_in_on_import(make_definition):
    task = Task.objects.create(**definition_to_fields(make_definition()))
    assert (task.priority, task.max_retries, task.retry_delay_ms, task.timeout_ms) == (
        "normal",
        0,
        0,
        None,
    )
    exported = task_to_definition(task)
    assert "timeout" not in exported and "schedule" not in exported and "enabled" not in exported
    assert exported["priority"] == "normal"


def test_node_ids_with_hyphens_work_in_conditions_and_references(make_definition):
    doc = make_definition()
    doc["workflows"] = [
        {"id": "batch-download", "workflow": "echo"},
        {
            "id": "report",
            "workflow": "echo",
            "dependsOn": ["batch-download"],
            "inputFrom": "batch-download.output",
            "condition": {"type": "expression", "expression": "batch-download.count > limit - 1"},
            "config": {"output": {"n": "${batch-download.count}"}},
        },
    ]
    assert validate_task_definition(doc) == []


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 7).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=12),
        )
    )
)
def test_a_cycle_is_reported_exactly_when_the_graph_has_one(graph):
    size, edges = graph
    deps: dict[str, list[str]] = {f"n{i}": [] for i in range(size)}
    for a, b in edges:
        if f"n{b}" not in deps[f"n{a}"]:
            deps[f"n{a}"].append(f"n{b}")
    nodes = [{"id": node_id, "workflow": "echo", "dependsOn": d} for node_id, d in deps.items()]
    errors = validate_nodes(nodes, Scope(set(), secret_exists=lambda name: False))
    cycle_errors = [e for e in errors if e["message"].startswith("dependency cycle: ")]
    assert errors == cycle_errors
    if Graph.from_nodes(nodes).find_cycle() is None:
        assert cycle_errors == []
    else:
        assert len(cycle_errors) == 1
        names = cycle_errors[0]["message"].removeprefix("dependency cycle: ").split(" -> ")
        assert names[0] == names[-1]
        for node_id, dependency in zip(names, names[1:], strict=False):
            assert dependency in deps[node_id]


def test_a_webhook_secret_in_the_schedule_is_never_stored_or_exported(make_definition):
    doc = make_definition(
        schedule={"type": "manual", "trigger": "webhook", "webhookSecret": "hush-123"}
    )
    task = Task.objects.create(**definition_to_fields(doc))
    assert task.schedule == {"type": "manual", "trigger": "webhook"}
    assert "hush-123" not in json.dumps(task_to_definition(task))
