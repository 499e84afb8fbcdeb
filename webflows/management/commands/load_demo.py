"""``manage.py load_demo``: the demo that watches the local sandbox site — a
step workflow and two tasks (idempotent; the quick start runs it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from orchestration.models import Task
from webflows.services import step_workflow_import

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"


def demo_tasks(base: str) -> list[dict[str, Any]]:
    sandbox = f"{base}/sandbox"
    return [
        {
            "taskId": "sandbox-weibo-demo",
            "name": "Sandbox Weibo demo",
            "description": "Watches the sandbox's Weibo-shaped feed, downloads new media and analyses the posts. "
            "POST /api/v1/sandbox/advance/ adds a post.",
            "category": "weibo",
            "tags": ["demo", "sandbox"],
            "priority": "normal",
            "parameters": {"targetUrl": f"{sandbox}/weibo/u/1671109627", "maxPosts": 50, "mediaQuality": "original"},
            "workflows": [
                {
                    "id": "monitoring",
                    "name": "Timeline",
                    "workflow": "weibo-content-monitoring-workflow",
                    "config": {"targetUrl": "${targetUrl}"},
                },
                {
                    "id": "download",
                    "name": "Media",
                    "workflow": "weibo-batch-download-workflow",
                    "dependsOn": ["monitoring"],
                    "condition": {"type": "content-change", "threshold": 0.05},
                    "inputFrom": "monitoring.output",
                    "config": {"maxPosts": "${maxPosts}", "mediaQuality": "${mediaQuality}", "includeComments": True},
                },
                {
                    "id": "analysis",
                    "name": "Analysis",
                    "workflow": "content-analysis-workflow",
                    "dependsOn": ["download"],
                    "inputFrom": "download.output",
                    "config": {"analysisType": "comprehensive", "generateSummary": True},
                },
            ],
        },
        {
            "taskId": "sandbox-news-demo",
            "name": "Sandbox news page demo",
            "description": "Watches the sandbox news page and signs in to its members area to fetch the member files.",
            "category": "website",
            "tags": ["demo", "sandbox"],
            "priority": "normal",
            "parameters": {"site": sandbox},
            "workflows": [
                {
                    "id": "news",
                    "name": "News page",
                    "workflow": "page-monitor",
                    "config": {"url": "${site}/news/", "selector": "#news", "itemSelector": "li.headline"},
                },
                {
                    "id": "members",
                    "name": "Member files (Chromium)",
                    "workflow": "sandbox-members-files",
                    "config": {"site": "${site}"},
                },
                {
                    "id": "pictures",
                    "name": "New pictures",
                    "workflow": "batch-download",
                    "dependsOn": ["news"],
                    "condition": {"type": "expression", "expression": "${news.hasChanges == true}"},
                    "inputFrom": "news.output",
                },
            ],
        },
    ]


class Command(BaseCommand):
    help = "Load the sandbox demo: a step workflow and two tasks watching the local sandbox site."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--base-url",
            default=getattr(settings, "WEBAUTO_BASE_URL", "http://127.0.0.1:8000"),
            help="Where this WebAuto (and so its /sandbox/) is served.",
        )

    def handle(self, *args: Any, base_url: str, **options: Any) -> None:
        from orchestration.services import task_create

        for file in sorted(DEMO_DIR.glob("*.workflow.json")):
            workflow, created = step_workflow_import(definition=json.loads(file.read_text(encoding="utf-8")))
            self.stdout.write(f"{'Created' if created else 'Updated'} demo workflow {workflow.name}")
        for definition in demo_tasks(base_url.rstrip("/")):
            if Task.objects.filter(task_id=definition["taskId"]).exists():
                self.stdout.write(f"Demo task {definition['taskId']} exists already")
                continue
            task_create(definition=definition)
            self.stdout.write(f"Created demo task {definition['taskId']}")
