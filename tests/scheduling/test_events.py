from __future__ import annotations

import pytest

from orchestration import events
from orchestration.models import Event, Execution
from scheduling import filters, services
from scheduling.models import Fire

pytestmark = pytest.mark.django_db

DATA = {
    "taskId": "weibo-monitor",
    "status": "failed",
    "durationSeconds": 42.5,
    "output": {"stats": {"new": 3}, "items": [{"kind": "video"}, {"kind": "image"}]},
    "ok": False,
}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"taskId": "weibo-monitor"}, True),
        ({"taskId": "other"}, False),
        ({"status": {"in": ["failed", "timed_out"]}}, True),
        ({"status": {"nin": ["failed"]}}, False),
        ({"durationSeconds": {"gt": 30, "lte": 42.5}}, True),
        ({"durationSeconds": {"lt": 30}}, False),
        ({"output.stats.new": {"gte": 3}}, True),
        ({"output.items.0.kind": "video"}, True),
        ({"output.items.1.kind": {"ne": "image"}}, False),
        ({"output.missing": {"exists": False}}, True),
        ({"output.stats": {"exists": True}}, True),
        ({"output.missing.deeper": "x"}, False),
        ({"ok": 0}, False),  # a boolean only equals a boolean
        ({"ok": False}, True),
        ({"durationSeconds": {"gt": "10"}}, False),  # no ordering across types
        ({"taskId": "weibo-monitor", "status": "completed"}, False),  # all must hold
        ({}, True),
    ],
)
def test_filters_match_on_equality_comparisons_in_and_nested_paths(spec, expected):
    assert filters.filter_errors(spec, "filter") == []
    assert filters.matches(spec, DATA) is expected


def test_filter_problems_name_their_path():
    assert filters.filter_errors({"a": {"in": 3}, "b..c": 1, "d": {}}, "schedule.filter") == [
        {"path": "schedule.filter.a.in", "message": "'in' needs a list of values"},
        {"path": "schedule.filter.b..c", "message": "a filter path must be dotted names like 'output.count'"},
        {"path": "schedule.filter.d", "message": 'an empty condition; give a value or operators like {"gt": 3}'},
    ]


@pytest.fixture
def on_failure(make_task):
    listener = make_task("on-failure")
    return services.schedule_create(
        task=listener,
        block={"type": "event", "event": "execution.*", "filter": {"status": {"in": ["failed", "timed_out"]}, "durationSeconds": {"gt": 10}}},
    )


def test_an_event_is_acted_on_once_even_if_delivered_twice(on_failure, make_task):
    event = events.emit("execution.failed", task=make_task("watched"), data={"status": "failed", "durationSeconds": 12})
    first = services.schedule_fire_event(schedule_id=on_failure.pk, event_id=event.pk)
    again = services.schedule_fire_event(schedule_id=on_failure.pk, event_id=event.pk)
    assert first.outcome == "started" and again is None
    assert Execution.objects.filter(task=on_failure.task).count() == 1


def test_a_task_is_not_triggered_by_its_own_events(on_failure):
    event = events.emit("execution.failed", task=on_failure.task, data={"status": "failed", "durationSeconds": 99})
    assert services.schedule_fire_event(schedule_id=on_failure.pk, event_id=event.pk) is None
    assert not Fire.objects.exists()


def test_an_event_that_fails_the_filter_starts_nothing(on_failure, make_task):
    event = events.emit("execution.failed", task=make_task("watched"), data={"status": "failed", "durationSeconds": 2})
    assert services.schedule_fire_event(schedule_id=on_failure.pk, event_id=event.pk) is None


EVENT_URLS = ["/api/v1/events/", "/api/v1/schedules/events/"]


@pytest.mark.parametrize("url", EVENT_URLS)
def test_external_events_are_recorded_with_their_source(api_client, url):
    response = api_client.post(url, {"type": "deploy.finished", "data": {"env": "prod"}, "source": "ci"}, format="json")
    assert response.status_code == 201
    event = Event.objects.get(pk=response.json()["id"])
    assert (event.type, event.data, event.source) == ("deploy.finished", {"env": "prod"}, "ci")


@pytest.mark.parametrize("url", EVENT_URLS)
def test_a_bad_external_event_is_400_with_paths(api_client, url):
    response = api_client.post(url, {"type": "has space", "data": [1], "extra": 1}, format="json")
    assert response.status_code == 400
    assert [e["path"] for e in response.json()["errors"]] == ["type", "data", "extra"]
