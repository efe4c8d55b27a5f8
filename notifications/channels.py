"""Where a notification goes: the service's log or the customer's mailbox.

A channel returns when the notification is handed over, raises
PermanentDeliveryError when retrying cannot help, and raises anything else
when it may (the relay then retries with backoff).
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Protocol

from meshkit.config import ConfigError, Settings
from meshkit.outbox import PermanentDeliveryError


@dataclass(frozen=True)
class Outgoing:
    notification_id: int
    customer_id: int
    # The customer's e-mail address; None when they have none.
    email: str | None
    subject: str
    message: str
    order_id: int | None


class DeliveryChannel(Protocol):
    def send(self, outgoing: Outgoing) -> None: ...


class LogChannel:
    """Writes each notification as one JSON log line (with meshkit's formatter)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger("notifications.outbound")
        # The line is the delivery: it must be written even when LOG_LEVEL
        # hides other INFO lines.
        self._log.setLevel(logging.INFO)

    def send(self, outgoing: Outgoing) -> None:
        self._log.info(
            "notification",
            extra={
                "notification_id": outgoing.notification_id,
                "customer_id": outgoing.customer_id,
                "order_id": outgoing.order_id,
                "subject": outgoing.subject,
                # `message` is the log record's own key.
                "body": outgoing.message,
            },
        )


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    sender: str
    timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpServer:
        port = settings.get("SMTP_PORT", "25")
        timeout = settings.get("SMTP_TIMEOUT_SECONDS", str(settings.call_timeout))
        try:
            return cls(
                host=settings.get("SMTP_HOST", "localhost"),
                port=int(port),
                sender=settings.get("SMTP_FROM", "notifications@shopmesh.localhost"),
                timeout=float(timeout),
            )
        except ValueError:
            raise ConfigError(
                f"SMTP_PORT must be a whole number and SMTP_TIMEOUT_SECONDS a number, "
                f"got {port!r} and {timeout!r}"
            ) from None


class EmailChannel:
    """Sends each notification over SMTP, one connection per message."""

    def __init__(self, server: SmtpServer) -> None:
        self._server = server
        self._domain = parseaddr(server.sender)[1].rpartition("@")[2] or "shopmesh.localhost"

    def send(self, outgoing: Outgoing) -> None:
        if not outgoing.email:
            raise PermanentDeliveryError(f"customer {outgoing.customer_id} has no e-mail address")
        mail = EmailMessage()
        mail["From"] = self._server.sender
        mail["To"] = outgoing.email
        mail["Subject"] = outgoing.subject
        # Stable per notification, so a mail delivered twice (delivery is at
        # least once) can be recognised as the same by the receiving side.
        mail["Message-ID"] = f"<notification-{outgoing.notification_id}@{self._domain}>"
        mail.set_content(outgoing.message)
        try:
            with smtplib.SMTP(
                self._server.host, self._server.port, timeout=self._server.timeout
            ) as smtp:
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as refused:
            codes = [code for code, _ in refused.recipients.values()]
            if codes and all(code >= 500 for code in codes):
                raise PermanentDeliveryError(f"recipient refused: {refused.recipients}") from None
            raise
        except smtplib.SMTPDataError as rejected:
            # 5xx after DATA: this message is refused (size, content) and always will be.
            if rejected.smtp_code >= 500:
                raise PermanentDeliveryError(
                    f"message refused: {rejected.smtp_code} {rejected.smtp_error!r}"
                ) from None
            raise
