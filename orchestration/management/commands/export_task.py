"""Write a task's definition as JSON (to standard output or a file)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orchestration.credentials import mask_definition
from orchestration.definition_export import task_to_definition
from orchestration.models import Task


class Command(BaseCommand):
    help = "Export a task definition in the seed's JSON format."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("task_id", metavar="TASKID", help="The task's taskId.")
        parser.add_argument("-o", "--output", help="Write to this file instead of standard output.")

    def handle(self, *args: Any, **options: Any) -> None:
        task = Task.objects.filter(task_id=options["task_id"]).first()
        if task is None:
            raise CommandError(f'no task with taskId "{options["task_id"]}"')
        text = json.dumps(mask_definition(task_to_definition(task)), ensure_ascii=False, indent=2) + "\n"
        if options["output"]:
            try:
                with open(options["output"], "w", encoding="utf-8") as fh:
                    fh.write(text)
            except OSError as exc:
                raise CommandError(f"cannot write {options['output']}: {exc.strerror}") from None
            self.stderr.write(f"Wrote {task.task_id} to {options['output']}")
        else:
            self.stdout.write(text, ending="")
