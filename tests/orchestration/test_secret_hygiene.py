"""Secret hygiene without a worker: minimum length, allowedHosts validation,
redaction of encoded forms, host matching, notifications refused for a
host a secret does not allow, and channel credentials masked everywhere."""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

import pytest

from monitoring.models import Channel
from monitoring.transports import Message, TransportError
from monitoring.transports.webhook import WebhookTransport
from orchestration import references, secret_hosts
from orchestration.models import Secret, Task

SECRETS = "/api/v1/secrets/"


@pytest.mark.django_db
def test_a_secret_shorter_than_8_characters_is_refused_with_a_clear_message(api_client, client, admin_user):
    response = api_client.post(SECRETS, {"name": "short", "value": "v"}, format="json")
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["path"] == "value" and "at least 8 characters" in error["message"]
    Secret.objects.create(name="kept", value="long-enough-1")
    response = api_client.patch(f"{SECRETS}kept/", {"value": "1234567"}, format="json")
    assert response.status_code == 400 and "at least 8" in response.json()["errors"][0]["message"]
    assert Secret.objects.get(name="kept").value == "long-enough-1"
    assert api_client.post(SECRETS, {"name": "ok", "value": "12345678"}, format="json").status_code == 201
    client.force_login(admin_user)
    page = client.post("/secrets/", {"name": "tiny", "value": "abc"})
    assert page.status_code == 400 and "at least 8 characters" in page.content.decode()
    admin = client.post("/admin/orchestration/secret/add/", {"name": "tiny2", "value": "abc", "allowed_hosts": "[]"})
    assert "at least 8 characters" in admin.content.decode()
    assert not Secret.objects.filter(name__in=["short", "tiny", "tiny2"]).exists()


@pytest.mark.django_db
def test_allowed_hosts_are_validated_normalised_and_shown(api_client):
    bad = api_client.post(
        SECRETS, {"name": "tok", "value": "token-value-1", "allowedHosts": ["ok.example.com", "no spaces"]},
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["path"] == "allowedHosts[1]"
    good = api_client.post(
        SECRETS, {"name": "tok", "value": "token-value-1", "allowedHosts": ["API.example.com", "*.example.org"]},
        format="json",
    )
    assert good.status_code == 201
    assert good.json()["allowedHosts"] == ["api.example.com", "*.example.org"]
    assert "value" not in good.json()
    changed = api_client.patch(f"{SECRETS}tok/", {"allowedHosts": []}, format="json")
    assert changed.json()["allowedHosts"] == []


def test_host_patterns_match_exact_names_and_subdomains_only():
    assert secret_hosts.host_allowed("api.example.com", ["api.example.com"])
    assert secret_hosts.host_allowed("API.Example.com.", ["api.example.com"])
    assert secret_hosts.host_allowed("a.b.example.com", ["*.example.com"])
    assert not secret_hosts.host_allowed("example.com", ["*.example.com"])
    assert not secret_hosts.host_allowed("evil-example.com", ["*.example.com"])
    assert not secret_hosts.host_allowed("api.example.com.evil.net", ["api.example.com"])


def test_redaction_covers_raw_percent_encoded_and_json_escaped_forms():
    secret = 'pa ss#w"rd/é+1'
    texts = [
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=":/?#[]@!$&'()*+,;=~"),
    ]
    out = references.redact({"shown": [f"before {t} after" for t in texts]}, [secret])
    assert out == {"shown": ["before ******** after"] * len(texts)}


def test_check_request_refuses_a_secret_in_any_form_for_another_host():
    restriction = secret_hosts.Restriction("api_key", "k3y with space", ("api.example.com",))
    with secret_hosts.restrict([restriction]):
        secret_hosts.check_request("https://api.example.com/?k=k3y%20with%20space")
        secret_hosts.check_request("https://other.example.net/", "no secret here")
        with pytest.raises(secret_hosts.SecretHostRefused, match='secret "api_key" may not be sent to host other'):
            secret_hosts.check_request("https://other.example.net/?k=k3y+with+space")
        with pytest.raises(secret_hosts.SecretHostRefused):
            secret_hosts.check_request("https://other.example.net/", b'{"key": "k3y with space"}')
    secret_hosts.check_request("https://other.example.net/?k=k3y+with+space")  # nothing active outside a node


@pytest.mark.django_db
def test_a_notification_is_not_sent_with_a_secret_to_a_host_it_does_not_allow():
    Secret.objects.create(name="hook_token", value="hook-token-123", allowed_hosts=["hooks.example.com"])
    channel = Channel(
        name="c", kind="webhook",
        config={"url": "http://127.0.0.1:9/never", "headers": {"Authorization": "Bearer ${hook_token}"}},
    )
    with pytest.raises(TransportError) as caught:
        WebhookTransport(channel).send(Message(purpose="test", subject="s", text="t"))
    assert caught.value.permanent
    assert 'secret "hook_token" may not be sent to host 127.0.0.1' in caught.value.message


