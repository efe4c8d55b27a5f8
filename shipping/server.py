"""Shipping, wired: database, stubs to Orders and Notifications, outbox relay."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from meshkit import channels, db, outbox, serving
from meshkit.config import Settings
from shipping import events, tables
from shipping.handlers import ShippingHandlers
from shipping.orders_client import OrdersClient
from shipping.servicer import ShippingServicer
from shopmesh.notifications.v1 import notifications_pb2_grpc
from shopmesh.orders.v1 import orders_pb2_grpc
from shopmesh.shipping.v1 import shipping_pb2, shipping_pb2_grpc

DEFAULT_PORT = 50052


def build(settings: Settings) -> serving.Service:
    engine = db.make_engine(settings.database_url, application_name="shipping")

    to_orders = channels.to_service(settings, "orders", 50051)
    to_notifications = channels.to_service(settings, "notifications", 50053)
    orders = orders_pb2_grpc.OrderServiceStub(to_orders)
    notifications = notifications_pb2_grpc.NotificationServiceStub(to_notifications)
    servicer = ShippingServicer(ShippingHandlers(db.make_sessions(engine), OrdersClient(orders)))

    def register(server: grpc.Server) -> Sequence[str]:
        shipping_pb2_grpc.add_ShippingServiceServicer_to_server(servicer, server)
        return [shipping_pb2.DESCRIPTOR.services_by_name["ShippingService"].full_name]

    relay = outbox.Relay.for_service(
        settings, engine, tables.ShippingOutbox, events.deliverers(orders, notifications)
    )
    return serving.Service(
        settings, engine, register, relays=[relay], channels=[to_orders, to_notifications]
    )
