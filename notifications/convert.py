"""Rows <-> messages of the notifications.v1 contract."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from meshkit.wire import timestamp
from notifications.domain.notification import Channel, DeliveryState
from notifications.tables import Notification
from shopmesh.notifications.v1 import notifications_pb2 as pb

CHANNELS = {Channel.LOG: pb.CHANNEL_LOG, Channel.EMAIL: pb.CHANNEL_EMAIL}
CHANNEL_NAMES = {code: channel for channel, code in CHANNELS.items()}
DELIVERY_STATES = {
    DeliveryState.PENDING: pb.DELIVERY_STATE_PENDING,
    DeliveryState.DELIVERED: pb.DELIVERY_STATE_DELIVERED,
    DeliveryState.FAILED: pb.DELIVERY_STATE_FAILED,
}


def notification(row: Notification | Row[Any]) -> pb.Notification:
    return pb.Notification(
        notification_id=row.id,
        customer_id=row.customer_id,
        subject=row.subject,
        message=row.message,
        channel=CHANNELS[Channel(row.channel)],
        delivery_state=DELIVERY_STATES[DeliveryState(row.delivery_state)],
        order_id=row.order_id or 0,
        create_time=timestamp(row.create_time),
        deliver_time=timestamp(row.deliver_time),
    )