LITERALS = ("literal-api-key-value", "literal-signing-secret")


def _channel_definition() -> dict:
    return {
        "taskId": "masked-channels",
        "name": "Masked channels",
        "workflows": [{"id": "a", "workflow": "echo", "config": {"output": {"x": 1}}}],
        "notificationChannels": [
            {
                "type": "webhook",
                "config": {
                    "url": "http://127.0.0.1:9/hook",
                    "headers": {"X-Api-Key": LITERALS[0], "X-Plain": "visible"},
                    "signingSecret": LITERALS[1],
                },
            }
        ],
    }


@pytest.mark.django_db
def test_channel_credentials_are_masked_everywhere_and_kept_when_sent_back(api_client, client, admin_user):
    created = api_client.post("/api/v1/tasks/", _channel_definition(), format="json")
    assert created.status_code == 201, created.content
    client.force_login(admin_user)
    task = Task.objects.get(task_id="masked-channels")
    channel = Channel.objects.get(task=task)
    shown = {
        "create response": created.content,
        "task API": api_client.get("/api/v1/tasks/masked-channels/").content,
        "definition API": api_client.get("/api/v1/tasks/masked-channels/definition/").content,
        "channels API": api_client.get("/api/v1/channels/").content,
        "task page": client.get("/tasks/masked-channels/").content,
        "export": client.get("/tasks/masked-channels/export/").content,
        "editor": client.get("/tasks/masked-channels/edit/").content,
        "task admin": client.get(f"/admin/orchestration/task/{task.pk}/change/").content,
        "channel admin": client.get(f"/admin/monitoring/channel/{channel.pk}/change/").content,
    }
    for where, body in shown.items():
        text = body.decode()
        assert not any(literal in text for literal in LITERALS), where
    assert "visible" in shown["task API"].decode() and "********" in shown["task API"].decode()

    # What the API showed, sent back as it is, keeps the stored credentials.
    definition = api_client.get("/api/v1/tasks/masked-channels/").json()
    definition["description"] = "changed"
    assert api_client.put("/api/v1/tasks/masked-channels/", definition, format="json").status_code == 200
    task.refresh_from_db()
    config = task.notification_channels[0]["config"]
    assert config["headers"]["X-Api-Key"] == LITERALS[0] and config["signingSecret"] == LITERALS[1]
    assert Channel.objects.get(task=task).config["signingSecret"] == LITERALS[1]


@pytest.mark.django_db
def test_the_channel_admin_keeps_a_masked_credential_only_for_the_same_url(client, admin_user):
    channel = Channel.objects.create(
        name="shared", kind="webhook",
        config={"url": "http://127.0.0.1:9/hook", "signingSecret": LITERALS[1]},
    )
    client.force_login(admin_user)

    def save(config: dict) -> str:
        return client.post(
            f"/admin/monitoring/channel/{channel.pk}/change/",
            {"name": "shared", "kind": "webhook", "source": "manual", "config": json.dumps(config),
             "actions": "[]", "enabled": "on"},
        ).content.decode()

    page = save({"url": "http://127.0.0.1:9/other", "signingSecret": "********"})
    assert "re-enter the credential to send it to a new URL" in page
    channel.refresh_from_db()
    assert channel.config == {"url": "http://127.0.0.1:9/hook", "signingSecret": LITERALS[1]}
    save({"url": "http://127.0.0.1:9/hook", "signingSecret": "********", "timeout": 5})
    channel.refresh_from_db()
    assert channel.config == {"url": "http://127.0.0.1:9/hook", "signingSecret": LITERALS[1], "timeout": 5}


