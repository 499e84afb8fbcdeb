"""``manage.py import_workflow FILE.json [...]``: create or replace step workflows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from orchestration.errors import DefinitionInvalid
from webflows.services import step_workflow_import


class Command(BaseCommand):
    help = "Import step workflow definitions (a JSON object or a list of them) from files."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("files", nargs="+", type=Path)

    def handle(self, *args: Any, files: list[Path], **options: Any) -> None:
        for file in files:
            try:
                data = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise CommandError(f"{file}: cannot read JSON: {exc}") from exc
            for index, definition in enumerate(data if isinstance(data, list) else [data]):
                try:
                    workflow, created = step_workflow_import(definition=definition)
                except DefinitionInvalid as exc:
                    where = f"{file}[{index}]" if isinstance(data, list) else str(file)
                    lines = "\n".join(f"  {e['path'] or '(root)'}: {e['message']}" for e in exc.errors)
                    raise CommandError(f"{where} is not a valid workflow:\n{lines}") from exc
                verb = "Created" if created else "Updated"
                self.stdout.write(f"{verb} workflow {workflow.name} v{workflow.version} ({len(workflow.steps)} steps)")
