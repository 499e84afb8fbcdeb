"""Prepare the product and run web + worker + beat together (the README's
quick start). Ctrl-C stops all three."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Migrate, load shipped data, create an admin login, then run web, worker and beat."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--concurrency", type=int, default=4, help="worker processes")
        parser.add_argument("--setup-only", action="store_true", help="prepare, then exit without serving")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database migrated.")
        available = get_commands()
        if "load_templates" in available:
            call_command("load_templates")
        if "load_demo" in available:
            # The demo tasks watch the sandbox served by this very process.
            host = "127.0.0.1" if options["host"] in ("0.0.0.0", "::") else options["host"]
            call_command("load_demo", base_url=f"http://{host}:{options['port']}")
        self._ensure_admin()
        if options["setup_only"]:
            return
        self._serve(options)

    def _ensure_admin(self) -> None:
        users = get_user_model()
        if users.objects.filter(is_superuser=True).exists():
            self.stdout.write("An admin login exists already (reset it with: manage.py changepassword admin).")
            return
        password = os.environ.get("WEBAUTO_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        users.objects.create_superuser("admin", "admin@localhost", password)
        self.stdout.write(self.style.SUCCESS(f"Admin login created: user 'admin', password '{password}'"))

    def _serve(self, options: dict[str, Any]) -> None:
        python = sys.executable
        bind = f"{options['host']}:{options['port']}"
        call_command("collectstatic", interactive=False, verbosity=0)
        commands = {
            "web": [python, "-m", "gunicorn", "webauto.wsgi", "-b", bind, "-w", "2", "--threads", "4",
                    "--access-logfile", "-"],
            "worker": [python, "-m", "celery", "-A", "webauto", "worker", "-P", "prefork",
                       "-c", str(options["concurrency"]), "--without-mingle", "--without-gossip",
                       "--loglevel", "INFO"],
            "beat": [python, "-m", "celery", "-A", "webauto", "beat", "--loglevel", "INFO",
                     "-s", str(settings.VAR_DIR / "celerybeat-schedule"),
                     "--pidfile", str(settings.VAR_DIR / "celerybeat.pid")],
        }
        (settings.VAR_DIR / "celerybeat.pid").unlink(missing_ok=True)
        procs = {name: subprocess.Popen(cmd) for name, cmd in commands.items()}
        self.stdout.write(self.style.SUCCESS(f"WebAuto is running at http://{bind}/ (Ctrl-C stops it)"))
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        while not stopping:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    self.stderr.write(f"{name} exited with code {proc.returncode}; stopping the others.")
                    exit_code = proc.returncode or 1
                    stopping = True
            time.sleep(0.5)
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
        if exit_code:
            sys.exit(exit_code)
