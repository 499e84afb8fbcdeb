"""The issue's "done when": the seed task, verbatim except that targetUrl points
at the sandbox's Weibo-shaped feed and the channels at a local SMTP server and
a local HTTP receiver, runs on a real Celery worker."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from django.conf import settings

from orchestration import services
from orchestration.models import EXECUTION_FINAL, Execution, NodeRun, Secret
from tests.conftest import wait_for
from tests.monitoring.conftest import http_receiver, smtp_server  # noqa: F401  (fixtures)
from tests.webflows.conftest import SANDBOX_UID

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# The verbatim copy of shared/spec/examples/task-definition.json kept with the tests.
SEED = Path(__file__).resolve().parents[1] / "definitions" / "seed" / "task-definition.json"
WEBHOOK_PATH = "/webhooks/weibo-monitoring"


def _seed_definition() -> dict:
    return json.loads(SEED.read_text(encoding="utf-8"))


def finished_execution(execution: Execution) -> Execution:
    """The execution once it reached a final status (waits up to 180 s)."""
    def done() -> Execution | None:
        execution.refresh_from_db()
        return execution if execution.status in EXECUTION_FINAL else None

    wait_for(done, timeout=180, interval=0.3)
    return execution


def node_runs_by_id(execution: Execution) -> dict[str, NodeRun]:
    """The execution's node runs by node id."""
    return {n.node_id: n for n in NodeRun.objects.filter(execution=execution)}


def test_the_seed_task_downloads_analyses_notifies_then_only_reacts_to_changes(
    live_server, worker_factory, smtp_server, http_receiver, api_client  # noqa: F811
):
    definition = _seed_definition()
    definition["parameters"]["targetUrl"] = f"{live_server.url}/sandbox/weibo/u/{SANDBOX_UID}"
    definition["notificationChannels"][1]["config"]["url"] = http_receiver.url(WEBHOOK_PATH)
    Secret.objects.create(name="webhookToken", value="tok-e2e-secret")
    task_dir = Path(settings.MEDIA_ROOT) / "tasks" / definition["taskId"]
    shutil.rmtree(task_dir, ignore_errors=True)
    task = services.task_create(definition=definition)
    worker = worker_factory(env={"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(smtp_server.port)})
    try:
        # First run: every post is new; download, analysis and notification run.
        first = finished_execution(services.execution_create(task=task, trigger="api"))
        nodes = node_runs_by_id(first)
        assert first.status == "completed", {k: (n.status, n.error) for k, n in nodes.items()}
        monitoring = nodes["monitoring"].output
        assert monitoring["hasChanges"] is True and monitoring["changeRatio"] == 1.0
        assert monitoring["postCount"] == 3
        download = nodes["download"].output
        assert (download["total"], download["downloaded"], download["skipped"]) == (6, 6, 0)
        stored = sorted(p.name for p in (task_dir / "download").glob("*.png"))
        assert len(stored) == 6 and all("/large/" in f["url"] for f in download["files"])
        assert all(post["comments"] for post in download["posts"])  # includeComments: true
        analysis = nodes["analysis"].output
        assert analysis["language"] == "zh" and analysis["documents"] == 3
        assert analysis["keywords"] and analysis["summary"]
        assert nodes["notification"].output["sent"] == 2

        assert len(smtp_server.messages) == 1
        mail = smtp_server.messages[0]
        assert "admin@example.com" in mail["X-Envelope-To"]
        body = mail.get_payload(decode=True) if not mail.is_multipart() else mail.get_payload(0).get_payload(decode=True)
        assert "downloaded: 6" in body.decode("utf-8")
        hooks = http_receiver.at(WEBHOOK_PATH)
        assert len(hooks) == 1 and hooks[0].headers["Authorization"] == "Bearer tok-e2e-secret"
        assert "tok-e2e-secret" not in json.dumps([n.output for n in nodes.values()])

        # Second run, nothing changed: the content-change condition is false, so
        # download and everything after it are skipped.
        second = finished_execution(services.execution_create(task=task, trigger="api"))
        nodes = node_runs_by_id(second)
        assert nodes["monitoring"].status == "completed"
        assert nodes["monitoring"].output["changeRatio"] == 0.0
        assert nodes["download"].status == "skipped" and "0.05" in nodes["download"].reason
        assert nodes["analysis"].status == "skipped" and nodes["notification"].status == "skipped"
        assert len(smtp_server.messages) == 1 and len(http_receiver.at(WEBHOOK_PATH)) == 1

        # The sandbox changes (a new post with two new pictures): only those are downloaded.
        response = api_client.post("/api/v1/sandbox/advance/", {}, format="json")
        assert response.status_code == 200 and response.json()["revision"] == 1
        third = finished_execution(services.execution_create(task=task, trigger="api"))
        nodes = node_runs_by_id(third)
        assert third.status == "completed", {k: (n.status, n.error) for k, n in nodes.items()}
        assert nodes["monitoring"].output["newPostIds"] == ["4900000000000004"]
        download = nodes["download"].output
        assert (download["downloaded"], download["skipped"]) == (2, 6)
        assert {f["name"] for f in download["files"]} == {"sbx0004p1.png", "sbx0004p2.png"}
        assert len(list((task_dir / "download").glob("*.png"))) == 8
        assert len(smtp_server.messages) == 2 and len(http_receiver.at(WEBHOOK_PATH)) == 2
    finally:
        worker.stop()
        shutil.rmtree(task_dir, ignore_errors=True)