@pytest.mark.django_db
def test_an_editor_cannot_repoint_a_masked_channel_credential_to_its_own_url(api_client, role_user):
    """The definition shows ``X-Api-Key: ********``; sent back with only the
    channel url changed it is refused (400 naming the field), and reordering
    channels does not move a credential to another channel's URL."""
    from rest_framework.test import APIClient

    definition = _channel_definition()
    second = {"type": "webhook", "config": {"url": "http://127.0.0.1:9/second", "headers": {"X-Other": "x"}}}
    definition["notificationChannels"].append(second)
    assert api_client.post("/api/v1/tasks/", definition, format="json").status_code == 201
    editor = APIClient()
    editor.force_authenticate(role_user("editor"))
    shown = editor.get("/api/v1/tasks/masked-channels/definition/").json()
    shown["notificationChannels"][0]["config"]["url"] = "http://attacker.test:8080/collect"
    answer = editor.put("/api/v1/tasks/masked-channels/", shown, format="json")
    assert answer.status_code == 400, answer.content
    error = answer.json()["errors"][0]
    assert error["path"] == "notificationChannels[0].config.headers.X-Api-Key"
    assert "re-enter the credential" in error["message"]

    # Swap the channels' URLs (masks stay at position 0): refused too.
    shown = editor.get("/api/v1/tasks/masked-channels/definition/").json()
    first, other = shown["notificationChannels"]
    first["config"]["url"], other["config"]["url"] = other["config"]["url"], first["config"]["url"]
    assert editor.put("/api/v1/tasks/masked-channels/", shown, format="json").status_code == 400
    # Reordered as a whole, each mask follows its own channel.
    shown = editor.get("/api/v1/tasks/masked-channels/definition/").json()
    shown["notificationChannels"].reverse()
    assert editor.put("/api/v1/tasks/masked-channels/", shown, format="json").status_code == 200
    configs = {c.config["url"]: c.config for c in Channel.objects.filter(task__task_id="masked-channels")}
    assert configs["http://127.0.0.1:9/hook"]["headers"]["X-Api-Key"] == LITERALS[0]
    assert "X-Api-Key" not in configs["http://127.0.0.1:9/second"].get("headers", {})
    assert not any(c.config["url"].startswith("http://attacker") for c in Channel.objects.all())


@pytest.mark.django_db
def test_the_channels_api_refuses_a_masked_credential_for_a_new_url(api_client):
    channel = Channel.objects.create(
        name="api-shared", kind="webhook", config={"url": "http://127.0.0.1:9/hook", "signingSecret": LITERALS[1]},
    )
    shown = api_client.get(f"/api/v1/channels/{channel.pk}/").json()
    shown["config"]["url"] = "http://attacker.test/collect"
    answer = api_client.patch(f"/api/v1/channels/{channel.pk}/", {"config": shown["config"]}, format="json")
    assert answer.status_code == 400
    assert "config.signingSecret" in answer.content.decode()
    channel.refresh_from_db()
    assert channel.config["url"] == "http://127.0.0.1:9/hook"


# Printable characters httpx leaves as they are in a query (' | { } ^ `)
# while percent-encoding the space and the double quote.
QUOTED_SECRET = "rq ab'cd|ef{x}"


def test_a_restricted_secret_as_httpx_writes_it_in_a_url_is_refused_for_another_host():
    """httpx sends ``rq%20ab'cd|ef{x}`` (a mix of raw and encoded characters):
    still the secret, so the request to a host it does not allow is refused."""
    import httpx

    restriction = secret_hosts.Restriction("rq", QUOTED_SECRET, ("*.example.com",))
    for url in (
        str(httpx.URL("http://127.0.0.1:18799/p?t=" + QUOTED_SECRET)),
        "http://127.0.0.1:18799/p?t=" + quote(QUOTED_SECRET, safe="'").lower(),
        "http://127.0.0.1:18799/p?t=" + quote(quote(QUOTED_SECRET)),
    ):
        with pytest.raises(secret_hosts.SecretHostRefused):
            secret_hosts.check_request(url, restrictions=[restriction])
    with pytest.raises(secret_hosts.SecretHostRefused):
        secret_hosts.check_request("http://127.0.0.1/", b"t=rq+ab%27cd%7Cef%7Bx%7D", restrictions=[restriction])
    secret_hosts.check_request(str(httpx.URL("http://api.example.com/p?t=" + QUOTED_SECRET)), restrictions=[restriction])


def test_a_secret_as_httpx_writes_it_in_a_url_is_redacted():
    import httpx

    url = str(httpx.URL("http://127.0.0.1:18799/p?t=" + QUOTED_SECRET))
    assert references.redact(url, [QUOTED_SECRET]) == f"http://127.0.0.1:18799/p?t={references.REDACTED}"
    mixed = "x=" + quote(QUOTED_SECRET, safe="|").lower() + "&y=" + QUOTED_SECRET.replace(" ", "+")
    assert references.redact(mixed, [QUOTED_SECRET]) == f"x={references.REDACTED}&y={references.REDACTED}"


