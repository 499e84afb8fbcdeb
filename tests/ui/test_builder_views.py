from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.urls import reverse

from orchestration.models import Task
from tests.ui.conftest import chain_definition

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def script_json(html, element_id):
    return json.loads(html.split(f'id="{element_id}" type="application/json">')[1].split("</script>")[0])


def validate(client, document, **extra):
    text = document if isinstance(document, str) else json.dumps(document)
    return client.post(reverse("ui:builder-validate"), {"definition": text, **extra}, **HTMX)


def test_the_new_task_builder_offers_the_registered_kinds_with_their_schemas(user_client):
    response = user_client.get(reverse("ui:task-create"))
    assert response.status_code == 200
    kinds = {k["name"]: k for k in response.context["kinds"]}
    assert kinds["delay"]["schema"]["required"] == ["seconds"]
    html = response.content.decode()
    assert 'id="definition-json"' in html and 'name="definition"' in html
    assert "js/builder.js" in html and 'id="kinds-data"' in html


def test_the_edit_builder_starts_from_the_saved_definition(user_client, chain_task):
    response = user_client.get(reverse("ui:task-edit", args=[chain_task.task_id]))
    document = json.loads(response.context["definition_text"])
    assert document["taskId"] == "ui-chain"
    assert [w["id"] for w in document["workflows"]] == ["fetch", "wait", "report"]
    # An existing task is validated as soon as the page loads.
    assert 'hx-trigger="load, ' in response.content.decode()


def test_validate_reports_a_valid_definition(user_client):
    response = validate(user_client, chain_definition("fresh"))
    html = response.content.decode()
    assert 'data-valid="true"' in html
    assert "<html" not in html


def test_validate_lists_every_problem_with_its_path_and_marks_the_node(user_client):
    document = chain_definition("fresh")
    document["workflows"][1]["workflow"] = "no-such-kind"
    document["workflows"][2]["dependsOn"] = ["ghost"]
    response = validate(user_client, document)
    html = response.content.decode()
    assert 'data-valid="false"' in html
    paths = {e["path"] for e in script_json(html, "validation-errors")}
    assert any(p.startswith("workflows[1]") for p in paths)
    assert any(p.startswith("workflows[2].dependsOn") for p in paths)
    assert set(script_json(html, "node-errors")) == {"wait", "report"}


def test_validate_names_a_cycle(user_client):
    document = chain_definition("fresh")
    document["workflows"][0]["dependsOn"] = ["report"]
    html = validate(user_client, document).content.decode()
    assert "cycle" in html.lower()


def test_validate_reports_broken_json_and_non_objects(user_client):
    assert "not valid JSON" in validate(user_client, '{"taskId": ').content.decode()
    assert "must be a JSON object" in validate(user_client, "[1, 2]").content.decode()


def test_validate_refuses_deep_nesting_and_text_the_database_cannot_store(user_client):
    assert "nested too deeply" in validate(user_client, "[" * 50000 + "]" * 50000).content.decode()
    surrogate = validate(user_client, '{"taskId": "x", "name": "\\ud800"}').content.decode()
    assert "lone surrogate" in surrogate and 'data-valid="true"' not in surrogate
    nul = validate(user_client, '{"taskId": "x", "name": "a\\u0000"}').content.decode()
    assert "NUL" in nul and 'data-valid="true"' not in nul


def test_validate_reports_a_taken_task_id_for_a_new_task_only(user_client, chain_task):
    assert "already exists" in validate(user_client, chain_definition()).content.decode()
    html = validate(user_client, chain_definition(), original_task_id="ui-chain").content.decode()
    assert 'data-valid="true"' in html
    html = validate(user_client, chain_definition("renamed"), original_task_id="ui-chain").content.decode()
    assert "cannot change" in html


def test_validate_escapes_user_text_in_messages(user_client):
    document = chain_definition("fresh")
    document["workflows"][0]["workflow"] = "<script>alert(1)</script>"
    html = validate(user_client, document).content.decode()
    assert "<script>alert(1)</script>" not in html


def test_saving_a_new_task_creates_it_and_opens_its_page(user_client):
    response = user_client.post(reverse("ui:task-create"), {"definition": json.dumps(chain_definition("saved"))})
    assert response.status_code == 302
    assert response["Location"] == reverse("ui:task-detail", args=["saved"])
    task = Task.objects.get(task_id="saved")
    assert [w["id"] for w in task.workflows] == ["fetch", "wait", "report"]
    assert task.created_by.username == "admin"


def test_saving_an_invalid_task_keeps_the_text_and_shows_the_errors(user_client):
    document = chain_definition("broken")
    document["workflows"][0]["workflow"] = "nope"
    text = json.dumps(document)
    response = user_client.post(reverse("ui:task-create"), {"definition": text})
    assert response.status_code == 400
    assert response.context["definition_text"] == text
    assert any(e["path"].startswith("workflows[0]") for e in response.context["errors"])
    assert not Task.objects.filter(task_id="broken").exists()


def test_saving_an_edit_updates_the_task(user_client, chain_task):
    document = chain_definition()
    document["name"] = "Renamed chain"
    document["workflows"].append({"id": "extra", "workflow": "echo", "dependsOn": ["report"]})
    response = user_client.post(reverse("ui:task-edit", args=["ui-chain"]), {"definition": json.dumps(document)})
    assert response.status_code == 302
    chain_task.refresh_from_db()
    assert chain_task.name == "Renamed chain"
    assert [w["id"] for w in chain_task.workflows][-1] == "extra"


def test_an_edit_cannot_change_the_task_id(user_client, chain_task):
    response = user_client.post(
        reverse("ui:task-edit", args=["ui-chain"]), {"definition": json.dumps(chain_definition("other"))}
    )
    assert response.status_code == 400
    assert any(e["path"] == "taskId" for e in response.context["errors"])


def test_the_seed_example_is_valid_in_the_builder_once_its_secret_exists(user_client):
    from orchestration.models import Secret

    Secret.objects.create(name="webhookToken", value="t0ken")
    seed = (Path(__file__).resolve().parent.parent / "definitions/seed/task-definition.json").read_text()
    html = validate(user_client, seed).content.decode()
    assert script_json(html, "validation-errors") == []
    assert 'data-valid="true"' in html


def test_stored_step_workflows_are_offered_with_their_input_schema(user_client):
    from webflows.models import Workflow

    schema = {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]}
    Workflow.objects.create(name="grab-title", input_schema=schema, steps=[{"op": "http_request", "url": "${url}"}])
    kinds = {k["name"]: k for k in user_client.get(reverse("ui:task-create")).context["kinds"]}
    assert kinds["grab-title"]["schema"] == schema


def test_an_unknown_reference_points_to_where_secrets_are_added(user_client):
    document = chain_definition("fresh")
    document["workflows"][0]["config"] = {"output": {"auth": "Bearer ${apiToken}"}}
    html = validate(user_client, document).content.decode()
    assert "${apiToken}" in html and 'id="validation-warnings"' in html
    assert 'data-valid="true"' in html  # a warning, not an error: saving is allowed
    assert reverse("ui:secret-list") in html
