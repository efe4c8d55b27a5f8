"""Delivering stored notifications through their channels, for the relay.

The relay calls this inside its own transaction on the outbox rows; the
notifications' outcomes are written in a short transaction of their own. A relay
that dies after sending but before committing sends again (at least once);
recording the outcome twice changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import Session, sessionmaker

from meshkit import callctx, db, outbox
from meshkit.db import transaction
from notifications import repository
from notifications.channels import DeliveryChannel, Outgoing
from notifications.domain.notification import Channel, DeliveryState
from shopmesh.notifications.v1 import notifications_pb2

log = logging.getLogger("notifications.delivery")


class Deliverer:
    """Delivers a relay's batch of notifications with one read of them all
    and one write of their outcomes, whatever the batch's size."""

    def __init__(
        self, sessions: sessionmaker[Session], channels: Mapping[Channel, DeliveryChannel]
    ) -> None:
        self._sessions = sessions
        self._channels = channels

    def __call__(self, payload: bytes, delivery: outbox.Delivery) -> None:
        (outcome,) = self.deliver_many([(payload, delivery)])
        if outcome is not None:
            raise outcome

    def deliver_many(
        self, items: Sequence[tuple[bytes, outbox.Delivery]]
    ) -> list[Exception | None]:
        ids = [notifications_pb2.Notification.FromString(p).notification_id for p, _ in items]
        with db.reading(self._sessions) as connection:
            found = repository.with_addresses(connection, ids)
        outcomes: list[Exception | None] = []
        settled: dict[DeliveryState, list[int]] = {}
        for notification_id, (_, delivery) in zip(ids, items, strict=True):
            with callctx.bound(delivery.request_id, None):
                outcome = self._send(notification_id, found.get(notification_id), settled)
            outcomes.append(outcome)
        if settled:
            with transaction(self._sessions) as session:
                for state, settled_ids in settled.items():
                    repository.settle(session, settled_ids, state)
        return outcomes

    def _send(
        self,
        notification_id: int,
        found: tuple[Row[Any], str | None] | None,
        settled: dict[DeliveryState, list[int]],
    ) -> Exception | None:
        if found is None:
            return outbox.PermanentDeliveryError(f"notification {notification_id} does not exist")
        notification, email = found
        if notification.delivery_state != DeliveryState.PENDING.value:
            # Delivered or given up on by an earlier attempt whose outbox row
            # was not marked: nothing is left to do.
            return None
        channel = self._channels[Channel(notification.channel)]
        try:
            channel.send(
                Outgoing(
                    notification_id=notification.id,
                    customer_id=notification.customer_id,
                    email=email,
                    subject=notification.subject,
                    message=notification.message,
                    order_id=notification.order_id,
                )
            )
        except outbox.PermanentDeliveryError as error:
            log.warning(
                "notification undeliverable",
                extra={"notification_id": notification_id, "error": str(error)},
            )
            settled.setdefault(DeliveryState.FAILED, []).append(notification_id)
            return error
        except Exception as error:
            return error
        settled.setdefault(DeliveryState.DELIVERED, []).append(notification_id)
        return None
