from __future__ import annotations

import pytest
from django.urls import reverse

from orchestration.models import Event, NodeState, Secret, Task

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_logged_in(client, admin_user):
    client.force_login(admin_user)
    return client


def test_every_core_model_has_a_working_changelist_with_search(admin_client_logged_in, finished_execution):
    Secret.objects.create(name="token", value="hidden-value-1")
    Event.objects.create(type="task.created", task=finished_execution.task)
    NodeState.objects.create(task=finished_execution.task, node_id="fetch", key="snapshot", data={"a": 1})
    for model in ("task", "execution", "noderun", "secret", "event", "nodestate"):
        url = reverse(f"admin:orchestration_{model}_changelist")
        assert admin_client_logged_in.get(url).status_code == 200, model
        assert admin_client_logged_in.get(url, {"q": "fetch"}).status_code == 200, model


def test_the_execution_page_lists_its_node_runs_inline(admin_client_logged_in, finished_execution):
    html = admin_client_logged_in.get(
        reverse("admin:orchestration_execution_change", args=[finished_execution.pk])
    ).content.decode()
    for node_id in ("fetch", "wait", "report"):
        assert node_id in html


def test_a_secret_value_is_never_shown_in_the_admin(admin_client_logged_in):
    secret = Secret.objects.create(name="token", value="hidden-value-1")
    for url in (
        reverse("admin:orchestration_secret_changelist"),
        reverse("admin:orchestration_secret_change", args=[secret.pk]),
        reverse("admin:orchestration_secret_history", args=[secret.pk]),
    ):
        assert "hidden-value-1" not in admin_client_logged_in.get(url).content.decode()


def test_saving_a_secret_with_a_blank_value_keeps_the_stored_value(admin_client_logged_in):
    secret = Secret.objects.create(name="token", value="hidden-value-1")
    url = reverse("admin:orchestration_secret_change", args=[secret.pk])
    response = admin_client_logged_in.post(url, {"name": "token", "value": "", "description": "rotated later"})
    assert response.status_code == 302
    secret.refresh_from_db()
    assert secret.value == "hidden-value-1" and secret.description == "rotated later"
    admin_client_logged_in.post(url, {"name": "token", "value": "new-value-2", "description": ""})
    secret.refresh_from_db()
    assert secret.value == "new-value-2"


def test_a_new_secret_needs_a_value(admin_client_logged_in):
    url = reverse("admin:orchestration_secret_add")
    response = admin_client_logged_in.post(url, {"name": "empty", "value": "", "description": ""})
    assert response.status_code == 200
    assert "A new secret needs a value." in response.content.decode()
    assert not Secret.objects.filter(name="empty").exists()
    admin_client_logged_in.post(url, {"name": "full", "value": "v-1234567", "description": ""})
    assert Secret.objects.get(name="full").value == "v-1234567"


def test_tasks_are_read_only_in_the_admin_and_link_to_their_page(admin_client_logged_in, chain_task):
    assert admin_client_logged_in.get(reverse("admin:orchestration_task_add")).status_code == 403
    html = admin_client_logged_in.get(reverse("admin:orchestration_task_change", args=[chain_task.pk])).content.decode()
    assert 'name="workflows"' not in html
    assert reverse("ui:task-detail", args=[chain_task.task_id]) in html


def test_a_task_with_a_running_execution_cannot_be_deleted_from_the_admin(admin_client_logged_in, running_execution):
    task = running_execution.task
    response = admin_client_logged_in.post(reverse("admin:orchestration_task_delete", args=[task.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert Task.objects.filter(pk=task.pk).exists()


def test_deleting_a_task_from_the_admin_uses_the_task_service(admin_client_logged_in, chain_task):
    response = admin_client_logged_in.post(reverse("admin:orchestration_task_delete", args=[chain_task.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Task.objects.filter(pk=chain_task.pk).exists()
    assert Event.objects.filter(type="task.deleted", data__taskId="ui-chain").exists()
