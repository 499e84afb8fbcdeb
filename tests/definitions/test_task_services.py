from __future__ import annotations

import pytest

from orchestration.api.errors import DefinitionInvalid
from orchestration.definition_export import task_to_definition
from orchestration.models import Event, Execution, Task
from orchestration.signals import task_definition_saved
from orchestration.task_services import TaskInUse, task_create, task_delete, task_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def received():
    calls: list[dict] = []

    def receiver(sender, **kwargs):
        calls.append(kwargs)

    task_definition_saved.connect(receiver, dispatch_uid="test-received")
    yield calls
    task_definition_saved.disconnect(dispatch_uid="test-received")


@pytest.fixture
def rejecting_receiver():
    def receiver(sender, **kwargs):
        raise DefinitionInvalid([{"path": "schedule", "message": "rejected by a receiver"}])

    task_definition_saved.connect(receiver, dispatch_uid="test-rejecting")
    yield
    task_definition_saved.disconnect(dispatch_uid="test-rejecting")


def test_it_creates_the_seed_task(seed_ready, seed, received, admin_user):
    task = task_create(definition=seed, user=admin_user)
    assert Task.objects.get().task_id == "weibo-complete-monitoring-task"
    assert task.created_by == admin_user
    assert task_to_definition(task) == seed
    assert received == [
        {"signal": task_definition_saved, "task": task, "created": True, "definition": seed}
    ]
    event = Event.objects.get(type="task.created")
    assert event.task == task and event.data["taskId"] == task.task_id


def test_an_invalid_definition_saves_nothing(make_definition, received):
    doc = make_definition(priority="urgent")
    with pytest.raises(DefinitionInvalid) as caught:
        task_create(definition=doc)
    assert caught.value.errors == [
        {
            "path": "priority",
            "message": "priority must be one of low, normal, high, critical (got 'urgent')",
        }
    ]
    assert Task.objects.count() == 0 and Event.objects.count() == 0 and received == []


def test_a_taken_task_id_is_refused(make_definition):
    task_create(definition=make_definition())
    with pytest.raises(DefinitionInvalid) as caught:
        task_create(definition=make_definition(name="Other"))
    assert caught.value.errors == [
        {"path": "taskId", "message": 'a task with taskId "small-task" already exists'}
    ]
    assert Task.objects.get().name == "Small task"


def test_a_receiver_rejecting_the_definition_rolls_everything_back(
    make_definition, rejecting_receiver
):
    with pytest.raises(DefinitionInvalid) as caught:
        task_create(definition=make_definition())
    assert caught.value.errors == [{"path": "schedule", "message": "rejected by a receiver"}]
    assert Task.objects.count() == 0 and Event.objects.count() == 0


def test_update_replaces_the_definition(make_definition, received):
    task = task_create(definition=make_definition(tags=["a"]))
    doc = make_definition(name="Renamed", priority="critical")
    del doc["taskId"]
    updated = task_update(task=task, definition=doc)
    assert (updated.name, updated.priority, updated.tags) == ("Renamed", "critical", [])
    assert received[-1]["created"] is False
    assert Event.objects.filter(type="task.updated", task=task).count() == 1


def test_partial_update_changes_only_the_keys_given(make_definition):
    task = task_create(definition=make_definition(tags=["a"], category="demo"))
    updated = task_update(task=task, definition={"enabled": False, "tags": ["b"]}, partial=True)
    assert (updated.enabled, updated.tags, updated.category, updated.name) == (
        False,
        ["b"],
        "demo",
        "Small task",
    )


def test_the_task_id_cannot_change(make_definition):
    task = task_create(definition=make_definition())
    with pytest.raises(DefinitionInvalid) as caught:
        task_update(task=task, definition={"taskId": "other"}, partial=True)
    assert caught.value.errors == [
        {"path": "taskId", "message": 'taskId cannot be changed (it is "small-task")'}
    ]


def test_an_invalid_update_leaves_the_task_as_it_was(make_definition):
    task = task_create(definition=make_definition())
    before = task_to_definition(Task.objects.get())
    broken = make_definition()
    broken["workflows"][1]["dependsOn"] = ["ghost"]
    with pytest.raises(DefinitionInvalid) as caught:
        task_update(task=task, definition=broken)
    assert caught.value.errors[0]["path"] == "workflows[1].dependsOn[0]"
    assert task_to_definition(Task.objects.get()) == before
    assert not Event.objects.filter(type="task.updated").exists()


def test_a_rejected_update_rolls_back(make_definition, request):
    task = task_create(definition=make_definition())
    request.getfixturevalue("rejecting_receiver")
    with pytest.raises(DefinitionInvalid):
        task_update(task=task, definition={"name": "Changed"}, partial=True)
    assert Task.objects.get().name == "Small task"
    assert not Event.objects.filter(type="task.updated").exists()


def test_delete_removes_the_task_and_records_it(make_definition):
    task = task_create(definition=make_definition())
    task_delete(task=task)
    assert Task.objects.count() == 0
    assert Event.objects.get(type="task.deleted").data["taskId"] == "small-task"


def test_delete_is_refused_while_an_execution_is_active(make_definition):
    task = task_create(definition=make_definition())
    Execution.objects.create(task=task, status="running", definition={})
    with pytest.raises(TaskInUse, match='task "small-task" has 1 unfinished execution'):
        task_delete(task=task)
    assert Task.objects.count() == 1
