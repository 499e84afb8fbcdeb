from __future__ import annotations

import json

import jsonschema
import pytest

from monitoring.models import Alert, Channel, Delivery
from orchestration import registry
from orchestration.context import NodeError, RunContext
from tests.definitions.conftest import SEED_PATH

SEED = SEED_PATH
SEED_NOTIFICATION_CONFIG = {"channels": ["email", "webhook"], "template": "monitoring-report"}
ANALYSIS = {"title": "微博更新", "language": "zh", "summary": "今天发布了三条新微博。",
            "keywords": [{"word": "微博", "weight": 0.5}], "stats": {"characters": 120}, "counts": {"downloaded": 3}}


def test_the_seed_notification_node_config_is_valid_for_the_kind():
    kind = registry.get("notification-workflow")
    assert kind.name == "notification"
    node = next(n for n in json.loads(SEED.read_text())["workflows"] if n["id"] == "notification")
    assert node["config"] == SEED_NOTIFICATION_CONFIG
    jsonschema.validate(node["config"], kind.config_schema)


def _context(task, execution_id=1, attempt=1):
    return RunContext(task_id=task.task_id, task_pk=task.pk, execution_id=execution_id, node_id="notification",
                      attempt=attempt)


def test_the_notification_kind_sends_the_report_through_the_task_channels(make_task, smtp_server, http_receiver):
    from tests.monitoring.factories import execution

    task = make_task("report", channels=[
        {"type": "email", "config": {"recipients": ["admin@example.com"], "subject": "微博监控任务通知"}},
        {"type": "webhook", "config": {"url": http_receiver.url("/report")}},
    ])
    e = execution(task, "running")
    out = registry.get("notification-workflow").run(SEED_NOTIFICATION_CONFIG, ANALYSIS, _context(task, e.pk))
    assert out["sent"] == 2 and {d["type"] for d in out["deliveries"]} == {"email", "webhook"}
    assert all(d["status"] == "sent" for d in out["deliveries"])
    mail = smtp_server.to("admin@example.com")[0]
    text = next(p for p in mail.walk() if p.get_content_type() == "text/plain").get_payload(decode=True).decode()
    assert "今天发布了三条新微博。" in text and "微博" in text and "downloaded: 3" in text
    body = http_receiver.at("/report")[0].json()
    assert body["event"] == "report" and body["template"] == "monitoring-report"
    assert body["data"]["summary"] == ANALYSIS["summary"] and body["executionId"] == e.pk

    # a retried node does not send again to channels that already have the report
    again = registry.get("notification").run(SEED_NOTIFICATION_CONFIG, ANALYSIS, _context(task, e.pk, attempt=2))
    assert again["sent"] == 2
    assert len(smtp_server.messages) == 1 and len(http_receiver.at("/report")) == 1


def test_the_notification_kind_fails_clearly(make_task, http_receiver):
    kind = registry.get("notification")
    bare = make_task("bare")
    with pytest.raises(NodeError, match="no enabled notification channel") as caught:
        kind.run(SEED_NOTIFICATION_CONFIG, {}, _context(bare))
    assert caught.value.retryable is False

    http_receiver.plan("/gone", 410)
    task = make_task("gone", channels=[{"type": "webhook", "config": {"url": http_receiver.url("/gone")}}])
    from tests.monitoring.factories import execution

    run = execution(task, "running")
    with pytest.raises(NodeError, match="1 of 1 deliveries failed") as caught:
        kind.run({"channels": ["webhook"]}, {}, _context(task, run.pk))
    assert caught.value.retryable is False
    with pytest.raises(NodeError, match="no report template called 'nope'"):
        kind.run({"template": "nope"}, {}, _context(task, run.pk))


def test_alerts_api_lists_acknowledges_and_resolves(api_client, make_task):
    task = make_task("api")
    alert = Alert.objects.create(rule="failure", task=task, fingerprint="failure:x:", title="Broken")
    Alert.objects.create(rule="slow", task=task, fingerprint="slow:x:", title="Slow", status="resolved")
    listed = api_client.get("/api/v1/alerts/?status=active").json()
    assert [a["title"] for a in listed["results"]] == ["Broken"]
    assert api_client.get("/api/v1/alerts/?rule=slow&task=api").json()["count"] == 1

    acked = api_client.post(f"/api/v1/alerts/{alert.pk}/ack/").json()
    assert acked["status"] == "acknowledged" and acked["acknowledgedAt"]
    resolved = api_client.post(f"/api/v1/alerts/{alert.pk}/resolve/", {"resolution": "fixed the selector"}).json()
    assert resolved["status"] == "resolved" and resolved["resolution"] == "fixed the selector"


