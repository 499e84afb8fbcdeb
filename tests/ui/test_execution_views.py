from __future__ import annotations

import pytest
from django.urls import reverse

from orchestration.models import Event, Execution, ExecutionStatus, NodeRun, NodeStatus, Secret

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
SCRIPT = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'


def test_the_execution_list_shows_executions_with_progress(user_client, finished_execution, running_execution):
    response = user_client.get(reverse("ui:execution-list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert f"#{finished_execution.pk}" in html and f"#{running_execution.pk}" in html
    assert "3/3" in html and "0/3" in html
    # Something is still running, so the table refreshes itself.
    assert 'hx-trigger="every 3s [!document.hidden]"' in html


def test_the_execution_list_filters_by_task_status_and_trigger(user_client, finished_execution, running_execution):
    def shown(**query):
        html = user_client.get(reverse("ui:execution-list"), query, **HTMX).content.decode()
        return {e.pk for e in (finished_execution, running_execution) if f'href="/executions/{e.pk}/"' in html}

    assert shown(status="completed") == {finished_execution.pk}
    assert shown(trigger="api") == {running_execution.pk}
    assert shown(task="ui-chain") == {finished_execution.pk, running_execution.pk}
    assert shown(task="CHAIN") == {finished_execution.pk, running_execution.pk}
    assert shown(task="nothing") == set()


def test_the_execution_list_htmx_request_gets_only_the_table(user_client, finished_execution):
    html = user_client.get(reverse("ui:execution-list"), {"status": "completed"}, **HTMX).content.decode()
    assert html.lstrip().startswith('<div id="execution-table"')
    assert "<html" not in html and "every 3s" not in html


def test_the_execution_page_shows_summary_timeline_nodes_and_actions(user_client, finished_execution):
    response = user_client.get(reverse("ui:execution-detail", args=[finished_execution.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-status="completed"' in html
    assert "Nodes finished 3/3" in html
    assert html.count('class="tl-bar status-completed') == 3
    assert html.count('class="node-card"') == 3
    # A completed run offers a fresh run; re-running "from the failed nodes" would do nothing.
    assert 'id="run-again"' in html and 'id="cancel-execution"' not in html
    assert 'id="rerun-execution"' not in html
    assert "hx-trigger" not in html.split('id="exec-live"')[1].split(">")[0]
    assert [n["id"] for n in response.context["graph"]["nodes"]] == ["fetch", "wait", "report"]


def test_the_timeline_places_bars_in_order(user_client, finished_execution):
    response = user_client.get(reverse("ui:execution-detail", args=[finished_execution.pk]))
    rows = response.context["timeline"].rows
    assert [r.node.node_id for r in rows] == ["fetch", "wait", "report"]
    assert rows[0].left == 0 and rows[0].left < rows[1].left < rows[2].left
    assert all(0 < r.width <= 100 for r in rows)
    assert rows[2].left + rows[2].width == pytest.approx(100, abs=0.5)


def test_a_running_execution_polls_every_second_and_offers_cancel(user_client, running_execution):
    html = user_client.get(reverse("ui:execution-detail", args=[running_execution.pk])).content.decode()
    live = html.split('id="exec-live"')[1].split(">")[0]
    assert 'hx-trigger="every 1s [!document.hidden]"' in live
    assert 'id="cancel-execution"' in html and 'id="rerun-execution"' not in html


def test_the_live_partial_returns_both_regions_and_stops_polling_when_final(user_client, running_execution):
    url = reverse("ui:execution-live", args=[running_execution.pk])
    response = user_client.get(url, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="exec-live"')
    assert 'id="exec-detail" hx-swap-oob="true"' in html
    Execution.objects.filter(pk=running_execution.pk).update(status=ExecutionStatus.FAILED, error="boom")
    response = user_client.get(url, **HTMX)
    assert response.status_code == 286
    assert "every 1s" not in response.content.decode()
    assert "boom" in response.content.decode()


def test_node_output_and_errors_with_markup_are_rendered_inert(user_client, finished_execution):
    node = NodeRun.objects.get(execution=finished_execution, node_id="fetch")
    node.output = {"title": SCRIPT, "links": [SCRIPT]}
    node.error = SCRIPT
    node.status = NodeStatus.FAILED
    node.logs = [SCRIPT]
    node.attempt_log = [{"attempt": 1, "status": "failed", "error": SCRIPT, "worker": SCRIPT}]
    node.save()
    Execution.objects.filter(pk=finished_execution.pk).update(error=SCRIPT, status_reason=SCRIPT)
    Event.objects.create(type="workflow.failed", execution=finished_execution, node_id="fetch", data={"error": SCRIPT})
    for url in (
        reverse("ui:execution-detail", args=[finished_execution.pk]),
        reverse("ui:execution-live", args=[finished_execution.pk]),
    ):
        html = user_client.get(url, **({} if url.endswith(f"/{finished_execution.pk}/") else HTMX)).content.decode()
        assert SCRIPT not in html
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(" in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_stored_secret_values_are_masked_in_outputs_and_errors(user_client, finished_execution):
    Secret.objects.create(name="token", value="very-secret-token-42")
    node = NodeRun.objects.get(execution=finished_execution, node_id="fetch")
    node.output = {"header": "Bearer very-secret-token-42"}
    node.input = {"token": "very-secret-token-42"}
    node.error = "401 for very-secret-token-42"
    node.save()
    html = user_client.get(reverse("ui:execution-detail", args=[finished_execution.pk])).content.decode()
    assert "very-secret-token-42" not in html
    assert "Bearer ********" in html


def test_cancel_from_the_page_cancels_a_running_execution(user_client, running_execution):
    response = user_client.post(reverse("ui:execution-cancel", args=[running_execution.pk]), **HTMX)
    assert response.status_code in (200, 286)
    running_execution.refresh_from_db()
    assert running_execution.cancel_requested_at is not None or running_execution.status == "cancelled"
    assert 'id="exec-live"' in response.content.decode()


def test_cancelling_a_finished_execution_says_so(user_client, finished_execution):
    response = user_client.post(reverse("ui:execution-cancel", args=[finished_execution.pk]), follow=True)
    assert "already finished" in response.content.decode()
    finished_execution.refresh_from_db()
    assert finished_execution.status == "completed"


def test_a_failed_run_offers_a_rerun_of_its_failed_nodes(user_client, finished_execution):
    Execution.objects.filter(pk=finished_execution.pk).update(status=ExecutionStatus.FAILED)
    html = user_client.get(reverse("ui:execution-detail", args=[finished_execution.pk])).content.decode()
    assert 'id="rerun-execution"' in html and 'id="run-again"' not in html


def test_rerun_creates_a_new_execution_and_redirects_to_it(user_client, finished_execution):
    response = user_client.post(reverse("ui:execution-rerun", args=[finished_execution.pk]), **HTMX)
    rerun = Execution.objects.exclude(pk=finished_execution.pk).get()
    assert rerun.trigger == "rerun"
    assert response["HX-Redirect"] == reverse("ui:execution-detail", args=[rerun.pk])


def test_rerun_of_a_running_execution_is_refused(user_client, running_execution):
    response = user_client.post(reverse("ui:execution-rerun", args=[running_execution.pk]), follow=True)
    assert "cancel it first" in response.content.decode()
    assert Execution.objects.count() == 1


def test_an_unknown_execution_is_a_404(user_client, db):
    assert user_client.get(reverse("ui:execution-detail", args=[999999])).status_code == 404


def test_a_run_recorded_without_a_definition_snapshot_draws_the_task_graph(user_client, chain_task):
    execution = Execution.objects.create(task=chain_task, status="completed", definition={})
    response = user_client.get(reverse("ui:execution-detail", args=[execution.pk]))
    assert [n["id"] for n in response.context["graph"]["nodes"]] == ["fetch", "wait", "report"]
