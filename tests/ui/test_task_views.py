from __future__ import annotations

import json

import pytest
from django.urls import reverse

from orchestration import services
from orchestration.models import Execution, Secret, Task
from tests.ui.conftest import chain_definition

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_every_page_needs_a_login(client, chain_task, finished_execution):
    for url in [
        reverse("ui:task-list"),
        reverse("ui:task-detail", args=[chain_task.task_id]),
        reverse("ui:task-live", args=[chain_task.task_id]),
        reverse("ui:task-export", args=[chain_task.task_id]),
        reverse("ui:task-create"),
        reverse("ui:task-edit", args=[chain_task.task_id]),
        reverse("ui:execution-list"),
        reverse("ui:execution-detail", args=[finished_execution.pk]),
        reverse("ui:execution-live", args=[finished_execution.pk]),
    ]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/"), url


def test_the_login_page_logs_in_and_goes_to_the_requested_page(client, admin_user):
    page = client.get("/accounts/login/?next=/tasks/")
    assert b"Log in to WebAuto" in page.content
    response = client.post("/accounts/login/", {"username": "admin", "password": "pw-admin-123", "next": "/tasks/"})
    assert response.status_code == 302 and response["Location"] == "/tasks/"


def test_the_task_list_shows_tasks_with_their_last_run(user_client, chain_task, finished_execution):
    response = user_client.get(reverse("ui:task-list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "UI chain" in html and "ui-chain" in html
    assert reverse("ui:execution-detail", args=[finished_execution.pk]) in html
    assert "Completed" in html
    assert "Run now" in html


def test_the_task_list_filters_by_text_category_tag_and_last_status(user_client, chain_task, finished_execution):
    services.task_create(definition=chain_definition("other-task", name="Other", category="misc", tags=["x"]))

    def ids(**query):
        html = user_client.get(reverse("ui:task-list"), query, **HTMX).content.decode()
        return {t for t in ("ui-chain", "other-task") if f">{t}<" in html}

    assert ids() == {"ui-chain", "other-task"}
    assert ids(q="oth") == {"other-task"}
    assert ids(category="demo") == {"ui-chain"}
    assert ids(tag="x") == {"other-task"}
    assert ids(status="completed") == {"ui-chain"}
    assert ids(status="never") == {"other-task"}


def test_the_task_list_htmx_request_gets_only_the_table(user_client, chain_task):
    response = user_client.get(reverse("ui:task-list"), {"q": "chain"}, **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="task-table">')
    assert "<html" not in html


def test_the_toggle_disables_and_enables_a_task_and_returns_its_row(user_client, chain_task):
    url = reverse("ui:task-toggle", args=[chain_task.task_id])
    response = user_client.post(url, {"set": "1"}, **HTMX)
    assert response.status_code == 200
    assert f'id="task-row-{chain_task.pk}"' in response.content.decode()
    chain_task.refresh_from_db()
    assert chain_task.enabled is False
    user_client.post(url, {"set": "1", "enabled": "on"}, **HTMX)
    chain_task.refresh_from_db()
    assert chain_task.enabled is True


def test_the_toggle_without_htmx_flips_and_redirects_to_the_task(user_client, chain_task):
    response = user_client.post(reverse("ui:task-toggle", args=[chain_task.task_id]))
    assert response.status_code == 302
    chain_task.refresh_from_db()
    assert chain_task.enabled is False


def test_run_now_creates_a_manual_execution_and_opens_it(user_client, chain_task):
    response = user_client.post(reverse("ui:task-run", args=[chain_task.task_id]))
    execution = Execution.objects.get(task=chain_task)
    assert execution.trigger == "manual" and execution.triggered_by == "admin"
    assert response["Location"] == reverse("ui:execution-detail", args=[execution.pk])


def test_run_now_from_the_list_stays_and_updates_the_row(user_client, chain_task):
    response = user_client.post(reverse("ui:task-run", args=[chain_task.task_id]), {"stay": "1"}, **HTMX)
    execution = Execution.objects.get(task=chain_task)
    html = response.content.decode()
    assert reverse("ui:execution-detail", args=[execution.pk]) in html
    assert f'id="task-row-{chain_task.pk}"' in html


def test_run_now_with_htmx_redirects_the_browser_to_the_execution(user_client, chain_task):
    response = user_client.post(reverse("ui:task-run", args=[chain_task.task_id]), **HTMX)
    execution = Execution.objects.get(task=chain_task)
    assert response["HX-Redirect"] == reverse("ui:execution-detail", args=[execution.pk])


def test_the_task_page_has_the_graph_nodes_parameters_and_history(user_client, chain_task, finished_execution):
    response = user_client.get(reverse("ui:task-detail", args=[chain_task.task_id]))
    assert response.status_code == 200
    html = response.content.decode()
    graph = response.context["graph"]
    assert [n["id"] for n in graph["nodes"]] == ["fetch", "wait", "report"]
    assert {(e["from"], e["to"]) for e in graph["edges"]} == {("fetch", "wait"), ("wait", "report")}
    assert response.context["statuses"] == {"fetch": "completed", "wait": "completed", "report": "completed"}
    assert 'id="task-dag"' in html and "js/dag.js" in html
    assert "greeting" in html
    assert f"#{finished_execution.pk}" in html


def test_the_task_page_masks_stored_secret_values_but_shows_references(user_client, db):
    Secret.objects.create(name="apiToken", value="s3cr3t-value-123")
    definition = chain_definition("secretive")
    definition["workflows"][0]["config"] = {"output": {"auth": "Bearer ${apiToken}", "pasted": "s3cr3t-value-123"}}
    task = services.task_create(definition=definition)
    html = user_client.get(reverse("ui:task-detail", args=[task.task_id])).content.decode()
    assert "s3cr3t-value-123" not in html
    assert "Bearer ${apiToken}" in html
    assert "********" in html


def test_the_task_page_can_show_a_chosen_execution(user_client, chain_task, finished_execution, running_execution):
    response = user_client.get(reverse("ui:task-detail", args=[chain_task.task_id]), {"execution": finished_execution.pk})
    assert response.context["selected"] == finished_execution
    assert response.context["poll_every"] == ""


def test_the_task_live_partial_polls_while_running_and_stops_when_final(user_client, chain_task, running_execution):
    url = reverse("ui:task-live", args=[chain_task.task_id])
    response = user_client.get(url, {"execution": running_execution.pk}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'hx-trigger="every 2s [!document.hidden]"' in html
    assert json.loads(html.split('id="dag-statuses" type="application/json">')[1].split("</script>")[0]) == {
        "fetch": "running", "wait": "pending", "report": "pending"
    }
    Execution.objects.filter(pk=running_execution.pk).update(status="completed")
    response = user_client.get(url, {"execution": running_execution.pk}, **HTMX)
    assert response.status_code == 286
    assert "hx-trigger" not in response.content.decode()


def test_export_downloads_the_definition(user_client, chain_task):
    response = user_client.get(reverse("ui:task-export", args=[chain_task.task_id]))
    assert response["Content-Disposition"] == 'attachment; filename="ui-chain.json"'
    document = json.loads(response.content)
    assert document["taskId"] == "ui-chain"
    assert [w["id"] for w in document["workflows"]] == ["fetch", "wait", "report"]


def test_an_unknown_task_is_a_404(user_client, db):
    assert user_client.get(reverse("ui:task-detail", args=["nope"])).status_code == 404
    assert Task.objects.count() == 0


def test_a_scheduled_task_shows_its_next_run(user_client, db):
    services.task_create(
        definition=chain_definition("every-5m", schedule={"type": "interval", "interval": 5, "unit": "m"})
    )
    html = user_client.get(reverse("ui:task-list")).content.decode()
    row = html.split('class="task-row')[1]
    assert "in 4\xa0minutes" in row or "in 5\xa0minutes" in row
    detail = user_client.get(reverse("ui:task-detail", args=["every-5m"])).content.decode()
    assert "next run" in detail


def test_the_task_page_follows_the_latest_run_slowly_when_none_is_active(user_client, chain_task, finished_execution):
    url = reverse("ui:task-live", args=[chain_task.task_id])
    response = user_client.get(url, **HTMX)
    assert response.status_code == 200
    assert 'hx-trigger="every 10s [!document.hidden]"' in response.content.decode()
    assert "?execution=" not in response.content.decode().split('id="task-live"')[1].split(">")[0]
    # A run started elsewhere shows up on the next poll, and polling speeds up.
    running = Execution.objects.create(task=chain_task, status="running", definition={"workflows": chain_task.workflows})
    html = user_client.get(url, **HTMX).content.decode()
    assert 'hx-trigger="every 2s [!document.hidden]"' in html
    assert f'href="/executions/{running.pk}/">#{running.pk}</a>' in html


def test_deleting_a_task_removes_it_and_returns_to_the_list(user_client, chain_task, finished_execution):
    response = user_client.post(reverse("ui:task-delete", args=[chain_task.task_id]))
    assert response["Location"] == reverse("ui:task-list")
    assert not Task.objects.filter(task_id="ui-chain").exists()


def test_a_task_with_an_active_run_is_not_deleted(user_client, chain_task, running_execution):
    response = user_client.post(reverse("ui:task-delete", args=[chain_task.task_id]), follow=True)
    assert "cancel them first" in response.content.decode()
    assert Task.objects.filter(task_id="ui-chain").exists()


def test_a_task_from_a_template_links_to_it_and_to_its_schedules(user_client, db):
    services.task_create(definition=chain_definition("templated", template="site-watch", templateVersion="1.2.0"))
    html = user_client.get(reverse("ui:task-detail", args=["templated"])).content.decode()
    assert 'href="/templates/site-watch/"' in html
    assert 'href="/schedules/?task=templated"' in html


def test_the_task_list_pages_and_keeps_the_filters_in_its_links(user_client, db):
    Task.objects.bulk_create(
        Task(task_id=f"bulk-{n:02d}", name=f"Bulk {n}", category="bulk", workflows=[]) for n in range(55)
    )
    html = user_client.get(reverse("ui:task-list"), {"category": "bulk"}).content.decode()
    assert "Page 1 of 2" in html and "55 tasks" in html
    assert 'href="?category=bulk&page=2"' in html
    second = user_client.get(reverse("ui:task-list"), {"category": "bulk", "page": 2}).content.decode()
    assert ">bulk-54<" in second and ">bulk-00<" not in second


def test_run_now_of_a_task_whose_secret_is_missing_says_which(user_client):
    definition = chain_definition("needs-secret")
    definition["workflows"][0]["config"] = {"output": {"auth": "Bearer ${notStoredYet}"}}
    task = services.task_create(definition=definition)
    assert [w["path"] for w in task.definition_warnings] == ["workflows[0].config.output.auth"]
    response = user_client.post(reverse("ui:task-run", args=[task.task_id]), follow=True)
    assert response.status_code == 200
    assert "notStoredYet" in response.content.decode() and "does not exist" in response.content.decode()
    assert not Execution.objects.filter(task=task).exists()
