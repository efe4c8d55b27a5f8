"""The three services as real processes on free ports, on the test database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import grpc
import pytest

from shopmesh.notifications.v1 import notifications_pb2_grpc
from shopmesh.orders.v1 import orders_pb2_grpc
from shopmesh.shipping.v1 import shipping_pb2_grpc
from tests.support import keys
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess, service_process

SERVICES = ("orders", "shipping", "notifications")


@dataclass
class Mesh:
    processes: dict[str, ServiceProcess]
    orders: orders_pb2_grpc.OrderServiceStub
    shipping: shipping_pb2_grpc.ShippingServiceStub
    notifications: notifications_pb2_grpc.NotificationServiceStub


def mesh_env(database_url: str, ports: dict[str, int]) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "INFO",
        "NOTIFY_CHANNEL": "log",
        # Retry soon after an outage so tests stay short.
        "OUTBOX_BACKOFF_SECONDS": "0.1",
        # The keys callers' tokens are verified with, and each service's own.
        **keys.service_env(),
        **{f"{name.upper()}_TARGET": f"127.0.0.1:{port}" for name, port in ports.items()},
    }


@pytest.fixture
def mesh(database_url: str) -> Iterator[Mesh]:
    ports = {name: free_port() for name in SERVICES}
    env = mesh_env(database_url, ports)
    with ExitStack() as running:
        processes = {
            name: running.enter_context(service_process(name, env, port=ports[name]))
            for name in SERVICES
        }
        channels = {
            name: running.enter_context(grpc.insecure_channel(p.target))
            for name, p in processes.items()
        }
        yield Mesh(
            processes,
            orders_pb2_grpc.OrderServiceStub(channels["orders"]),
            shipping_pb2_grpc.ShippingServiceStub(channels["shipping"]),
            notifications_pb2_grpc.NotificationServiceStub(channels["notifications"]),
        )
