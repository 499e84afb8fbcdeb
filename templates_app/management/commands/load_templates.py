"""Load the predefined templates (``templates_app/predefined/*.json``) or the
given files. Safe to run on every start: versions already stored are left
alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orchestration.errors import DefinitionInvalid
from templates_app.services import template_load

PREDEFINED_DIR = Path(__file__).resolve().parents[2] / "predefined"


def predefined_files() -> list[Path]:
    return sorted(PREDEFINED_DIR.glob("*.json"))


class Command(BaseCommand):
    help = "Load the predefined task templates (idempotent), or the template JSON files given."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="*", help="template JSON files (default: the predefined ones)")

    def handle(self, *args: Any, **options: Any) -> None:
        files = [Path(f) for f in options["files"]] or predefined_files()
        counts = {"created": 0, "unchanged": 0, "conflict": 0, "failed": 0}
        for path in files:
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                counts["failed"] += 1
                self.stderr.write(f"{path.name}: cannot read: {exc}")
                continue
            try:
                outcome = template_load(document=document)
            except DefinitionInvalid as exc:
                counts["failed"] += 1
                self.stderr.write(f"{path.name}: invalid template")
                for error in exc.errors:
                    self.stderr.write(f"  {error['path'] or '(document)'}: {error['message']}")
                continue
            counts[outcome] += 1
            label = f"{document.get('id')}@{document.get('version', '1.0.0')}"
            if outcome == "conflict":
                self.stderr.write(
                    f"{path.name}: {label} is stored with different content; versions are immutable, "
                    "so give the file a higher version"
                )
            elif options["verbosity"] > 1 or outcome == "created":
                self.stdout.write(f"{path.name}: {label} {outcome}")
        summary = ", ".join(f"{n} {k}" for k, n in counts.items())
        if counts["failed"]:
            raise CommandError(f"templates: {summary}")
        self.stdout.write(self.style.SUCCESS(f"templates: {summary}"))
