"""Orders, wired: database, stubs to Shipping and Notifications, outbox relay."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from meshkit import channels, db, outbox, serving
from meshkit.config import Settings
from orders import events, tables
from orders.handlers import OrderHandlers
from orders.servicer import OrderServicer
from shopmesh.notifications.v1 import notifications_pb2_grpc
from shopmesh.orders.v1 import orders_pb2, orders_pb2_grpc
from shopmesh.shipping.v1 import shipping_pb2_grpc

DEFAULT_PORT = 50051


def build(settings: Settings) -> serving.Service:
    engine = db.make_engine(settings.database_url, application_name="orders")
    servicer = OrderServicer(OrderHandlers(db.make_sessions(engine)))

    def register(server: grpc.Server) -> Sequence[str]:
        orders_pb2_grpc.add_OrderServiceServicer_to_server(servicer, server)
        return [orders_pb2.DESCRIPTOR.services_by_name["OrderService"].full_name]

    to_shipping = channels.to_service(settings, "shipping", 50052)
    to_notifications = channels.to_service(settings, "notifications", 50053)
    relay = outbox.Relay.for_service(
        settings,
        engine,
        tables.OrdersOutbox,
        events.deliverers(
            shipping_pb2_grpc.ShippingServiceStub(to_shipping),
            notifications_pb2_grpc.NotificationServiceStub(to_notifications),
        ),
    )
    return serving.Service(
        settings, engine, register, relays=[relay], channels=[to_shipping, to_notifications]
    )
