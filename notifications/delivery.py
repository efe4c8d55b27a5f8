"""Delivering a stored notification through its channel, for the relay.

The relay calls this inside its own transaction on the outbox row; the
notification's outcome is written in a short transaction of its own. A relay
that dies after sending but before committing sends again (at least once);
recording the outcome twice changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlalchemy.orm import Session, sessionmaker

from meshkit import outbox
from meshkit.db import transaction
from notifications import repository
from notifications.channels import DeliveryChannel, Outgoing
from notifications.domain.notification import Channel, DeliveryState
from shopmesh.notifications.v1 import notifications_pb2

log = logging.getLogger("notifications.delivery")


class Deliverer:
    def __init__(
        self, sessions: sessionmaker[Session], channels: Mapping[Channel, DeliveryChannel]
    ) -> None:
        self._sessions = sessions
        self._channels = channels

    def __call__(self, payload: bytes, delivery: outbox.Delivery) -> None:
        notification_id = notifications_pb2.Notification.FromString(payload).notification_id
        with self._sessions() as session:
            found = repository.with_address(session, notification_id)
        if found is None:
            raise outbox.PermanentDeliveryError(f"notification {notification_id} does not exist")
        notification, email = found
        if notification.delivery_state != DeliveryState.PENDING.value:
            # Delivered or given up on by an earlier attempt whose outbox row
            # was not marked: nothing is left to do.
            return
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
            self._settle(notification_id, DeliveryState.FAILED)
            raise
        self._settle(notification_id, DeliveryState.DELIVERED)

    def _settle(self, notification_id: int, state: DeliveryState) -> None:
        with transaction(self._sessions) as session:
            repository.settle(session, notification_id, state)
