"""The core pages learn next runs, a task's schedules and the kinds a node can
use through hooks that the feature apps fill (issue 15, point 5): what a page
shows comes from whatever is registered, not from imports of those apps."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse

from orchestration import registry, services
from orchestration.registry import NodeKind
from orchestration.ui import hooks
from tests.ui.conftest import chain_definition

EVERY_5M = {"type": "interval", "interval": 5, "unit": "m"}


def test_the_scheduler_fills_the_next_run_and_the_soonest_source_wins(db, monkeypatch):
    task = services.task_create(definition=chain_definition("every-5m", schedule=EVERY_5M))
    scheduled = hooks.next_runs([task.pk])[task.pk]
    assert timedelta(minutes=4) < scheduled - task.created_at <= timedelta(minutes=5, seconds=1)

    sooner = scheduled - timedelta(minutes=2)
    monkeypatch.setattr(hooks, "_next_runs", [*hooks._next_runs, lambda pks: {pk: sooner for pk in pks}])
    assert hooks.next_runs([task.pk]) == {task.pk: sooner}


def test_without_a_schedules_hook_the_task_page_has_no_schedules_row(user_client, db, monkeypatch):
    services.task_create(definition=chain_definition("every-5m", schedule=EVERY_5M))
    url = reverse("ui:task-detail", args=["every-5m"])
    page = user_client.get(url).content.decode()
    assert 'id="task-schedules"' in page and "next run" in page and "/schedules/?task=every-5m" in page

    monkeypatch.setattr(hooks, "_task_schedules", [])
    monkeypatch.setattr(hooks, "_next_runs", [])
    page = user_client.get(url).content.decode()
    assert 'id="task-schedules"' not in page and "next run" not in page
    assert user_client.get(reverse("ui:task-list")).status_code == 200


def test_provided_kinds_are_the_names_a_provider_lists_and_still_resolves(monkeypatch):
    offered = {"listed-and-found": NodeKind(name="listed-and-found", run=lambda c, i, x: {})}
    monkeypatch.setattr(registry, "_providers", [offered.get])
    monkeypatch.setattr(registry, "_provider_names", [lambda: ["listed-and-found", "listed-but-gone"]])
    assert [kind.name for kind in registry.provided_kinds()] == ["listed-and-found"]