def test_channels_api_crud_masks_credentials_and_sends_a_test(api_client, make_task, http_receiver):
    created = api_client.post("/api/v1/channels/", {
        "name": "team", "type": "webhook", "actions": ["notify-team"],
        "config": {"url": http_receiver.url("/t"), "headers": {"Authorization": "Bearer literal"}},
    }, format="json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert data["config"]["headers"]["Authorization"] == "********" and data["source"] == "manual"
    channel = Channel.objects.get(pk=data["id"])
    # sending the masked value back keeps the stored one
    api_client.patch(f"/api/v1/channels/{channel.pk}/", {"config": data["config"]}, format="json")
    channel.refresh_from_db()
    assert channel.config["headers"]["Authorization"] == "Bearer literal"

    bad = api_client.post("/api/v1/channels/", {"name": "x", "type": "email", "config": {"recipients": []}},
                          format="json")
    assert bad.status_code == 400 and bad.json()["errors"][0]["path"] == "config.recipients"

    test = api_client.post(f"/api/v1/channels/{channel.pk}/test/")
    assert test.status_code == 202 and test.json()["purpose"] == "test"
    assert Delivery.objects.filter(channel=channel, purpose="test").count() == 1

    task = make_task("owned", channels=[{"type": "webhook", "config": {"url": http_receiver.url("/o")}}])
    owned = Channel.objects.get(task=task)
    assert api_client.delete(f"/api/v1/channels/{owned.pk}/").status_code == 400
    assert api_client.delete(f"/api/v1/channels/{channel.pk}/").status_code == 204


def test_pages_render_for_a_logged_in_operator(client, admin_user, make_task):
    task = make_task("pages")
    alert = Alert.objects.create(rule="failure", task=task, fingerprint="p", title="Page alert")
    Channel.objects.create(name="broken", kind="webhook", config={"url": "https://x"}, failing_permanently=True,
                           last_error="https://x answered 410 Gone")
    assert client.get("/").status_code == 302  # login required
    client.force_login(admin_user)
    for url in ("/", "/?range=7d", "/alerts/", "/alerts/?status=all", "/channels/"):
        assert client.get(url).status_code == 200, url
    assert b"failing permanently" in client.get("/channels/").content
    partial = client.get("/?partial=running", HTTP_HX_REQUEST="true")
    assert b'id="running"' in partial.content and b"<html" not in partial.content
    row = client.post(f"/alerts/{alert.pk}/ack/", HTTP_HX_REQUEST="true")
    assert b"Acknowledged" in row.content


def test_a_finished_test_delivery_stops_the_polling_with_286(client, admin_user):
    client.force_login(admin_user)
    channel = Channel.objects.create(name="c", kind="webhook", config={"url": "https://x"})
    delivery = Delivery.objects.create(channel=channel, channel_name="c", channel_kind="webhook", purpose="test")
    assert client.get(f"/deliveries/{delivery.pk}/status/").status_code == 200
    Delivery.objects.filter(pk=delivery.pk).update(status="sent")
    assert client.get(f"/deliveries/{delivery.pk}/status/").status_code == 286


@pytest.mark.django_db
def test_a_live_table_polling_without_a_session_is_told_to_stop(client):
    response = client.get("/?partial=running", HTTP_HX_REQUEST="true")
    assert response.status_code == 286 and response["HX-Refresh"] == "true"
    assert client.get("/").status_code == 302


def test_admin_lists_and_acts_on_monitoring_models(client, admin_user, make_task):
    task = make_task("adm")
    alert = Alert.objects.create(rule="failure", task=task, fingerprint="adm", title="Admin alert")
    channel = Channel.objects.create(name="c", kind="webhook", config={"url": "https://x"})
    client.force_login(admin_user)
    for url in ("/admin/monitoring/alert/", "/admin/monitoring/channel/", "/admin/monitoring/delivery/",
                "/admin/monitoring/dailyrollup/", "/admin/monitoring/executionrollup/",
                "/admin/resources/systemsample/"):
        assert client.get(url).status_code == 200, url
    client.post("/admin/monitoring/alert/", {"action": "acknowledge", "_selected_action": [alert.pk]})
    alert.refresh_from_db()
    assert alert.status == "acknowledged"
    client.post("/admin/monitoring/channel/", {"action": "send_test", "_selected_action": [channel.pk]})
    assert Delivery.objects.filter(channel=channel, purpose="test").exists()
