"""Webhook channels follow the same URL policy as a node's fetches (breaker1
review of issue 16): with WEBAUTO_BLOCK_PRIVATE_ADDRESSES on (or the host in
WEBAUTO_BLOCKED_NETWORKS), a channel pointed at an internal host is refused
before any request, so no internal answer ends up in a delivery."""

from __future__ import annotations

import pytest

from monitoring.models import Channel
from monitoring.services import delivery_attempt, delivery_create
from monitoring.transports import Message, TransportError, transport_for


def _message() -> Message:
    return Message(purpose="test", subject="s", text="t", data={"x": 1})


@pytest.mark.django_db
def test_webhook_channel_respects_private_address_block(settings, http_receiver):
    settings.WEBAUTO_BLOCK_PRIVATE_ADDRESSES = True
    channel = Channel(name="hook", kind="webhook", config={"url": http_receiver.url("/x")})
    with pytest.raises(TransportError, match="refused.*private or loopback address 127.0.0.1") as caught:
        transport_for(channel).send(_message())
    assert caught.value.permanent is True
    assert http_receiver.at("/x") == []


@pytest.mark.django_db
def test_a_delivery_to_a_blocked_network_fails_without_the_internal_answer(settings, http_receiver):
    settings.WEBAUTO_BLOCKED_NETWORKS = ["127.0.0.0/8"]
    channel = Channel.objects.create(name="internal", kind="webhook", config={"url": http_receiver.url("/in")})
    delivery = delivery_create(channel=channel, message=_message())
    delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.permanent_error
    assert "WEBAUTO_BLOCKED_NETWORKS" in delivery.error
    assert "answer 200" not in str(delivery.attempt_log) + delivery.error
    assert http_receiver.at("/in") == []


@pytest.mark.django_db
def test_a_secret_in_a_refused_webhook_url_stays_hidden(settings, http_receiver):
    from orchestration.models import Secret

    settings.WEBAUTO_BLOCK_PRIVATE_ADDRESSES = True
    Secret.objects.create(name="hookPath", value="s3cr3t-path-value")
    channel = Channel(name="hook", kind="webhook", config={"url": http_receiver.base + "/${hookPath}"})
    with pytest.raises(TransportError) as caught:
        transport_for(channel).send(_message())
    assert "s3cr3t-path-value" not in caught.value.message and "${hookPath}" in caught.value.message


@pytest.mark.django_db
@pytest.mark.parametrize("scheme", ["HTTP", "Http"])
def test_the_webhook_scheme_check_ignores_case(http_receiver, scheme):
    channel = Channel(name="hook", kind="webhook", config={"url": scheme + http_receiver.url("/c")[4:]})
    assert transport_for(channel).send(_message()).response_code == 200
    assert len(http_receiver.at("/c")) == 1