def test_a_secret_with_a_hash_in_a_url_is_redacted_whole_and_in_its_part_before_the_hash():
    """A ``#`` splits the secret into query and fragment: httpx writes
    ``s3cr%20et#%'%22%C3%A9%E2%9C%93xyz``; a server sees only ``s3cr%20et``."""
    import httpx

    secret = "s3cr et#%'\"é✓xyz"
    url = str(httpx.URL("http://127.0.0.1:18799/p?token=" + secret))
    assert references.redact(url, [secret]) == f"http://127.0.0.1:18799/p?token={references.REDACTED}"
    assert references.redact("GET /p?token=s3cr%20et HTTP/1.1", [secret]) == f"GET /p?token={references.REDACTED} HTTP/1.1"
    assert references.redact(json.dumps({"v": secret}), [secret]) == json.dumps({"v": references.REDACTED})


@pytest.mark.django_db
def test_a_whitespace_only_secret_value_is_refused(api_client):
    """Eight spaces pass the 8-character minimum but would mask every run of 8 spaces."""
    answer = api_client.post(SECRETS, {"name": "blank", "value": " " * 8}, format="json")
    assert answer.status_code == 400
    error = answer.json()["errors"][0]
    assert error["path"] == "value" and "whitespace" in error["message"]
    assert api_client.post(SECRETS, {"name": "tabs", "value": "\t \n" * 4}, format="json").status_code == 400
    assert not Secret.objects.filter(name__in=["blank", "tabs"]).exists()


NON_ASCII_SECRET = "clé-secrète-✓"


@pytest.mark.django_db
def test_a_webhook_header_with_a_non_ascii_secret_fails_permanently_naming_the_header():
    """Before: ``unexpected error: UnicodeEncodeError``, retried forever."""
    Secret.objects.create(name="uni", value=NON_ASCII_SECRET)
    channel = Channel(
        name="c", kind="webhook", config={"url": "http://127.0.0.1:9/never", "headers": {"X-Api-Key": "${uni}"}}
    )
    with pytest.raises(TransportError) as caught:
        WebhookTransport(channel).send(Message(purpose="test", subject="s", text="t"))
    assert caught.value.permanent
    assert 'header "X-Api-Key"' in caught.value.message and "ASCII" in caught.value.message
    assert NON_ASCII_SECRET not in caught.value.message


def test_a_node_header_with_a_non_ascii_value_fails_clearly_and_is_not_retried():
    from orchestration.context import NodeError
    from webflows import fetch

    with pytest.raises(NodeError) as caught:
        fetch.make_client(headers={"X-Api-Key": NON_ASCII_SECRET})
    assert not caught.value.retryable
    assert 'header "X-Api-Key"' in str(caught.value) and NON_ASCII_SECRET not in str(caught.value)
    assert fetch.header_value_error({"X-Ok": "plain"}) is None


@pytest.mark.django_db
def test_url_credentials_and_a_literal_mixed_with_a_reference_are_masked_and_kept(api_client):
    """``Bearer lit ${tok}`` showed its literal; ``https://user:P4ss@host`` and
    ``?token=`` in a channel URL were shown as stored."""
    url = "http://hookuser:P4ss-word-9@127.0.0.1:9/hook?token=url-token-77&x=1&key=${tok}"
    definition = _channel_definition()
    definition["notificationChannels"][0]["config"]["url"] = url
    definition["notificationChannels"][0]["config"]["headers"]["Authorization"] = "Bearer lit-part-55 ${tok}"
    definition["notificationChannels"][0]["config"]["headers"]["X-Ref"] = "Bearer ${tok}"
    assert api_client.post("/api/v1/tasks/", definition, format="json").status_code == 201
    for path in ("/api/v1/tasks/masked-channels/definition/", "/api/v1/channels/"):
        text = api_client.get(path).content.decode()
        for literal in ("P4ss-word-9", "url-token-77", "lit-part-55"):
            assert literal not in text, (path, literal)
    shown = api_client.get("/api/v1/tasks/masked-channels/definition/").json()
    config = shown["notificationChannels"][0]["config"]
    assert config["url"] == "http://hookuser:********@127.0.0.1:9/hook?token=********&x=1&key=${tok}"
    assert config["headers"]["Authorization"] == "********" and config["headers"]["X-Ref"] == "Bearer ${tok}"
    # Sent back as shown: the stored URL and header are kept.
    assert api_client.put("/api/v1/tasks/masked-channels/", shown, format="json").status_code == 200
    stored = Channel.objects.get(task__task_id="masked-channels").config
    assert stored["url"] == url and stored["headers"]["Authorization"] == "Bearer lit-part-55 ${tok}"
    # A masked URL pointing elsewhere is refused, naming the field.
    config["url"] = "http://hookuser:********@attacker.test/hook?token=********&x=1&key=${tok}"
    answer = api_client.put("/api/v1/tasks/masked-channels/", shown, format="json")
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["path"].startswith("notificationChannels[0].config.")
