"""Notifications' use cases for callers. Each runs in one transaction; a
stored notification and its delivery's outbox row commit together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import Session, sessionmaker

from meshkit import errors, outbox, paging
from meshkit.db import transaction
from meshkit.principal import Principal
from notifications import repository
from notifications.domain.notification import Channel, subject_for
from notifications.tables import Notification
from shopmesh.notifications.v1 import notifications_pb2

DELIVER = "deliver"


@dataclass(frozen=True)
class Draft:
    """A checked SendNotification request; empty strings and zeros mean unset."""

    customer_id: int
    message: str
    subject: str
    channel: Channel | None
    order_id: int
    request_id: str


def customer_not_found(customer_id: int) -> errors.AppError:
    return errors.not_found(
        "CUSTOMER_NOT_FOUND", f"customer {customer_id} not found", customer_id=customer_id
    )


class NotificationHandlers:
    def __init__(self, sessions: sessionmaker[Session], default_channel: Channel) -> None:
        self._sessions = sessions
        self._default_channel = default_channel

    def send(self, draft: Draft) -> Row[Any]:
        with transaction(self._sessions) as session:
            prepared = repository.prepare(session, draft.customer_id, draft.request_id or None)
            if prepared.first_id is not None:
                first = repository.by_id(session, prepared.first_id)
                assert first is not None
                return first
            if not prepared.customer_known:
                raise customer_not_found(draft.customer_id)
            delivery = outbox.entry(
                DELIVER, notifications_pb2.Notification(notification_id=prepared.next_id)
            )
            stored = repository.store(
                session,
                repository.NewNotification(
                    customer_id=draft.customer_id,
                    subject=draft.subject.strip() or subject_for(draft.message),
                    message=draft.message,
                    channel=draft.channel or self._default_channel,
                    order_id=draft.order_id or None,
                    request_id=draft.request_id or None,
                ),
                prepared.next_id,
                delivery,
            )
            if stored is None:
                # A concurrent send with this request id committed first; each
                # statement sees the latest commits, so it is visible now.
                first = repository.by_request_id(session, draft.request_id)
                assert first is not None
                return first
            return stored

    def list_notifications(
        self, caller: Principal, customer_id: int, page_size: int, token: str
    ) -> paging.Page[Notification]:
        size, before = paging.page_size(page_size), paging.decode(token)
        with self._sessions() as session:
            self._check_may_follow(session, caller, customer_id)
            rows = repository.page_for_customer(session, customer_id, before, size)
        return paging.page_of(rows, size, key=lambda row: row.id)

    def check_may_watch(self, caller: Principal, customer_id: int) -> None:
        with self._sessions() as session:
            self._check_may_follow(session, caller, customer_id)

    def notification(self, customer_id: int, notification_id: int) -> Notification | None:
        with self._sessions() as session:
            row = session.get(Notification, notification_id)
        return row if row is not None and row.customer_id == customer_id else None

    @staticmethod
    def _check_may_follow(session: Session, caller: Principal, customer_id: int) -> None:
        # Another customer's id answers exactly like an unknown one, so ids
        # cannot be probed.
        if not caller.may_see_customer(customer_id) or not repository.customer_exists(
            session, customer_id
        ):
            raise customer_not_found(customer_id)
