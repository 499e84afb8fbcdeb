"""Ways of delivering a notification (one module per kind, like healthchecks'
integrations). A transport sends one message to one channel and either
returns what the receiver said or raises TransportError."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitoring.models import Channel


class TransportError(Exception):
    """Sending failed. ``permanent`` means retrying the same message cannot
    help (the endpoint is gone, the address is refused, the config is wrong)."""

    def __init__(self, message: str, *, permanent: bool = False, response_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.response_code = response_code


@dataclass
class Message:
    """What to send, independent of the channel kind."""

    purpose: str
    subject: str
    text: str
    html: str = ""
    # The structured form: the default webhook body, and the context of the
    # channel's own templates (subject template, JSON body template).
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class SendResult:
    response_code: int | None = None
    detail: str = ""


class Transport(ABC):
    kind = ""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.config: dict[str, Any] = channel.config or {}

    @abstractmethod
    def send(self, message: Message, *, delivery_id: int | None = None) -> SendResult:
        """Deliver ``message``; raise TransportError on failure."""


def transport_for(channel: Channel) -> Transport:
    from monitoring.transports.email import EmailTransport
    from monitoring.transports.webhook import WebhookTransport

    transports: dict[str, type[Transport]] = {"email": EmailTransport, "webhook": WebhookTransport}
    try:
        return transports[channel.kind](channel)
    except KeyError:
        raise TransportError(f"unknown channel kind {channel.kind!r}", permanent=True) from None
