"""E-mail delivery to a real SMTP server on loopback: mail arrives, an outage
only delays it, and a refused mailbox fails the notification for good."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from notifications import server
from notifications.tables import DeliveryOutbox, customers
from shopmesh.notifications.v1 import notifications_pb2 as pb
from shopmesh.notifications.v1 import notifications_pb2_grpc
from tests.support import data
from tests.support.inprocess import running
from tests.support.ports import free_port
from tests.support.rpc import as_role
from tests.support.settings import for_service
from tests.support.waiting import until

Stub = notifications_pb2_grpc.NotificationServiceStub
SENDER = "shop@shopmesh.test"


class Inbox:
    """An aiosmtpd handler that keeps what it accepts and refuses some mailboxes."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.refuse = refuse
        self.received: list[Any] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(envelope)
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(port: int, inbox: Inbox) -> Iterator[None]:
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield
    finally:
        controller.stop()


@contextmanager
def notifications_mailing_to(database_url: str, smtp_port: int) -> Iterator[Stub]:
    settings = for_service(
        "notifications",
        database_url,
        NOTIFY_CHANNEL="email",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_port),
        SMTP_FROM=SENDER,
        SMTP_TIMEOUT_SECONDS="2",
        # Retry an unreachable mail server quickly, so an outage test is short.
        OUTBOX_BACKOFF_SECONDS="0.05",
        OUTBOX_BACKOFF_CAP_SECONDS="0.5",
    )
    with running(server.build(settings)) as target, grpc.insecure_channel(target) as channel:
        yield Stub(channel)


@pytest.fixture
def customer(sessions: sessionmaker[Session]) -> tuple[int, str]:
    with sessions.begin() as s:
        row = data.customer(s)
        return row.id, row.email


def send(stub: Stub, customer_id: int, message: str, **fields: Any) -> pb.Notification:
    request = pb.SendNotificationRequest(customer_id=customer_id, message=message, **fields)
    return stub.SendNotification(request, metadata=as_role("ops"), timeout=10).notification


def shown(stub: Stub, customer_id: int, notification_id: int) -> pb.Notification:
    reply = stub.ListNotifications(
        pb.ListNotificationsRequest(customer_id=customer_id), metadata=as_role("ops"), timeout=10
    )
    [found] = [n for n in reply.notifications if n.notification_id == notification_id]
    return found


def delivery_row(sessions: sessionmaker[Session], notification_id: int) -> DeliveryOutbox:
    payload = pb.Notification(notification_id=notification_id).SerializeToString()
    with sessions() as s:
        return s.scalars(select(DeliveryOutbox).where(DeliveryOutbox.payload == payload)).one()


def test_an_email_reaches_the_customers_mailbox(
    database_url: str, customer: tuple[int, str]
) -> None:
    customer_id, address = customer
    inbox = Inbox()
    port = free_port()
    with smtp_server(port, inbox), notifications_mailing_to(database_url, port) as stub:
        sent = send(stub, customer_id, "Your order 12 has shipped.\nTrack it any time.")
        assert sent.channel == pb.CHANNEL_EMAIL

        until(
            lambda: (
                shown(stub, customer_id, sent.notification_id).delivery_state
                == pb.DELIVERY_STATE_DELIVERED
            ),
            within=10,
            what="the e-mail to be delivered",
        )

    [envelope] = inbox.received
    assert envelope.mail_from == SENDER
    assert envelope.rcpt_tos == [address]
    mail = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
    assert mail["To"] == address
    assert mail["From"] == SENDER
    assert mail["Subject"] == "Your order 12 has shipped."
    # Mail travels with CRLF line ends.
    body = mail.get_content().replace("\r\n", "\n").strip()
    assert body == "Your order 12 has shipped.\nTrack it any time."


def test_a_log_channel_request_is_not_mailed(database_url: str, customer: tuple[int, str]) -> None:
    customer_id, _ = customer
    inbox = Inbox()
    port = free_port()
    with smtp_server(port, inbox), notifications_mailing_to(database_url, port) as stub:
        sent = send(stub, customer_id, "For the log only", channel=pb.CHANNEL_LOG)
        until(
            lambda: (
                shown(stub, customer_id, sent.notification_id).delivery_state
                == pb.DELIVERY_STATE_DELIVERED
            ),
            within=10,
            what="the notification to be delivered",
        )

    assert sent.channel == pb.CHANNEL_LOG
    assert inbox.received == []


def test_with_the_mail_server_down_a_notification_waits_and_goes_out_once_it_is_back(
    database_url: str, customer: tuple[int, str], sessions: sessionmaker[Session]
) -> None:
    customer_id, address = customer
    inbox = Inbox()
    port = free_port()  # nothing listens here yet
    with notifications_mailing_to(database_url, port) as stub:
        sent = send(stub, customer_id, "Your refund is on its way")
        until(
            lambda: delivery_row(sessions, sent.notification_id).attempts >= 2,
            within=10,
            what="two failed delivery attempts",
        )
        assert shown(stub, customer_id, sent.notification_id).delivery_state == (
            pb.DELIVERY_STATE_PENDING
        )

        with smtp_server(port, inbox):
            until(
                lambda: (
                    shown(stub, customer_id, sent.notification_id).delivery_state
                    == pb.DELIVERY_STATE_DELIVERED
                ),
                within=10,
                what="delivery after the mail server came back",
            )

    assert [envelope.rcpt_tos for envelope in inbox.received] == [[address]]


def wait_failed(stub: Stub, customer_id: int, notification_id: int) -> None:
    until(
        lambda: (
            shown(stub, customer_id, notification_id).delivery_state == pb.DELIVERY_STATE_FAILED
        ),
        within=10,
        what="the notification to fail",
    )


def test_a_refused_mailbox_fails_the_notification_for_good(
    database_url: str, customer: tuple[int, str], sessions: sessionmaker[Session]
) -> None:
    customer_id, address = customer
    inbox = Inbox(refuse=frozenset({address}))
    port = free_port()
    with smtp_server(port, inbox), notifications_mailing_to(database_url, port) as stub:
        sent = send(stub, customer_id, "Your order was cancelled")
        wait_failed(stub, customer_id, sent.notification_id)
        # The relay stops trying: the outbox row is failed, not postponed again.
        until(
            lambda: delivery_row(sessions, sent.notification_id).failed_at is not None,
            within=10,
            what="the delivery to be marked failed",
        )
        final = shown(stub, customer_id, sent.notification_id)

    assert final.delivery_state == pb.DELIVERY_STATE_FAILED
    assert not final.HasField("deliver_time")
    assert inbox.received == []


def test_a_customer_without_an_address_fails_the_notification(
    database_url: str, customer: tuple[int, str], sessions: sessionmaker[Session]
) -> None:
    customer_id, _ = customer
    with sessions.begin() as s:
        s.execute(update(customers).where(customers.c.id == customer_id).values(email=""))
    inbox = Inbox()
    port = free_port()
    with smtp_server(port, inbox), notifications_mailing_to(database_url, port) as stub:
        sent = send(stub, customer_id, "Your order was cancelled")
        wait_failed(stub, customer_id, sent.notification_id)

    assert inbox.received == []
