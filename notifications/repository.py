"""Notifications' queries: rows in, rows out, no decisions.

Sending and delivering, which every order does twice, are SQLAlchemy Core
statements returning plain rows (no ORM objects to build and flush): a send
is two statements, one to read what it needs and one to write.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Row, Table, exists, func, select, text, update
from sqlalchemy.orm import Session

from meshkit import outbox
from notifications.domain.notification import Channel, DeliveryState
from notifications.tables import Notification, customers

notifications = cast(Table, Notification.__table__)


@dataclass(frozen=True)
class NewNotification:
    customer_id: int
    subject: str
    message: str
    channel: Channel
    order_id: int | None
    request_id: str | None


def customer_exists(session: Session, customer_id: int) -> bool:
    return bool(session.scalar(select(exists().where(customers.c.id == customer_id))))


@dataclass(frozen=True)
class Prepared:
    """What a send needs to know before it writes."""

    # The notification already stored under the sender's request id.
    first_id: int | None
    customer_known: bool
    # The id a new notification gets (taken up front, so that the delivery
    # event written with it can name it).
    next_id: int


_PREPARE = text(
    """
    SELECT (SELECT id FROM notifications WHERE request_id = :request_id) AS first_id,
           EXISTS (SELECT 1 FROM customers WHERE id = :customer_id) AS customer_known,
           nextval(pg_get_serial_sequence('notifications', 'id')) AS next_id
    """
)

# ON CONFLICT makes a concurrent duplicate wait for the first insert and then
# do nothing, instead of failing the transaction with a unique violation; its
# delivery is queued only with the notification that was stored.
_STORE = text(
    """
    WITH stored AS (
        INSERT INTO notifications (id, customer_id, subject, message, channel,
                                   delivery_state, order_id, request_id)
        VALUES (:id, :customer_id, :subject, :message, :channel, :delivery_state,
                :order_id, :request_id)
        ON CONFLICT (request_id) DO NOTHING
        RETURNING *
    ), queued AS (
        INSERT INTO notifications_outbox (event_id, topic, payload, request_id, attempts)
        SELECT CAST(:event_id AS uuid), :topic, :payload, :call_request_id, 0 FROM stored
    )
    SELECT * FROM stored
    """
)


def prepare(session: Session, customer_id: int, request_id: str | None) -> Prepared:
    row = session.execute(_PREPARE, {"customer_id": customer_id, "request_id": request_id}).one()
    return Prepared(row.first_id, row.customer_known, row.next_id)


def by_id(session: Session, notification_id: int) -> Row[Any] | None:
    return session.execute(
        select(notifications).where(notifications.c.id == notification_id)
    ).first()


def by_request_id(session: Session, request_id: str) -> Row[Any] | None:
    return session.execute(
        select(notifications).where(notifications.c.request_id == request_id)
    ).first()


def store(
    session: Session, new: NewNotification, notification_id: int, delivery: outbox.Entry
) -> Row[Any] | None:
    """Store the notification and queue its delivery, in one statement; None
    when one with its request id exists already."""
    return session.execute(
        _STORE,
        {
            "id": notification_id,
            "customer_id": new.customer_id,
            "subject": new.subject,
            "message": new.message,
            "channel": new.channel.value,
            "delivery_state": DeliveryState.PENDING.value,
            "order_id": new.order_id,
            "request_id": new.request_id,
            "event_id": str(uuid.uuid4()),
            "topic": delivery.topic,
            "payload": delivery.payload,
            "call_request_id": delivery.request_id,
        },
    ).first()


def page_for_customer(
    session: Session, customer_id: int, before: int | None, size: int
) -> Sequence[Notification]:
    """Newest first; `before` is the last id of the previous page. One row
    more than a page is read, to tell whether another page follows."""
    query = (
        select(Notification)
        .where(Notification.customer_id == customer_id)
        .order_by(Notification.id.desc())
        .limit(size + 1)
    )
    if before is not None:
        query = query.where(Notification.id < before)
    return session.scalars(query).all()


def with_addresses(
    session: Session, notification_ids: Sequence[int]
) -> dict[int, tuple[Row[Any], str | None]]:
    """Each notification found, with its customer's e-mail address (None if
    there is none)."""
    rows = session.execute(
        select(notifications, customers.c.email)
        .outerjoin(customers, customers.c.id == notifications.c.customer_id)
        .where(notifications.c.id.in_(notification_ids))
    )
    return {row.id: (row, row.email or None) for row in rows}


def settle(session: Session, notification_ids: Sequence[int], state: DeliveryState) -> None:
    """Record the outcome of deliveries. Only a pending notification changes,
    so a repeated delivery neither moves deliver_time nor revives a failure."""
    session.execute(
        update(notifications)
        .where(
            notifications.c.id.in_(notification_ids),
            notifications.c.delivery_state == DeliveryState.PENDING.value,
        )
        .values(
            delivery_state=state.value,
            deliver_time=func.now() if state is DeliveryState.DELIVERED else None,
        )
    )
