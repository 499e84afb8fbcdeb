"""Email through Django's email backend (SMTP in production)."""

from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from monitoring.transports import Message, SendResult, Transport, TransportError
from monitoring.transports.templating import render_text, resolve_secrets


def _smtp_error(exc: smtplib.SMTPException) -> TransportError:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        permanent = all(code >= 500 for code in codes)
        refused = ", ".join(f"{addr} ({code} {msg.decode(errors='replace')})" for addr, (code, msg) in exc.recipients.items())
        return TransportError(f"recipients refused: {refused}", permanent=permanent, response_code=max(codes))
    if isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return TransportError(
            f"SMTP server said {exc.smtp_code} {error}", permanent=exc.smtp_code >= 500, response_code=exc.smtp_code
        )
    return TransportError(f"SMTP error: {exc}")


class EmailTransport(Transport):
    kind = "email"

    def subject(self, message: Message) -> str:
        """The channel's subject template rendered with the message; a plain
        subject (no template tags) is used as a prefix of the message's own."""
        template = str(self.config.get("subject") or "")
        if not template:
            return message.subject
        if "{{" in template or "{%" in template:
            return render_text(template, {**message.data, "subject": message.subject}).strip()
        return f"{template}: {message.subject}"

    def send(self, message: Message, *, delivery_id: int | None = None) -> SendResult:
        recipients = [resolve_secrets(str(r)) for r in self.config.get("recipients") or []]
        if not recipients:
            raise TransportError("the channel has no recipients", permanent=True)
        email = EmailMultiAlternatives(
            subject=self.subject(message).replace("\n", " "),
            body=message.text,
            from_email=str(self.config.get("from") or settings.DEFAULT_FROM_EMAIL),
            to=recipients,
            headers={"X-WebAuto-Delivery": str(delivery_id)} if delivery_id else None,
            connection=get_connection(fail_silently=False, timeout=settings.EMAIL_TIMEOUT),
        )
        if message.html:
            email.attach_alternative(message.html, "text/html")
        try:
            email.send()
        except smtplib.SMTPException as exc:
            raise _smtp_error(exc) from None
        except OSError as exc:  # connection refused, DNS failure, timeout
            raise TransportError(f"cannot reach the mail server: {exc}") from None
        return SendResult(detail=f"accepted for {len(recipients)} recipient(s)")
