"""Notifications' queries: rows in, rows out, no decisions.

Sending and delivering, which every order does twice, are SQLAlchemy Core
statements returning plain rows (no ORM objects to build and flush): a send,
of one notification or of a relay's batch, is two statements, one to read
what it needs and one to write.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Row, Table, exists, func, select, text, update
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


# For each (customer, request id), in order.
_PREPARE = text(
    """
    SELECT n.id AS first_id,
           EXISTS (SELECT 1 FROM customers c WHERE c.id = r.customer_id) AS customer_known,
           nextval(pg_get_serial_sequence('notifications', 'id')) AS next_id
    FROM unnest(CAST(:customer_ids AS bigint[]), CAST(:request_ids AS text[]))
         WITH ORDINALITY AS r (customer_id, request_id, position)
    LEFT JOIN notifications n ON n.request_id = r.request_id
    ORDER BY r.position
    """
)

# ON CONFLICT makes a concurrent duplicate wait for the first insert and then
# do nothing, instead of failing the transaction with a unique violation; a
# delivery is queued only with a notification that was stored.
_STORE = text(
    """
    WITH new AS (
        SELECT * FROM unnest(
            CAST(:ids AS bigint[]), CAST(:customer_ids AS bigint[]),
            CAST(:subjects AS text[]), CAST(:messages AS text[]), CAST(:channels AS text[]),
            CAST(:order_ids AS bigint[]), CAST(:request_ids AS text[]),
            CAST(:event_ids AS uuid[]), CAST(:payloads AS bytea[]),
            CAST(:call_request_ids AS text[])
        ) AS t (id, customer_id, subject, message, channel, order_id, request_id,
                event_id, payload, call_request_id)
    ), stored AS (
        INSERT INTO notifications (id, customer_id, subject, message, channel,
                                   delivery_state, order_id, request_id)
        SELECT id, customer_id, subject, message, channel, :delivery_state, order_id,
               request_id
        FROM new ORDER BY id
        ON CONFLICT (request_id) DO NOTHING
        RETURNING *
    ), queued AS (
        INSERT INTO notifications_outbox (event_id, topic, payload, request_id, attempts)
        SELECT new.event_id, :topic, new.payload, new.call_request_id, 0
        FROM stored JOIN new USING (id) ORDER BY id
    )
    SELECT * FROM stored
    """
)


def prepare(session: Session, senders: Sequence[tuple[int, str | None]]) -> list[Prepared]:
    """For each (customer id, request id), in order, what its send needs."""
    customer_ids, request_ids = zip(*senders, strict=True)
    rows = session.execute(
        _PREPARE, {"customer_ids": list(customer_ids), "request_ids": list(request_ids)}
    )
    return [Prepared(row.first_id, row.customer_known, row.next_id) for row in rows]


def by_ids(session: Session, notification_ids: Sequence[int]) -> dict[int, Row[Any]]:
    rows = session.execute(select(notifications).where(notifications.c.id.in_(notification_ids)))
    return {row.id: row for row in rows}


def by_request_ids(session: Session, request_ids: Sequence[str]) -> dict[str, Row[Any]]:
    rows = session.execute(select(notifications).where(notifications.c.request_id.in_(request_ids)))
    return {row.request_id: row for row in rows}


def store(
    session: Session, new: Sequence[tuple[NewNotification, int, outbox.Entry]]
) -> dict[int, Row[Any]]:
    """Store each (notification, its id, its delivery event) and queue the
    delivery, all in one statement. Returns the stored rows by id: one whose
    request id was taken meanwhile is not among them."""
    topics = {delivery.topic for _, _, delivery in new}
    assert len(topics) == 1, "one delivery topic a statement"
    rows = session.execute(
        _STORE,
        {
            "ids": [notification_id for _, notification_id, _ in new],
            "customer_ids": [n.customer_id for n, _, _ in new],
            "subjects": [n.subject for n, _, _ in new],
            "messages": [n.message for n, _, _ in new],
            "channels": [n.channel.value for n, _, _ in new],
            "order_ids": [n.order_id for n, _, _ in new],
            "request_ids": [n.request_id for n, _, _ in new],
            "event_ids": [str(uuid.uuid4()) for _ in new],
            "payloads": [delivery.payload for _, _, delivery in new],
            "call_request_ids": [delivery.request_id for _, _, delivery in new],
            "delivery_state": DeliveryState.PENDING.value,
            "topic": topics.pop(),
        },
    )
    return {row.id: row for row in rows}


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
    session: Session | Connection, notification_ids: Sequence[int]
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
