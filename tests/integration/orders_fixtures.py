"""A running Orders server (in-process, real PostgreSQL) and a shop to order from."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from sqlalchemy.orm import Session, sessionmaker

from orders import server
from shopmesh.orders.v1 import orders_pb2_grpc
from tests.support import data
from tests.support.inprocess import running
from tests.support.ports import free_port
from tests.support.settings import for_service
from tests.support.shop import cart_with

__all__ = ["cart_with"]


@pytest.fixture(scope="module")
def orders_stub(database_url: str) -> Iterator[orders_pb2_grpc.OrderServiceStub]:
    # Shipping and Notifications are not running: events wait in the outbox.
    settings = for_service(
        "orders",
        database_url,
        SHIPPING_TARGET=f"127.0.0.1:{free_port()}",
        NOTIFICATIONS_TARGET=f"127.0.0.1:{free_port()}",
        OUTBOX_BACKOFF_SECONDS="30",
    )
    with running(server.build(settings)) as target, grpc.insecure_channel(target) as channel:
        yield orders_pb2_grpc.OrderServiceStub(channel)


@dataclass
class Shop:
    """Two products, three warehouses around Germany, one customer in Berlin."""

    customer_id: int
    other_customer_id: int
    widget: int
    gadget: int
    leipzig: int
    munich: int
    hamburg: int


@pytest.fixture
def shop(sessions: sessionmaker[Session]) -> Shop:
    with sessions.begin() as s:
        customer, other = data.customer(s, "berlin"), data.customer(s, "munich")
        widget, gadget = data.product(s, 1250), data.product(s, 499)
        leipzig, munich, hamburg = (data.warehouse(s, p) for p in ("leipzig", "munich", "hamburg"))
        data.stock(s, leipzig, widget, 3)
        data.stock(s, munich, widget, 10)
        data.stock(s, munich, gadget, 10)
        data.stock(s, hamburg, gadget, 2)
        return Shop(customer.id, other.id, widget.id, gadget.id, leipzig.id, munich.id, hamburg.id)
