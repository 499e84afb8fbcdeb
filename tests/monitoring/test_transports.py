from __future__ import annotations

import hashlib
import hmac

import pytest

from monitoring.models import Channel
from monitoring.transports import Message, TransportError, transport_for
from monitoring.transports.webhook import SIGNATURE_HEADER


def _message() -> Message:
    return Message(purpose="test", subject="Hello", text="Body text", data={"event": "test", "n": 3})


@pytest.mark.django_db
def test_webhook_signs_the_body_and_resolves_secret_headers(http_receiver):
    from orchestration.models import Secret

    Secret.objects.create(name="webhookToken", value="tok-123")
    Secret.objects.create(name="hookKey", value="sign-me")
    channel = Channel(name="hook", kind="webhook", config={
        "url": http_receiver.url("/hook"),
        "headers": {"Authorization": "Bearer ${webhookToken}", "X-Team": "ops"},
        "signingSecret": "${hookKey}",
    })
    result = transport_for(channel).send(_message(), delivery_id=7)

    assert result.response_code == 200
    request = http_receiver.at("/hook")[0]
    assert request.headers["Authorization"] == "Bearer tok-123"
    assert request.headers["X-Team"] == "ops"
    assert request.headers["X-WebAuto-Delivery"] == "7"
    expected = "sha256=" + hmac.new(b"sign-me", request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers[SIGNATURE_HEADER], expected)
    assert request.json() == {"event": "test", "n": 3}


@pytest.mark.django_db
def test_webhook_body_template_keeps_json_types(http_receiver):
    channel = Channel(name="hook", kind="webhook", config={
        "url": http_receiver.url("/t"), "method": "PUT",
        "body": {"title": "{{ subject }}!", "count": "{{ n }}", "static": [1, True]},
    })
    transport_for(channel).send(_message())
    request = http_receiver.at("/t")[0]
    assert request.method == "PUT"
    assert request.json() == {"title": "Hello!", "count": 3, "static": [1, True]}


@pytest.mark.django_db
@pytest.mark.parametrize(("code", "permanent"), [(500, False), (503, False), (429, False), (410, True), (404, True)])
def test_webhook_errors_are_permanent_or_temporary_by_status(http_receiver, code, permanent):
    http_receiver.plan("/x", code)
    channel = Channel(name="hook", kind="webhook", config={"url": http_receiver.url("/x")})
    with pytest.raises(TransportError) as caught:
        transport_for(channel).send(_message())
    assert caught.value.permanent is permanent
    assert caught.value.response_code == code


@pytest.mark.django_db
def test_webhook_timeout_and_refused_connection_are_temporary(settings):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    channel = Channel(name="hook", kind="webhook", config={"url": f"http://127.0.0.1:{port}/", "timeout": 1})
    with pytest.raises(TransportError) as caught:
        transport_for(channel).send(_message())
    assert caught.value.permanent is False
    assert "cannot reach" in caught.value.message


@pytest.mark.django_db
def test_webhook_with_an_undefined_secret_fails_permanently_naming_it(http_receiver):
    channel = Channel(name="hook", kind="webhook", config={
        "url": http_receiver.url("/s"), "headers": {"Authorization": "Bearer ${nope}"},
    })
    with pytest.raises(TransportError, match="secret 'nope' is not defined") as caught:
        transport_for(channel).send(_message())
    assert caught.value.permanent
    assert http_receiver.requests == []


@pytest.mark.django_db
def test_email_goes_through_smtp_with_the_subject_template(smtp_server):
    channel = Channel(name="mail", kind="email", config={
        "recipients": ["ops@example.com", "dev@example.com"], "subject": "[{{ event }}] {{ subject }}",
    })
    message = Message(purpose="test", subject="Hello", text="Body text", html="<p>Body</p>", data={"event": "test"})
    transport_for(channel).send(message)
    assert len(smtp_server.messages) == 1
    mail = smtp_server.messages[0]
    assert mail["Subject"] == "[test] Hello"
    assert "ops@example.com" in mail["X-Envelope-To"] and "dev@example.com" in mail["X-Envelope-To"]
    parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in mail.walk() if not p.is_multipart()}
    assert "Body text" in parts["text/plain"]
    assert "<p>Body</p>" in parts["text/html"]


@pytest.mark.django_db
def test_a_plain_subject_prefixes_the_message_subject(smtp_server):
    channel = Channel(name="mail", kind="email", config={"recipients": ["a@example.com"], "subject": "微博监控任务通知"})
    transport_for(channel).send(_message())
    from email.header import decode_header, make_header

    assert str(make_header(decode_header(smtp_server.messages[0]["Subject"]))) == "微博监控任务通知: Hello"


@pytest.mark.django_db
def test_email_to_an_unreachable_server_is_temporary(settings):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    channel = Channel(name="mail", kind="email", config={"recipients": ["a@example.com"]})
    with pytest.raises(TransportError) as caught:
        transport_for(channel).send(_message())
    assert caught.value.permanent is False
