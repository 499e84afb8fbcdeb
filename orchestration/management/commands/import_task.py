"""Create (or with --update, replace) a task from a definition file."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orchestration import services
from orchestration.errors import DefinitionInvalid
from orchestration.models import Task


class Command(BaseCommand):
    help = "Import a task definition (JSON, the seed's format). Use '-' to read standard input."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path of the JSON definition, or - for standard input.")
        parser.add_argument(
            "--update",
            action="store_true",
            help="Replace the definition when a task with this taskId exists.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        definition = self._read(options["file"])
        task_id = definition.get("taskId") if isinstance(definition, dict) else None
        existing = (
            Task.objects.filter(task_id=task_id).first() if isinstance(task_id, str) else None
        )
        try:
            if existing is not None and options["update"]:
                task = services.task_update(task=existing, definition=definition)
                verb = "Updated"
            else:
                if not isinstance(definition, dict):
                    raise DefinitionInvalid(
                        [{"path": "", "message": "a task definition must be a JSON object"}]
                    )
                task = services.task_create(definition=definition)
                verb = "Created"
        except DefinitionInvalid as exc:
            lines = [f"  {e['path'] or '(document)'}: {e['message']}" for e in exc.errors]
            hint = (
                "\n(use --update to replace it)"
                if existing is not None and not options["update"]
                else ""
            )
            raise CommandError(
                f"{options['file']} is not a valid task definition:\n" + "\n".join(lines) + hint
            ) from None
        self.stdout.write(
            self.style.SUCCESS(f"{verb} task {task.task_id} ({len(task.workflows)} nodes)")
        )
        for warning in task.definition_warnings:
            self.stdout.write(self.style.WARNING(f"warning: {warning['path']}: {warning['message']}"))

    def _read(self, path: str) -> Any:
        try:
            if path == "-":
                text = sys.stdin.read()
            else:
                with open(path, encoding="utf-8") as fh:
                    text = fh.read()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(
                f"{path} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            ) from None
