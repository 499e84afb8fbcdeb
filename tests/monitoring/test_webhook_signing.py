"""Outgoing alert webhooks carry the Standard Webhooks headers next to
X-WebAuto-Signature-256, and the project's own webhook endpoint accepts them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest

from monitoring.models import Channel
from monitoring.transports import Message, transport_for
from monitoring.transports.webhook import SIGNATURE_HEADER

pytestmark = pytest.mark.django_db


def _message() -> Message:
    return Message(purpose="alert", subject="Task failed", text="details", data={"event": "alert", "n": 1})


def test_a_signed_webhook_carries_standard_webhooks_headers(http_receiver):
    channel = Channel(name="hook", kind="webhook", config={"url": http_receiver.url("/hook"), "signingSecret": "sign-me"})
    before = int(time.time())
    transport_for(channel).send(_message(), delivery_id=41)
    transport_for(channel).send(_message(), delivery_id=41)  # a retry of the same delivery
    first, retry = http_receiver.at("/hook")

    for request in (first, retry):
        message_id = request.headers["webhook-id"]
        timestamp = request.headers["webhook-timestamp"]
        assert before <= int(timestamp) <= int(time.time())
        signed = f"{message_id}.{timestamp}.".encode() + request.body
        expected = base64.b64encode(hmac.new(b"sign-me", signed, hashlib.sha256).digest()).decode()
        assert request.headers["webhook-signature"] == f"v1,{expected}"
        # Today's header keeps working.
        legacy = "sha256=" + hmac.new(b"sign-me", request.body, hashlib.sha256).hexdigest()
        assert request.headers[SIGNATURE_HEADER] == legacy
    assert first.headers["webhook-id"] == retry.headers["webhook-id"] == "msg_webauto_delivery_41"


def test_separate_sends_get_separate_ids_and_unsigned_channels_no_headers(http_receiver):
    signed = Channel(name="a", kind="webhook", config={"url": http_receiver.url("/a"), "signingSecret": "k"})
    transport_for(signed).send(_message())
    transport_for(signed).send(_message())
    ids = {r.headers["webhook-id"] for r in http_receiver.at("/a")}
    assert len(ids) == 2
    unsigned = Channel(name="b", kind="webhook", config={"url": http_receiver.url("/b")})
    transport_for(unsigned).send(_message(), delivery_id=3)
    request = http_receiver.at("/b")[0]
    assert "webhook-signature" not in request.headers and SIGNATURE_HEADER not in request.headers


def test_an_alert_webhook_is_accepted_by_a_webhook_schedule_with_the_same_secret(http_receiver, make_task):
    """The two halves speak the same scheme: what the transport sends, the
    /hooks/ endpoint verifies (the request is replayed to it verbatim)."""
    from django.test import Client

    from scheduling import services

    schedule = services.schedule_create(
        task=make_task("hooked"), block={"type": "manual", "trigger": "webhook", "webhookSecret": "shared-key"}
    )
    channel = Channel(name="c", kind="webhook", config={"url": http_receiver.url("/c"), "signingSecret": "shared-key"})
    transport_for(channel).send(_message(), delivery_id=9)
    sent = http_receiver.at("/c")[0]
    headers = {name: sent.headers[name] for name in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    url = f"/hooks/{schedule.new_webhook_token}/"
    first = Client().post(url, data=sent.body, content_type="application/json", headers=headers)
    assert first.status_code == 202, first.content
    replay = Client().post(url, data=sent.body, content_type="application/json", headers=headers)
    assert replay.status_code == 200 and replay.json()["duplicate"] is True
