from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.models import Channel, Delivery
from monitoring.services import (
    channels_sync_from_definition,
    deliveries_process_due,
    delivery_attempt,
    delivery_create,
)
from monitoring.transports import Message
from tests.definitions.conftest import SEED_PATH


def _queue(channel: Channel) -> Delivery:
    return delivery_create(channel=channel, message=Message(purpose="test", subject="s", text="t", data={"x": 1}))


@pytest.mark.django_db
def test_a_receiver_answering_500_is_retried_until_it_accepts(http_receiver, settings):
    settings.WEBAUTO_DELIVERY_RETRY_BASE_SECONDS = 30
    http_receiver.plan("/flaky", 500, 500, 200)
    channel = Channel.objects.create(name="flaky", kind="webhook", config={"url": http_receiver.url("/flaky")})
    delivery = _queue(channel)

    delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "retrying" and delivery.response_code == 500
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=25)
    # not due yet: nothing is sent
    assert delivery_attempt(delivery_id=delivery.pk) is None
    assert deliveries_process_due() == []

    later = timezone.now() + timedelta(seconds=31)
    assert deliveries_process_due(now=later) == [delivery.pk]
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "retrying" and delivery.attempts == 2
    # the second wait is three times the first (90s)
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=85)

    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "sent" and delivery.attempts == 3 and delivery.response_code == 200
    assert [a["responseCode"] for a in delivery.attempt_log] == [500, 500, 200]
    assert all(a["durationMs"] >= 0 for a in delivery.attempt_log)
    assert len(http_receiver.at("/flaky")) == 3
    channel.refresh_from_db()
    assert channel.last_success_at is not None and not channel.failing_permanently


@pytest.mark.django_db
def test_a_receiver_answering_410_marks_the_channel_permanently_failing(http_receiver):
    http_receiver.plan("/gone", 410)
    channel = Channel.objects.create(name="gone", kind="webhook", config={"url": http_receiver.url("/gone")})
    delivery = _queue(channel)
    delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    channel.refresh_from_db()
    assert delivery.status == "failed" and delivery.permanent_error and delivery.response_code == 410
    assert channel.failing_permanently
    assert "410" in channel.last_error
    assert len(http_receiver.at("/gone")) == 1
    # a later success clears the flag
    http_receiver.plan("/gone", 200)
    again = _queue(channel)
    delivery_attempt(delivery_id=again.pk)
    channel.refresh_from_db()
    assert not channel.failing_permanently


@pytest.mark.django_db
def test_temporary_failures_stop_after_the_retry_limit(http_receiver, settings):
    settings.WEBAUTO_DELIVERY_MAX_RETRIES = 1  # the first attempt and one retry
    http_receiver.plan("/down", 503)
    channel = Channel.objects.create(name="down", kind="webhook", config={"url": http_receiver.url("/down")})
    delivery = _queue(channel)
    for _ in range(2):
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=None)
        delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed" and not delivery.permanent_error and delivery.attempts == 2
    channel.refresh_from_db()
    assert not channel.failing_permanently


@pytest.mark.django_db
def test_secrets_never_reach_the_delivery_record(http_receiver):
    from orchestration.models import Secret

    Secret.objects.create(name="webhookToken", value="super-secret-value")
    channel = Channel.objects.create(name="hook", kind="webhook", config={
        "url": http_receiver.url("/h"), "headers": {"Authorization": "Bearer ${webhookToken}", "X-Api-Key": "literal-key"},
    })
    delivery = _queue(channel)
    delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert http_receiver.at("/h")[0].headers["Authorization"] == "Bearer super-secret-value"
    assert delivery.headers == {"Authorization": "Bearer ${webhookToken}", "X-Api-Key": "********"}
    stored = str(list(Delivery.objects.values()))
    assert "super-secret-value" not in stored and "literal-key" not in stored


@pytest.mark.django_db
def test_a_delivery_claimed_by_one_worker_is_not_sent_by_another(http_receiver):
    channel = Channel.objects.create(name="hook", kind="webhook", config={"url": http_receiver.url("/once")})
    delivery = _queue(channel)
    Delivery.objects.filter(pk=delivery.pk).update(status="sending", claimed_at=timezone.now())
    assert delivery_attempt(delivery_id=delivery.pk) is None
    assert http_receiver.requests == []


@pytest.mark.django_db
def test_a_delivery_left_sending_by_a_dead_worker_is_taken_back():
    channel = Channel.objects.create(name="hook", kind="webhook", config={"url": "http://127.0.0.1:9/"})
    delivery = _queue(channel)
    Delivery.objects.filter(pk=delivery.pk).update(status="sending", claimed_at=timezone.now() - timedelta(hours=1))
    assert deliveries_process_due() == [delivery.pk]
    delivery.refresh_from_db()
    assert delivery.status == "retrying"


