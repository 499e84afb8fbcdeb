"""The local outbox: email written by Django's file-based email backend (the
embedded default's ``EMAIL_BACKEND``, see webauto/settings.py) read back for
the Outbox page; and where a delivery's message went, said in words.

Django's file-based backend writes one ``<timestamp>-<id>.log`` file per
connection under ``EMAIL_FILE_PATH``, each message followed by a line of 79
dashes (``django/core/mail/backends/filebased.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import cast

from django.conf import settings

from monitoring.models import Delivery

FILE_BASED_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
SEPARATOR = b"\n" + b"-" * 79 + b"\n"
# File names the backend writes; anything else in the folder is ignored.
FILE_NAME = re.compile(r"^[\w.-]+\.log$")


@dataclass(frozen=True)
class OutboxMessage:
    """One message in the outbox. ``file`` and ``index`` (0-based position in
    the file) identify it; ``text``/``html`` are the decoded bodies ('' when
    the message has no such part)."""

    file: str
    index: int
    subject: str
    sender: str
    to: str
    date: datetime | None
    text: str
    html: str
    delivery_id: int | None


def outbox_enabled() -> bool:
    """True when email goes to the local outbox instead of a mail server."""
    return str(settings.EMAIL_BACKEND) == FILE_BASED_BACKEND


def outbox_directory() -> Path:
    """The folder the file-based backend writes to (``EMAIL_FILE_PATH``)."""
    return Path(settings.EMAIL_FILE_PATH)


def _parse(file: str, index: int, raw: bytes) -> OutboxMessage:
    message = cast(EmailMessage, message_from_bytes(raw.strip(b"\n"), policy=policy.default))
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    try:
        date = parsedate_to_datetime(str(message["Date"])) if message["Date"] else None
    except (TypeError, ValueError):
        date = None
    delivery = str(message.get("X-WebAuto-Delivery") or "")
    return OutboxMessage(
        file=file,
        index=index,
        subject=str(message.get("Subject") or ""),
        sender=str(message.get("From") or ""),
        to=str(message.get("To") or ""),
        date=date,
        text=text.get_content() if text is not None else "",
        html=html.get_content() if html is not None else "",
        delivery_id=int(delivery) if delivery.isdigit() else None,
    )


def _file_messages(path: Path) -> list[OutboxMessage]:
    chunks = [c for c in path.read_bytes().split(SEPARATOR) if c.strip()]
    return [_parse(path.name, i, chunk) for i, chunk in enumerate(chunks)]


def outbox_messages(*, limit: int = 200) -> list[OutboxMessage]:
    """The newest ``limit`` messages in the outbox, newest first ([] when the
    folder does not exist yet)."""
    folder = outbox_directory()
    if not folder.is_dir():
        return []
    files = sorted(
        (p for p in folder.iterdir() if p.is_file() and FILE_NAME.match(p.name)),
        key=lambda p: (p.stat().st_mtime, p.name),
        reverse=True,
    )
    found: list[OutboxMessage] = []
    for path in files:
        found.extend(reversed(_file_messages(path)))
        if len(found) >= limit:
            break
    epoch = datetime.min.replace(tzinfo=UTC)
    found.sort(key=lambda m: m.date or epoch, reverse=True)
    return found[:limit]


def outbox_message(*, file: str, index: int) -> OutboxMessage:
    """One message by file name and position; raises LookupError when there
    is no such message (or the name is not an outbox file)."""
    path = outbox_directory() / file
    if not FILE_NAME.match(file) or not path.is_file():
        raise LookupError(f"no outbox file {file!r}")
    messages = _file_messages(path)
    if not 0 <= index < len(messages):
        raise LookupError(f"no message {index} in {file!r}")
    return messages[index]


def delivery_destination(*, delivery: Delivery) -> str:
    """Where ``delivery``'s message went (or goes), in words for the channel
    page: the local outbox, the SMTP server, or the webhook URL."""
    if delivery.channel_kind == "email":
        if outbox_enabled():
            return f"written to the local outbox ({outbox_directory()}), readable on the Outbox page"
        if str(settings.EMAIL_BACKEND).endswith("smtp.EmailBackend"):
            return f"handed to the SMTP server {settings.EMAIL_HOST}:{settings.EMAIL_PORT}"
        return f"handed to the email backend {settings.EMAIL_BACKEND}"
    config = delivery.channel.config if delivery.channel is not None else {}
    return f"sent as HTTP {config.get('method') or 'POST'} to {config.get('url') or 'the webhook URL'}"
