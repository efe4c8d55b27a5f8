"""What Orders tells other services, written to its outbox in the same
transaction as the change, and how the relay delivers each topic."""

from __future__ import annotations

from sqlalchemy.orm import Session

from meshkit import outbox
from orders import tables
from orders.domain import order as domain
from orders.domain.money import Money
from shopmesh.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from shopmesh.shipping.v1 import shipping_pb2, shipping_pb2_grpc

ORDER_ALERT = "shipping.order_alert"
CUSTOMER_NOTICE = "notifications.send"


# The ORM paths (update, cancel) enqueue as they change rows; the hot paths
# collect domain events and write them with their change (`entries`).


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


def entries(order: domain.Order) -> list[outbox.Entry]:
    """The outbox entries for the events `order` collected."""
    found: list[outbox.Entry] = []
    for event in order.events:
        if isinstance(event, domain.Confirmed):
            found.append(
                outbox.entry(
                    ORDER_ALERT,
                    shipping_pb2.ReceiveOrderAlertRequest(
                        order_id=order.order_id, customer_id=order.customer_id
                    ),
                )
            )
            found.append(
                _notice(
                    order,
                    f"Order {order.order_id} confirmed",
                    f"Thank you! Order {order.order_id} is confirmed: {event.units} item(s), "
                    f"{_format(event.total)}, shipping from {event.warehouses} warehouse(s).",
                )
            )
        elif isinstance(event, domain.Delivered):
            found.append(
                _notice(
                    order,
                    f"Order {order.order_id} delivered",
                    f"Every parcel of order {order.order_id} has been delivered. Enjoy!",
                )
            )
    return found


def _notice(order: domain.Order, subject: str, message: str) -> outbox.Entry:
    return outbox.entry(
        CUSTOMER_NOTICE,
        notifications_pb2.SendNotificationRequest(
            customer_id=order.customer_id, order_id=order.order_id, subject=subject, message=message
        ),
    )


def _format(amount: Money) -> str:
    units, cents = divmod(amount.amount_minor, 100)
    return f"{units}.{cents:02d} {amount.currency}"


def deliverers(
    shipping: shipping_pb2_grpc.ShippingServiceStub,
    notifications: notifications_pb2_grpc.NotificationServiceStub,
) -> dict[str, outbox.Deliver]:
    return {
        # A relay's batch of alerts goes in one call (one transaction there).
        ORDER_ALERT: outbox.rpc_batch_deliverer(
            shipping.BatchReceiveOrderAlerts,
            lambda requests: shipping_pb2.BatchReceiveOrderAlertsRequest(requests=requests),
            outbox.rpc_deliverer(shipping.ReceiveOrderAlert, shipping_pb2.ReceiveOrderAlertRequest),
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
