"""The admin deletes schedules through the service, with the same refusal as
the API and the pages for schedules that come from a task's definition."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from scheduling import services
from scheduling.models import Schedule

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_logged_in(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def both(make_task):
    task = make_task("admin-task", schedule={"type": "cron", "expression": "0 * * * *"})
    from_definition = Schedule.objects.get(task=task)
    from_api = services.schedule_create(task=task, block={"type": "interval", "interval": 1, "unit": "h"})
    return from_definition, from_api


def test_the_admin_refuses_to_delete_a_definition_schedule_and_hides_its_delete_link(admin_logged_in, both):
    from_definition, _ = both
    change = admin_logged_in.get(reverse("admin:scheduling_schedule_change", args=[from_definition.pk])).content.decode()
    assert reverse("admin:scheduling_schedule_delete", args=[from_definition.pk]) not in change
    url = reverse("admin:scheduling_schedule_delete", args=[from_definition.pk])
    response = admin_logged_in.post(url, {"post": "yes"}, follow=True)
    assert Schedule.objects.filter(pk=from_definition.pk).exists()
    assert "cannot be deleted on its own" in response.content.decode()


def test_the_admin_deletes_an_api_schedule_through_the_service(admin_logged_in, both):
    _, from_api = both
    url = reverse("admin:scheduling_schedule_delete", args=[from_api.pk])
    assert admin_logged_in.post(url, {"post": "yes"}).status_code == 302
    assert not Schedule.objects.filter(pk=from_api.pk).exists()


def test_the_bulk_action_unschedules_only_what_may_be_unscheduled(admin_logged_in, both):
    from_definition, from_api = both
    changelist = reverse("admin:scheduling_schedule_changelist")
    assert "delete_selected" not in admin_logged_in.get(changelist).content.decode()
    response = admin_logged_in.post(
        changelist,
        {"action": "unschedule_selected", ACTION_CHECKBOX_NAME: [from_definition.pk, from_api.pk]},
        follow=True,
    )
    assert list(Schedule.objects.values_list("pk", flat=True)) == [from_definition.pk]
    page = response.content.decode()
    assert "Unscheduled 1 schedule(s)." in page and "cannot be deleted on its own" in page


def test_deleting_the_task_in_the_admin_still_takes_its_schedules(admin_logged_in, both):
    from_definition, _ = both
    url = reverse("admin:orchestration_task_delete", args=[from_definition.task.pk])
    assert admin_logged_in.post(url, {"post": "yes"}).status_code == 302
    assert not Schedule.objects.exists()
