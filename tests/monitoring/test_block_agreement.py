"""One notificationChannels block, one verdict: the task API (create and
patch), a template (its default channels, and instantiate options) and the
channels API accept and refuse the same channel with the same messages, and
make the same channel (they all use monitoring.channels.parse_channel)."""

from __future__ import annotations

from typing import Any

import pytest

from monitoring.models import Channel

pytestmark = pytest.mark.django_db

NODES = [{"id": "only", "name": "only", "workflow": "echo", "config": {"output": {"ok": True}}}]

CHANNELS = [
    pytest.param({"type": "email", "config": {"recipients": ["ops@example.com"], "subject": "x"}}, id="email"),
    pytest.param({"type": "email", "config": {"recipients": ["not-an-address", 7]}}, id="bad addresses"),
    pytest.param({"type": "email", "config": {"recipients": []}}, id="no recipients"),
    pytest.param({"type": "email", "config": {"recipients": "ops@example.com"}}, id="recipients not a list"),
    pytest.param({"type": "email", "config": {"recipients": ["a@example.com"], "subject": 3}}, id="bad subject"),
    pytest.param(
        {"type": "webhook", "config": {"url": "https://h.example/x", "method": "put", "headers": {"X": "1"}, "timeout": 10}},
        id="webhook",
    ),
    pytest.param({"type": "webhook", "config": {"url": "ftp://x", "method": "DELETE"}}, id="bad url and method"),
    pytest.param({"type": "webhook", "config": {"url": "https://h.example/", "headers": {"X": 1}}}, id="bad headers"),
    pytest.param({"type": "webhook", "config": {"url": "https://h.example/", "timeout": 301}}, id="timeout too long"),
    pytest.param({"type": "webhook", "config": {"url": "https://h.example/", "timeout": 0}}, id="timeout zero"),
    pytest.param({"type": "webhook", "config": {}}, id="webhook without url"),
    pytest.param({"type": "sms", "config": {}}, id="unknown type"),
    pytest.param({"type": "email", "config": "ops@example.com"}, id="config not an object"),
    pytest.param({"type": "email", "config": {"recipients": ["a@example.com"]}, "actions": ["", 3]}, id="bad actions"),
    pytest.param(
        {"type": "email", "config": {"recipients": ["a@example.com"]}, "actions": ["notify", "escalate-to-manager"]},
        id="actions",
    ),
    pytest.param({"type": "email", "config": {"recipients": ["a@example.com"]}, "actions": None}, id="null actions"),
]


def _verdict(response: Any, prefix: str, made: Any) -> tuple[int, Any]:
    """(400, problems relative to the channel) or (200, the channel made)."""
    if response.status_code >= 400:
        problems = sorted(
            (e["path"].removeprefix(prefix).lstrip("."), e["message"]) for e in response.json()["errors"]
        )
        return response.status_code, problems
    channel = made()
    return response.status_code // 100 * 100, (channel.kind, channel.config, channel.actions)


def _task_channel(task_id: str) -> Any:
    return lambda: Channel.objects.get(task__task_id=task_id)


def through_task_create(api_client: Any, channel: dict[str, Any]) -> tuple[int, Any]:
    body = {"taskId": "via-task", "name": "t", "workflows": NODES, "notificationChannels": [channel]}
    response = api_client.post("/api/v1/tasks/", body, format="json")
    return _verdict(response, "notificationChannels[0]", _task_channel("via-task"))


def through_task_patch(api_client: Any, channel: dict[str, Any]) -> tuple[int, Any]:
    body = {"taskId": "via-patch", "name": "t", "workflows": NODES}
    assert api_client.post("/api/v1/tasks/", body, format="json").status_code == 201
    response = api_client.patch("/api/v1/tasks/via-patch/", {"notificationChannels": [channel]}, format="json")
    return _verdict(response, "notificationChannels[0]", _task_channel("via-patch"))


def through_template_default(api_client: Any, channel: dict[str, Any]) -> tuple[int, Any]:
    template = {"id": "with-channel", "name": "With channel", "workflows": NODES, "notificationChannels": [channel]}
    response = api_client.post("/api/v1/templates/", template, format="json")
    if response.status_code == 201:
        response = api_client.post(
            "/api/v1/templates/with-channel/instantiate/", {"taskId": "via-default"}, format="json"
        )
    return _verdict(response, "notificationChannels[0]", _task_channel("via-default"))


def through_template_options(api_client: Any, channel: dict[str, Any]) -> tuple[int, Any]:
    template = {"id": "plain", "name": "Plain", "workflows": NODES}
    assert api_client.post("/api/v1/templates/", template, format="json").status_code == 201
    response = api_client.post(
        "/api/v1/templates/plain/instantiate/",
        {"taskId": "via-options", "options": {"notificationChannels": [channel]}},
        format="json",
    )
    return _verdict(response, "options.notificationChannels[0]", _task_channel("via-options"))


def through_channels_api(api_client: Any, channel: dict[str, Any]) -> tuple[int, Any]:
    response = api_client.post("/api/v1/channels/", {"name": "shared", **channel}, format="json")
    return _verdict(response, "", lambda: Channel.objects.get(name="shared"))


@pytest.mark.parametrize("channel", CHANNELS)
def test_every_entry_point_gives_the_same_verdict_on_a_channel(api_client, channel):
    verdicts = {
        "task API create": through_task_create(api_client, channel),
        "task API patch": through_task_patch(api_client, channel),
        "template default channels": through_template_default(api_client, channel),
        "template instantiate options": through_template_options(api_client, channel),
        "channels API": through_channels_api(api_client, channel),
    }
    reference = verdicts["channels API"]
    assert reference[0] in (200, 400), reference  # a verdict, never a 500
    assert verdicts == dict.fromkeys(verdicts, reference)


def test_bad_channels_name_each_field(api_client):
    status, problems = through_channels_api(
        api_client, {"type": "webhook", "config": {"url": "ftp://x", "method": "DELETE"}}
    )
    assert status == 400
    assert problems == [
        ("config.method", "method must be one of POST, PUT, PATCH (got 'DELETE')"),
        ("config.url", "url must be an http(s) URL (got 'ftp://x')"),
    ]


@pytest.mark.parametrize("channel", [c for c in CHANNELS if c.id in ("email", "webhook", "actions")])
def test_good_channels_are_made_with_their_config(api_client, channel):
    status, made = through_task_create(api_client, channel)
    assert status == 200
    assert made == (channel["type"], channel["config"], channel.get("actions", []))
