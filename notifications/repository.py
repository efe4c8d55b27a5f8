"""Notifications' queries: rows in, rows out, no decisions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from notifications.domain.notification import Channel, DeliveryState
from notifications.tables import Notification, customers


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


def by_request_id(session: Session, request_id: str) -> Notification | None:
    return session.scalars(
        select(Notification).where(Notification.request_id == request_id)
    ).one_or_none()


def insert_unless_sent(session: Session, new: NewNotification) -> Notification | None:
    """Insert the notification; None when one with its request id exists.

    ON CONFLICT makes a concurrent duplicate wait for the first insert and
    then do nothing, instead of failing the transaction with a unique violation.
    """
    statement = (
        insert(Notification)
        .values(
            customer_id=new.customer_id,
            subject=new.subject,
            message=new.message,
            channel=new.channel.value,
            delivery_state=DeliveryState.PENDING.value,
            order_id=new.order_id,
            request_id=new.request_id,
        )
        .on_conflict_do_nothing(index_elements=[Notification.request_id])
        .returning(Notification)
    )
    return session.scalars(statement).one_or_none()


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


def with_address(session: Session, notification_id: int) -> tuple[Notification, str | None] | None:
    """The notification and its customer's e-mail address (None if there is none)."""
    row = session.execute(
        select(Notification, customers.c.email)
        .outerjoin(customers, customers.c.id == Notification.customer_id)
        .where(Notification.id == notification_id)
    ).one_or_none()
    if row is None:
        return None
    notification, email = row
    return notification, (email or None)


def settle(session: Session, notification_id: int, state: DeliveryState) -> None:
    """Record the outcome of a delivery. Only a pending notification changes,
    so a repeated delivery neither moves deliver_time nor revives a failure."""
    session.execute(
        update(Notification)
        .where(
            Notification.id == notification_id,
            Notification.delivery_state == DeliveryState.PENDING.value,
        )
        .values(
            delivery_state=state.value,
            deliver_time=func.now() if state is DeliveryState.DELIVERED else None,
        )
    )
