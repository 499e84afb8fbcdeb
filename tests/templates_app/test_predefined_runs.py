"""The predefined templates really run: each one, instantiated with values
pointing at the local sandbox site and a local SMTP server, executes on a real
Celery worker."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from orchestration import services as engine
from orchestration.models import EXECUTION_FINAL, Execution, NodeRun
from templates_app.models import Template
from templates_app.services import template_instantiate
from tests.conftest import wait_for
from tests.monitoring.conftest import smtp_server  # noqa: F401  (fixture)
from webflows.sandbox.state import sandbox_advance

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _run(task) -> dict[str, NodeRun]:
    execution = engine.execution_create(task=task, trigger="api")

    def done() -> Execution | None:
        execution.refresh_from_db()
        return execution if execution.status in EXECUTION_FINAL else None

    wait_for(done, timeout=120, interval=0.3)
    nodes = {n.node_id: n for n in NodeRun.objects.filter(execution=execution)}
    assert execution.status == "completed", {k: (n.status, n.error) for k, n in nodes.items()}
    return nodes


def _instantiate(template_id: str, parameters: dict, task_id: str):
    template = Template.objects.get(template_id=template_id)
    return template_instantiate(template=template, parameters=parameters, task_id=task_id)


def test_every_predefined_template_runs_on_a_worker(live_server, worker_factory, smtp_server):  # noqa: F811
    call_command("load_templates", verbosity=0)
    sandbox = f"{live_server.url}/sandbox"
    tasks = {
        "weibo": _instantiate(
            "weibo-monitoring-template", {"targetUrl": f"{sandbox}/weibo/u/1671109627", "maxPosts": 2}, "tpl-run-weibo"
        ),
        "download": _instantiate(
            "batch-download-template",
            {"urls": [f"{sandbox}/images/news-1.png", f"{sandbox}/images/banner.png"]},
            "tpl-run-download",
        ),
        "analysis": _instantiate("content-analysis-template", {"url": f"{sandbox}/news/"}, "tpl-run-analysis"),
        "report": _instantiate(
            "page-report-notification-template",
            {"url": f"{sandbox}/news/", "recipient": "report@example.com", "subject": "Daily news"},
            "tpl-run-report",
        ),
        "watch": _instantiate(
            "website-change-monitor-template",
            {"url": f"{sandbox}/news/", "recipient": "watch@example.com", "changeThreshold": 0},
            "tpl-run-watch",
        ),
    }
    worker = worker_factory(env={"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(smtp_server.port)})
    try:
        nodes = _run(tasks["weibo"])
        assert nodes["monitoring"].output["hasChanges"] is True
        download = nodes["download"].output
        assert download["downloaded"] > 0 and download["mediaQuality"] == "original"

        nodes = _run(tasks["download"])
        assert (nodes["download"].output["total"], nodes["download"].output["downloaded"]) == (2, 2)

        nodes = _run(tasks["analysis"])
        analysis = nodes["analysis"].output
        assert analysis["keywords"] and analysis["summary"]

        nodes = _run(tasks["report"])
        assert nodes["notify"].output["sent"] == 1
        assert smtp_server.to("report@example.com")[0]["Subject"] == "Daily news"

        # The change monitor reports the first sight of the page, stays quiet
        # while nothing changes, and reports again after the page changes.
        nodes = _run(tasks["watch"])
        assert nodes["notify"].status == "completed"
        nodes = _run(tasks["watch"])
        assert nodes["notify"].status == "skipped"
        sandbox_advance()
        nodes = _run(tasks["watch"])
        assert nodes["watch"].output["hasChanges"] is True and nodes["notify"].status == "completed"
        assert len(smtp_server.to("watch@example.com")) == 2
    finally:
        worker.stop()
        for task in tasks.values():
            shutil.rmtree(Path(settings.MEDIA_ROOT) / "tasks" / task.task_id, ignore_errors=True)
