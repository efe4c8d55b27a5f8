"""What Orders tells other services, written to its outbox in the same
transaction as the change, and how the relay delivers each topic."""

from __future__ import annotations

from sqlalchemy.orm import Session

from meshkit import outbox
from orders import tables
from shopmesh.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from shopmesh.shipping.v1 import shipping_pb2, shipping_pb2_grpc

ORDER_ALERT = "shipping.order_alert"
CUSTOMER_NOTICE = "notifications.send"


def alert_shipping(session: Session, order: tables.Order) -> None:
    """Shipping reconciles the order's shipments with its current state."""
    outbox.enqueue(
        session,
        tables.OrdersOutbox,
        ORDER_ALERT,
        shipping_pb2.ReceiveOrderAlertRequest(order_id=order.id, customer_id=order.customer_id),
    )


def notify_customer(session: Session, order: tables.Order, subject: str, message: str) -> None:
    outbox.enqueue(
        session,
        tables.OrdersOutbox,
        CUSTOMER_NOTICE,
        notifications_pb2.SendNotificationRequest(
            customer_id=order.customer_id, order_id=order.id, subject=subject, message=message
        ),
    )


def deliverers(
    shipping: shipping_pb2_grpc.ShippingServiceStub,
    notifications: notifications_pb2_grpc.NotificationServiceStub,
) -> dict[str, outbox.Deliver]:
    return {
        ORDER_ALERT: outbox.rpc_deliverer(
            shipping.ReceiveOrderAlert, shipping_pb2.ReceiveOrderAlertRequest
        ),
        CUSTOMER_NOTICE: outbox.rpc_deliverer(
            notifications.SendNotification,
            notifications_pb2.SendNotificationRequest,
            # Redeliveries carry the same id, so Notifications stores one message.
            idempotency_field="request_id",
        ),
    }
