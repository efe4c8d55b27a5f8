"""Notifications' use cases for callers. Each runs in one transaction; a
stored notification and its delivery's outbox row commit together."""

from __future__ import annotations

from collections.abc import Sequence
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
        (stored,) = self.send_many([draft])
        return stored

    def send_many(self, drafts: Sequence[Draft]) -> list[Row[Any]]:
        """Store every draft and queue its delivery, or none of them; in order,
        what each request stored (or had stored before, under its request id)."""
        with transaction(self._sessions) as session:
            prepared = repository.prepare(
                session, [(d.customer_id, d.request_id or None) for d in drafts]
            )
            for draft, ready in zip(drafts, prepared, strict=True):
                if ready.first_id is None and not ready.customer_known:
                    raise customer_not_found(draft.customer_id)
            fresh = [
                (self._new(draft), ready.next_id, self._delivery(ready.next_id))
                for draft, ready in zip(drafts, prepared, strict=True)
                if ready.first_id is None
            ]
            stored = repository.store(session, fresh) if fresh else {}
            repeated = [ready.first_id for ready in prepared if ready.first_id is not None]
            earlier = repository.by_ids(session, repeated) if repeated else {}
            # A concurrent send with the same request id committed first; each
            # statement sees the latest commits, so it is visible now.
            raced = [
                draft.request_id
                for draft, ready in zip(drafts, prepared, strict=True)
                if ready.first_id is None and ready.next_id not in stored
            ]
            by_request = repository.by_request_ids(session, raced) if raced else {}
            return [
                earlier[ready.first_id]
                if ready.first_id is not None
                else stored.get(ready.next_id) or by_request[draft.request_id]
                for draft, ready in zip(drafts, prepared, strict=True)
            ]

    def _new(self, draft: Draft) -> repository.NewNotification:
        return repository.NewNotification(
            customer_id=draft.customer_id,
            subject=draft.subject.strip() or subject_for(draft.message),
            message=draft.message,
            channel=draft.channel or self._default_channel,
            order_id=draft.order_id or None,
            request_id=draft.request_id or None,
        )

    @staticmethod
    def _delivery(notification_id: int) -> outbox.Entry:
        return outbox.entry(
            DELIVER, notifications_pb2.Notification(notification_id=notification_id)
        )

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
