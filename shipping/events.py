"""What Shipping tells other services when a shipment changes, written to its
outbox in the same transaction as the change, and how the relay delivers each
topic."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.message import Message
from sqlalchemy.orm import Session

from meshkit import outbox
from shipping import tables
from shipping.domain.shipment import ShipmentState
from shipping.store import ShipmentRecord
from shopmesh.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from shopmesh.orders.v1 import orders_pb2, orders_pb2_grpc

SHIPMENT_PROGRESS = "orders.shipment_progress"
CUSTOMER_NOTICE = "notifications.send"

_PROGRESS = {
    ShipmentState.LABEL_CREATED: orders_pb2.SHIPMENT_PROGRESS_LABEL_CREATED,
    ShipmentState.IN_TRANSIT: orders_pb2.SHIPMENT_PROGRESS_IN_TRANSIT,
    ShipmentState.DELIVERED: orders_pb2.SHIPMENT_PROGRESS_DELIVERED,
    ShipmentState.CANCELLED: orders_pb2.SHIPMENT_PROGRESS_CANCELLED,
}

_NOTICES = {
    ShipmentState.LABEL_CREATED: (
        "Your order is being packed",
        "Your shipment {tracking} for order {order} will leave warehouse {warehouse} soon.",
    ),
    ShipmentState.IN_TRANSIT: (
        "Your shipment is on its way",
        "Your shipment {tracking} from warehouse {warehouse} is on its way (order {order}).",
    ),
    ShipmentState.DELIVERED: (
        "Your shipment was delivered",
        "Your shipment {tracking} from warehouse {warehouse} was delivered (order {order}).",
    ),
    ShipmentState.CANCELLED: (
        "Your shipment was cancelled",
        "Your shipment {tracking} from warehouse {warehouse} was cancelled and will not "
        "be sent (order {order}).",
    ),
}


def shipment_changed(session: Session, shipment: tables.Shipment) -> None:
    """Orders follows the shipment's progress; the customer hears about it."""
    for topic, event in _told(
        ShipmentState(shipment.state),
        shipment.id,
        shipment.order_id,
        shipment.customer_id,
        shipment.warehouse_id,
        shipment.tracking_number,
    ):
        outbox.enqueue(session, tables.ShippingOutbox, topic, event)


def shipments_changed(session: Session, shipments: Iterable[ShipmentRecord]) -> None:
    """As shipment_changed, for several shipments, in one statement."""
    outbox.enqueue_many(
        session,
        tables.ShippingOutbox,
        (
            outbox.entry(*told)
            for s in shipments
            for told in _told(
                s.state, s.shipment_id, s.order_id, s.customer_id, s.warehouse_id, s.tracking_number
            )
        ),
    )


def _told(
    state: ShipmentState,
    shipment_id: int,
    order_id: int,
    customer_id: int,
    warehouse_id: int,
    tracking_number: str,
) -> list[tuple[str, Message]]:
    subject, message = _NOTICES[state]
    return [
        (
            SHIPMENT_PROGRESS,
            orders_pb2.RecordShipmentProgressRequest(
                order_id=order_id, shipment_id=shipment_id, progress=_PROGRESS[state]
            ),
        ),
        (
            CUSTOMER_NOTICE,
            notifications_pb2.SendNotificationRequest(
                customer_id=customer_id,
                order_id=order_id,
                subject=subject,
                message=message.format(
                    tracking=tracking_number, warehouse=warehouse_id, order=order_id
                ),
            ),
        ),
    ]


def deliverers(
    orders: orders_pb2_grpc.OrderServiceStub,
    notifications: notifications_pb2_grpc.NotificationServiceStub,
) -> dict[str, outbox.Deliver]:
    return {
        # Orders keeps a shipment's furthest progress, so a redelivery is harmless.
        SHIPMENT_PROGRESS: outbox.rpc_batch_deliverer(
            orders.BatchRecordShipmentProgress,
            lambda requests: orders_pb2.BatchRecordShipmentProgressRequest(requests=requests),
            outbox.rpc_deliverer(
                orders.RecordShipmentProgress, orders_pb2.RecordShipmentProgressRequest
            ),
        ),
        # A relay's batch of notices goes in one call (one transaction there).
        CUSTOMER_NOTICE: outbox.rpc_batch_deliverer(
            notifications.BatchSendNotifications,
            lambda requests: notifications_pb2.BatchSendNotificationsRequest(requests=requests),
            outbox.rpc_deliverer(
                notifications.SendNotification,
                notifications_pb2.SendNotificationRequest,
                # Redeliveries carry the same id, so Notifications stores one message.
                idempotency_field="request_id",
            ),
        ),
    }