@pytest.mark.django_db
def test_definition_channels_follow_the_definition_and_bad_ones_list_every_error(make_task):
    from orchestration.api.errors import DefinitionInvalid

    task = make_task("chan", channels=[{"type": "email", "config": {"recipients": ["a@example.com"]}}])
    first = Channel.objects.get(task=task)
    channels_sync_from_definition(task=task, definition={"notificationChannels": [
        {"type": "email", "config": {"recipients": ["b@example.com"]}, "actions": ["notify-team"]},
        {"type": "webhook", "config": {"url": "https://example.com/h"}},
    ]})
    rows = list(Channel.objects.filter(task=task).order_by("position"))
    assert rows[0].pk == first.pk and rows[0].config["recipients"] == ["b@example.com"]
    assert rows[0].actions == ["notify-team"] and rows[1].kind == "webhook"

    with pytest.raises(DefinitionInvalid) as caught:
        channels_sync_from_definition(task=task, definition={"notificationChannels": [
            {"type": "sms", "config": {}},
            {"type": "email", "config": {"recipients": ["not-an-address"]}},
            {"type": "webhook", "config": {"url": "ftp://x", "method": "DELETE"}},
        ]})
    assert {(e["path"], e["message"].split(" ")[0]) for e in caught.value.errors} >= {
        ("notificationChannels[0].type", "channel"),
        ("notificationChannels[1].config.recipients[0]", "'not-an-address'"),
        ("notificationChannels[2].config.url", "url"),
        ("notificationChannels[2].config.method", "method"),
    }


@pytest.mark.django_db
def test_a_task_with_a_bad_channel_is_not_saved():
    from orchestration.api.errors import DefinitionInvalid
    from orchestration.models import Task
    from orchestration.services import task_create
    from tests.monitoring.conftest import task_definition

    with pytest.raises(DefinitionInvalid):
        task_create(definition=task_definition("bad", channels=[{"type": "webhook", "config": {"url": "nope"}}]))
    assert not Task.objects.filter(task_id="bad").exists()


@pytest.mark.django_db
def test_the_seed_definition_creates_its_email_and_webhook_channels():
    import json

    from orchestration.models import Secret
    from orchestration.services import task_create

    seed = SEED_PATH
    Secret.objects.create(name="webhookToken", value="t0ken")
    task = task_create(definition=json.loads(seed.read_text()))
    email, webhook = Channel.objects.filter(task=task).order_by("position")
    assert (email.kind, email.config["recipients"], email.config["subject"]) == (
        "email", ["admin@example.com"], "微博监控任务通知"
    )
    assert webhook.kind == "webhook"
    assert webhook.config["headers"] == {"Authorization": "Bearer ${webhookToken}"}


@pytest.mark.django_db
def test_channel_configs_take_the_task_parameters_and_keep_secret_references(make_task):
    from orchestration.models import Secret

    Secret.objects.create(name="tok", value="hidden")
    task = make_task(
        "params",
        parameters={"admins": ["a@example.com", "b@example.com"], "hookBase": "https://hooks.example.com"},
        channels=[
            {"type": "email", "config": {"recipients": ["${admins}"], "subject": "Report"}},
            {"type": "webhook", "config": {"url": "${hookBase}/t", "headers": {"Authorization": "Bearer ${tok}"}}},
        ],
    )
    email, webhook = Channel.objects.filter(task=task).order_by("position")
    assert email.config["recipients"] == ["a@example.com", "b@example.com"]
    assert webhook.config["url"] == "https://hooks.example.com/t"
    assert webhook.config["headers"] == {"Authorization": "Bearer ${tok}"}


@pytest.mark.django_db
def test_a_secret_in_the_webhook_url_is_resolved_but_never_recorded(http_receiver):
    from orchestration.models import Secret

    Secret.objects.create(name="hookPath", value="s3cr3t-path")
    channel = Channel.objects.create(name="hook", kind="webhook", config={"url": http_receiver.base + "/${hookPath}"})
    http_receiver.plan("/s3cr3t-path", 500)
    delivery = _queue(channel)
    delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert len(http_receiver.at("/s3cr3t-path")) == 1
    assert "s3cr3t-path" not in delivery.error and "${hookPath}" in delivery.error
    channel.refresh_from_db()
    assert "s3cr3t-path" not in channel.last_error
