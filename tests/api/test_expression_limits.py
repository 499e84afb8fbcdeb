"""Conditions have a bounded cost: through the API, expensive expressions are
refused at validation (400) or fail fast at run time, never a 500 or a
request that computes for a minute."""

from __future__ import annotations

import json

import pytest

from orchestration import admission, expressions
from orchestration.expressions import MAX_DEPTH, MAX_EXPRESSION_LENGTH, MAX_INTEGER_DIGITS
from orchestration.models import Execution, NodeRun, Task

pytestmark = pytest.mark.django_db

TASKS = "/api/v1/tasks/"
HUGE_PRODUCT = "(9**3999999)*(9**3999999)*(9**3999999)*(9**3999999) > 0"


def post_json(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def with_condition(make_definition, expression):
    doc = make_definition()
    doc["workflows"][0]["condition"] = {"type": "expression", "expression": expression}
    return doc


@pytest.fixture
def admit_all(settings):
    """Executions start inside the request, as with a free resource pool."""
    settings.WEBAUTO_ADMISSION_BACKEND = "orchestration.admission.AdmitAll"
    admission.get_backend.cache_clear()
    yield
    admission.get_backend.cache_clear()


def condition_error(response):
    return [e for e in response.json()["errors"] if e["path"] == "workflows[0].condition.expression"]


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        (HUGE_PRODUCT, f"more than {MAX_INTEGER_DIGITS} digits"),
        ("9 ** 3999999 > 0", f"more than {MAX_INTEGER_DIGITS} digits"),
        ("(9**999) * (9**999) > 0", f"more than {MAX_INTEGER_DIGITS} digits"),
        ("1 << 100000 > 0", f"more than {MAX_INTEGER_DIGITS} digits"),
        ("len('ab' * 10000000) > 0", "longer than 100,000"),
        ("round(5, -1000000000) > 0", "round() takes at most"),
        ("not " * 5000 + "limit", f"at most {MAX_EXPRESSION_LENGTH:,} are allowed"),
        ("not " * 300 + "limit", f"nested more than {MAX_DEPTH} levels"),
        ("limit in [" + ",".join(["1"] * 450) + "]", "more than 400 parts"),
    ],
)
def test_a_costly_expression_is_refused_by_validate_and_create(api_client, make_definition, expression, words):
    doc = with_condition(make_definition, expression)
    checked = post_json(api_client, f"{TASKS}validate/", doc)
    assert checked.status_code == 200
    assert checked.json()["valid"] is False
    assert words in condition_error(checked)[0]["message"]
    created = post_json(api_client, TASKS, doc)
    assert created.status_code == 400
    assert words in condition_error(created)[0]["message"]
    assert not Task.objects.exists()


def test_ordinary_expressions_stay_valid(api_client, make_definition):
    doc = with_condition(make_definition, "limit ** 3 + len(greeting * 4) > 2 and round(limit / 3, 2) < 9 and not false")
    assert post_json(api_client, TASKS, doc).status_code == 201


def test_a_power_of_run_time_values_fails_the_node_fast_inside_execute(
    api_client, make_definition, django_capture_on_commit_callbacks, admit_all
):
    """The condition of a root node is evaluated inside the execute request:
    9 ** 3999999 is refused before it is computed, and the node fails."""
    doc = with_condition(make_definition, "limit ** 3999999 > 0")
    doc["parameters"]["limit"] = 9
    assert post_json(api_client, TASKS, doc).status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(api_client, f"{TASKS}small-task/execute/", {})
    assert response.status_code == 202, response.content
    execution = Execution.objects.get(pk=response.json()["executionId"])
    run = NodeRun.objects.get(execution=execution, node_id="first")
    assert run.status == "failed"
    assert f"a power in the expression would have more than {MAX_INTEGER_DIGITS} digits" in run.error


def test_a_product_of_run_time_strings_fails_the_node(
    api_client, make_definition, django_capture_on_commit_callbacks, admit_all
):
    doc = with_condition(make_definition, "len(greeting * limit) > 0")
    doc["parameters"]["limit"] = 10**9
    assert post_json(api_client, TASKS, doc).status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(api_client, f"{TASKS}small-task/execute/", {})
    assert response.status_code == 202
    run = NodeRun.objects.get(execution_id=response.json()["executionId"], node_id="first")
    assert run.status == "failed"
    assert "longer than 100,000" in run.error


@pytest.mark.parametrize(
    "expression",
    [
        # The outer list is short; the items it holds are not (issue 16 point 5).
        "[[1]*99999]*100 == [[1]*99999]*100",
        "max([[1]*99999]*100) == 1",
        'f"{1:>999999999}" == ""',
    ],
)
def test_nested_lists_and_formatting_are_refused_by_validate_and_create(api_client, make_definition, expression):
    doc = with_condition(make_definition, expression)
    checked = post_json(api_client, f"{TASKS}validate/", doc)
    assert checked.status_code == 200
    assert checked.json()["valid"] is False
    assert "longer than 100,000" in condition_error(checked)[0]["message"]
    created = post_json(api_client, TASKS, doc)
    assert created.status_code == 400
    assert "longer than 100,000" in condition_error(created)[0]["message"]
    assert not Task.objects.exists()


def test_nested_run_time_lists_fail_the_node_inside_execute(
    api_client, make_definition, django_capture_on_commit_callbacks, admit_all
):
    doc = with_condition(make_definition, "[[greeting]*99999]*limit == [[greeting]*99999]*limit")
    doc["parameters"]["limit"] = 100
    assert post_json(api_client, TASKS, doc).status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(api_client, f"{TASKS}small-task/execute/", {})
    assert response.status_code == 202
    run = NodeRun.objects.get(execution_id=response.json()["executionId"], node_id="first")
    assert run.status == "failed"
    assert "longer than 100,000" in run.error


def test_running_out_of_memory_in_a_condition_fails_the_node_not_the_request(
    api_client, make_definition, django_capture_on_commit_callbacks, admit_all, monkeypatch
):
    """A MemoryError inside an operator (simulated: it cannot be provoked
    reliably) is an expression error: the node fails, execute answers 202."""

    def out_of_memory(*_args):
        raise MemoryError

    doc = with_condition(make_definition, '"%d" % limit == ""')
    assert post_json(api_client, TASKS, doc).status_code == 201
    monkeypatch.setattr(expressions, "_bounded_format", out_of_memory)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(api_client, f"{TASKS}small-task/execute/", {})
    assert response.status_code == 202
    run = NodeRun.objects.get(execution_id=response.json()["executionId"], node_id="first")
    assert run.status == "failed"
    assert "more memory" in run.error
