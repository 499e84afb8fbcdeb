"""Signed webhooks: the documented sha256=<hex> header, the Standard Webhooks
scheme with its tolerance window and remembered ids, and headers a client can
fill with anything (never a 500)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from orchestration.models import Execution
from scheduling import services
from scheduling.models import Fire, WebhookMessage
from webauto.webhook_signatures import legacy_signature, standard_headers

pytestmark = pytest.mark.django_db

SECRET = "s3cret-of-the-hook"
BODY = b'{"user": "1671109627"}'


@pytest.fixture
def hook(make_task):
    def make(**extra):
        block = {"type": "manual", "trigger": "webhook", "webhookSecret": SECRET, **extra}
        schedule = services.schedule_create(task=make_task(), block=block)
        return schedule, f"/hooks/{schedule.new_webhook_token}/"

    return make


def post(url, headers, body=BODY):
    return Client(raise_request_exception=False).post(
        url, data=body, content_type="application/json", headers=headers
    )


def error(response):
    return response.json()["errors"][0]


GOOD_HEX = legacy_signature(SECRET, BODY).removeprefix("sha256=")


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Webauto-Signature", "sha256=é" + GOOD_HEX[1:]),
        ("X-Webauto-Signature", "sha256=" + "\u4e2d" * 64),
        ("X-Hub-Signature-256", "sha256=ÿ"),
        ("X-Webauto-Signature", GOOD_HEX),  # the documented prefix is required
        ("X-Webauto-Signature", "sha1=" + GOOD_HEX[:40]),
        ("X-Webauto-Signature", "sha256=" + GOOD_HEX[:63]),
        ("X-Webauto-Signature", "sha256=" + GOOD_HEX + "00"),
        ("X-Webauto-Signature", "sha256=zz"),
    ],
)
def test_a_malformed_legacy_signature_is_a_403_naming_the_header(hook, header, value):
    schedule, url = hook()
    response = post(url, {header: value})
    assert response.status_code == 403
    assert error(response) == {
        "path": f"headers.{header}",
        "message": f"{header} must be sha256=<64 hex digits of the HMAC-SHA256 of the raw body>",
    }
    assert not Fire.objects.exists()


def test_the_documented_legacy_signature_still_works_in_either_case(hook):
    schedule, url = hook()
    assert post(url, {"X-Webauto-Signature": "sha256=" + GOOD_HEX.upper()}).status_code == 202
    assert services.webhook_signature_valid(schedule, BODY, "sha256=" + GOOD_HEX)
    assert not services.webhook_signature_valid(schedule, BODY, GOOD_HEX)
    assert not services.webhook_signature_valid(schedule, BODY, "sha256=é")


def standard(body=BODY, *, message_id="msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", at=None, secret=SECRET):
    return standard_headers(secret, message_id, body, now=time.time() if at is None else at)


def test_a_standard_webhooks_request_starts_a_run(hook):
    schedule, url = hook()
    response = post(url, standard())
    assert response.status_code == 202, response.content
    execution = Execution.objects.get(pk=response.json()["executionId"])
    assert execution.input == {"user": "1671109627"}
    assert WebhookMessage.objects.get().message_id == "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"


def test_a_replayed_standard_request_starts_nothing_new(hook):
    schedule, url = hook()
    headers = standard()
    first = post(url, headers)
    assert first.status_code == 202
    again = post(url, headers)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["fireId"] == first.json()["fireId"]
    # The id is remembered on its own: pruning fire history does not reopen it.
    Fire.objects.all().delete()
    assert post(url, headers).json()["duplicate"] is True
    assert Execution.objects.count() == 1


def test_a_timestamp_outside_the_window_is_refused(hook, settings):
    schedule, url = hook()
    for at in (time.time() - 400, time.time() + 400):
        response = post(url, standard(at=at))
        assert response.status_code == 403
        assert error(response)["path"] == "headers.webhook-timestamp"
        assert "more than 300 s away" in error(response)["message"]
    assert post(url, standard(at=time.time() - 120, message_id="a")).status_code == 202
    settings.WEBAUTO_WEBHOOK_TOLERANCE_SECONDS = 60
    refused = post(url, standard(at=time.time() - 120, message_id="b"))
    assert refused.status_code == 403
    assert "more than 60 s away" in error(refused)["message"]
    assert Execution.objects.count() == 1


def test_one_matching_entry_in_the_signature_list_is_enough(hook):
    schedule, url = hook()
    headers = standard()
    wrong = standard(secret="not-the-secret")["webhook-signature"]
    headers["webhook-signature"] = f"v1a,abc {wrong} {headers['webhook-signature']}"
    assert post(url, headers).status_code == 202
    headers = standard(message_id="other")
    headers["webhook-signature"] = wrong
    refused = post(url, headers)
    assert refused.status_code == 403
    assert error(refused) == {"path": "headers.webhook-signature", "message": "signature does not match the body"}


def test_a_whsec_secret_is_base64_decoded_as_the_scheme_says(make_task):
    key = b"\x00\x01binary-key\xff"
    secret = "whsec_" + base64.b64encode(key).decode()
    schedule = services.schedule_create(
        task=make_task(), block={"type": "manual", "trigger": "webhook", "webhookSecret": secret}
    )
    url = f"/hooks/{schedule.new_webhook_token}/"
    # Signed as the Standard Webhooks reference libraries do: HMAC with the decoded key.
    now = int(time.time())
    digest = hmac.new(key, f"m1.{now}.".encode() + BODY, hashlib.sha256).digest()
    headers = {"webhook-id": "m1", "webhook-timestamp": str(now), "webhook-signature": "v1," + base64.b64encode(digest).decode()}
    assert post(url, headers).status_code == 202


def test_both_schemes_key_a_whsec_secret_with_its_decoded_bytes(make_task):
    """One secret, one key (issue 13 point 9): the legacy sha256= HMAC of a
    whsec_ secret is keyed with the base64-decoded bytes, like v1 entries."""
    key = b"\x00\x01binary-key\xff"
    secret = "whsec_" + base64.b64encode(key).decode()
    schedule = services.schedule_create(
        task=make_task(), block={"type": "manual", "trigger": "webhook", "webhookSecret": secret}
    )
    url = f"/hooks/{schedule.new_webhook_token}/"
    raw_text_key = hmac.new(secret.encode(), BODY, hashlib.sha256).hexdigest()
    refused = post(url, {"X-Webauto-Signature": "sha256=" + raw_text_key})
    assert refused.status_code == 403
    assert error(refused)["path"] == "headers.X-Webauto-Signature"
    decoded_key = hmac.new(key, BODY, hashlib.sha256).hexdigest()
    assert legacy_signature(secret, BODY) == "sha256=" + decoded_key
    assert post(url, {"X-Webauto-Signature": "sha256=" + decoded_key}).status_code == 202


@pytest.mark.parametrize(
    ("change", "status", "path"),
    [
        ({"webhook-id": None}, 401, "headers.webhook-id"),
        ({"webhook-timestamp": None}, 401, "headers.webhook-timestamp"),
        ({"webhook-signature": None}, 401, "headers.webhook-signature"),
        ({"webhook-id": "é-id"}, 403, "headers.webhook-id"),
        ({"webhook-id": "x" * 256}, 403, "headers.webhook-id"),
        ({"webhook-timestamp": "١٧٠٠٠٠٠٠٠٠"}, 403, "headers.webhook-timestamp"),
        ({"webhook-timestamp": "1e9"}, 403, "headers.webhook-timestamp"),
        ({"webhook-timestamp": "9" * 400}, 403, "headers.webhook-timestamp"),
        ({"webhook-signature": "v1,é"}, 403, "headers.webhook-signature"),
        ({"webhook-signature": "v1,!!!notbase64"}, 403, "headers.webhook-signature"),
        ({"webhook-signature": "v1"}, 403, "headers.webhook-signature"),
        ({"webhook-signature": "v2,abcd"}, 403, "headers.webhook-signature"),
    ],
)
def test_malformed_standard_headers_are_refused_not_a_500(hook, change, status, path):
    schedule, url = hook()
    headers = standard()
    for name, value in change.items():
        if value is None:
            del headers[name]
        else:
            headers[name] = value
    response = post(url, headers)
    assert response.status_code == status
    assert error(response)["path"] == path
    assert not Fire.objects.exists()


def test_a_request_refused_while_paused_can_be_retried_with_its_id(hook):
    schedule, url = hook()
    headers = standard()
    services.schedule_pause(schedule=schedule)
    assert post(url, headers).status_code == 409
    services.schedule_resume(schedule=schedule)
    assert post(url, headers).status_code == 202
    assert Execution.objects.count() == 1


def test_remembered_ids_are_forgotten_after_twice_the_window(hook):
    schedule, url = hook()
    old = WebhookMessage.objects.create(
        schedule=schedule, message_id="old", received_at=timezone.now() - timedelta(seconds=601)
    )
    recent = WebhookMessage.objects.create(
        schedule=schedule, message_id="recent", received_at=timezone.now() - timedelta(seconds=599)
    )
    assert post(url, standard()).status_code == 202
    assert not WebhookMessage.objects.filter(pk=old.pk).exists()
    assert WebhookMessage.objects.filter(pk=recent.pk).exists()


def test_legacy_signatures_can_be_turned_off(hook, settings):
    schedule, url = hook()
    settings.WEBAUTO_WEBHOOK_LEGACY_SIGNATURES = False
    response = post(url, {"X-Webauto-Signature": "sha256=" + GOOD_HEX})
    assert response.status_code == 401
    assert "webhook-timestamp" in error(response)["message"]
    assert post(url, standard()).status_code == 202


@pytest.mark.parametrize("length", ["abc", "-1", "١٢", "1e3"])
def test_a_malformed_content_length_is_a_400(hook, length):
    schedule, url = hook()
    response = Client(raise_request_exception=False).post(
        url, data=BODY, content_type="application/json", CONTENT_LENGTH=length
    )
    assert response.status_code == 400
    assert error(response)["path"] == "headers.Content-Length"


def test_a_form_body_is_read_from_the_raw_bytes(hook):
    schedule, url = hook()
    body = b"a=1&b=2&b=3"
    response = Client().post(
        url, data=body, content_type="application/x-www-form-urlencoded",
        headers={"X-Webauto-Signature": legacy_signature(SECRET, body)},
    )
    assert response.status_code == 202
    assert Execution.objects.get().input == {"a": "1", "b": ["2", "3"]}


def test_json_bodies_are_signed_byte_for_byte(hook):
    schedule, url = hook()
    body = json.dumps({"name": "Zoë"}, ensure_ascii=False).encode()
    assert post(url, standard(body), body=body).status_code == 202


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_id_start_one_run(hook):
    """Both requests pass the remembered-id check before either commits; the
    schedule's row lock and the unique (schedule, webhook-id) row leave one run."""
    import threading

    from django.db import connection

    schedule, url = hook()
    headers = standard()
    barrier = threading.Barrier(4)
    codes: list[int] = []

    def send() -> None:
        try:
            barrier.wait()
            codes.append(post(url, headers).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [200, 200, 200, 202]
    assert Execution.objects.count() == 1
    assert WebhookMessage.objects.count() == 1
