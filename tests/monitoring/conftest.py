"""Real receivers for notifications: an aiosmtpd SMTP server and an HTTP
server, both on 127.0.0.1 with an ephemeral port; plus task factories."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message as EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller


@dataclass
class SmtpInbox:
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd hook name)
        msg = message_from_bytes(envelope.content)
        msg["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(msg)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in m["X-Envelope-To"]]


@pytest.fixture
def smtp_server(settings) -> Iterator[SmtpInbox]:
    inbox = SmtpInbox()
    # aiosmtpd's start-up check cannot connect to port 0, so take a free
    # ephemeral port from the kernel first.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = port
        settings.EMAIL_USE_TLS = False
        settings.EMAIL_USE_SSL = False
        inbox.port = port  # type: ignore[attr-defined]
        yield inbox
    finally:
        controller.stop()


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HttpReceiver:
    """Records requests; answers with the status planned for the path (a
    list is consumed one answer per request, its last entry repeating)."""

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self.plans: dict[str, list[int]] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append(
                        ReceivedRequest(self.command, self.path, {k: v for k, v in self.headers.items()}, body)
                    )
                    plan = receiver.plans.get(self.path, [200])
                    code = plan.pop(0) if len(plan) > 1 else plan[0]
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(f"answer {code}".encode())

            do_POST = do_PUT = do_PATCH = _handle  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def plan(self, path: str, *codes: int) -> None:
        self.plans[path] = list(codes)

    def at(self, path: str) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.path == path]


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def task_definition(task_id: str, *, channels: list[dict[str, Any]] | None = None,
                    error_handling: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "taskId": task_id,
        "name": f"Task {task_id}",
        "priority": "normal",
        "workflows": [{"id": "a", "name": "A", "workflow": "echo", "config": {}}],
        "notificationChannels": channels or [],
        "errorHandling": error_handling or {},
        **extra,
    }


@pytest.fixture
def make_task(db):
    from orchestration.services import task_create

    def make(task_id: str = "t1", **kwargs: Any):
        return task_create(definition=task_definition(task_id, **kwargs))

    return make


def process_deliveries() -> list[int]:
    """Send every queued delivery in this process (what the worker would do)."""
    from monitoring.models import Delivery, DeliveryStatus
    from monitoring.services import delivery_attempt

    ids = list(Delivery.objects.filter(status=DeliveryStatus.QUEUED).order_by("id").values_list("pk", flat=True))
    for delivery_id in ids:
        delivery_attempt(delivery_id=delivery_id)
    return ids
