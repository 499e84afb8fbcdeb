from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from django.test import Client

from orchestration.models import Execution
from scheduling import services
from scheduling.models import Fire

pytestmark = pytest.mark.django_db


@pytest.fixture
def hook(make_task):
    def make(**extra):
        schedule = services.schedule_create(task=make_task(), block={"type": "manual", "trigger": "webhook", **extra})
        return schedule, f"/hooks/{schedule.new_webhook_token}/"

    return make


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_the_body_becomes_the_execution_input(hook):
    schedule, url = hook()
    response = Client().post(url, data=json.dumps({"user": "1671109627", "n": 3}), content_type="application/json")
    assert response.status_code == 202
    fire = Fire.objects.get(pk=response.json()["fireId"])
    assert (fire.outcome, fire.source) == ("started", "webhook")
    execution = Execution.objects.get(pk=response.json()["executionId"])
    assert execution.input == {"user": "1671109627", "n": 3}
    assert execution.trigger == "webhook"


def test_only_a_hash_of_the_token_is_stored(hook):
    schedule, url = hook()
    token = url.split("/")[2]
    schedule.refresh_from_db()
    assert token not in schedule.webhook_token_hash
    assert schedule.webhook_token_hash == hashlib.sha256(token.encode()).hexdigest()


def test_a_wrong_token_is_404_with_a_json_error(hook):
    hook()
    response = Client().post("/hooks/not-the-token/", data="{}", content_type="application/json")
    assert response.status_code == 404
    assert response.json() == {"errors": [{"path": "token", "message": "unknown webhook URL"}]}
    assert not Fire.objects.exists()


def test_a_missing_signature_is_401_and_a_bad_one_403(hook):
    schedule, url = hook(webhookSecret="s3cret")
    body = b'{"a": 1}'
    missing = Client().post(url, data=body, content_type="application/json")
    assert missing.status_code == 401
    assert "X-Webauto-Signature" in missing.json()["errors"][0]["message"]
    bad = Client().post(url, data=body, content_type="application/json", headers={"X-Webauto-Signature": sign("wrong", body)})
    assert bad.status_code == 403
    assert bad.json()["errors"][0]["message"] == "signature does not match the body"
    assert not Fire.objects.exists()
    good = Client().post(url, data=body, content_type="application/json", headers={"X-Webauto-Signature": sign("s3cret", body)})
    assert good.status_code == 202
    # GitHub's header name works as well.
    github = Client().post(url, data=body, content_type="application/json", headers={"X-Hub-Signature-256": sign("s3cret", body)})
    assert github.status_code == 202


def test_calls_beyond_the_rate_limit_get_429_with_retry_after(hook):
    schedule, url = hook(rateLimitPerMinute=3)
    codes = [Client().post(url, data="{}", content_type="application/json").status_code for _ in range(5)]
    assert codes == [202, 202, 202, 429, 429]
    limited = Client().post(url, data="{}", content_type="application/json")
    assert 1 <= int(limited["Retry-After"]) <= 61
    assert Fire.objects.filter(schedule=schedule).count() == 3


def test_a_replayed_idempotency_key_starts_nothing_new(hook):
    schedule, url = hook()
    first = Client().post(url, data="{}", content_type="application/json", headers={"Idempotency-Key": "abc"})
    again = Client().post(url, data="{}", content_type="application/json", headers={"Idempotency-Key": "abc"})
    assert first.json()["fireId"] == again.json()["fireId"]
    assert Execution.objects.count() == 1


def test_a_paused_webhook_schedule_answers_409(hook):
    schedule, url = hook()
    services.schedule_pause(schedule=schedule)
    response = Client().post(url, data="{}", content_type="application/json")
    assert response.status_code == 409
    assert "paused" in response.json()["errors"][0]["message"]


def test_invalid_json_is_400_and_text_bodies_are_wrapped(hook):
    schedule, url = hook()
    assert Client().post(url, data="{nope", content_type="application/json").status_code == 400
    response = Client().post(url, data="hello", content_type="text/plain")
    execution = Execution.objects.get(pk=response.json()["executionId"])
    assert execution.input == {"body": "hello", "contentType": "text/plain"}


def test_rotating_the_token_retires_the_old_url(hook):
    schedule, url = hook()
    token = services.schedule_rotate_webhook_token(schedule=schedule)
    assert Client().post(url, data="{}", content_type="application/json").status_code == 404
    assert Client().post(f"/hooks/{token}/", data="{}", content_type="application/json").status_code == 202
