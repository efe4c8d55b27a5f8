"""Concurrent orders for the last units never oversell."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from shopmesh.orders.v1 import orders_pb2 as pb
from shopmesh.orders.v1 import orders_pb2_grpc
from tests.integration.orders_fixtures import cart_with, orders_stub
from tests.support import data
from tests.support.rpc import as_customer, reason

__all__ = ["orders_stub"]

BUYERS = 30
UNITS = 5


def test_thirty_concurrent_orders_for_five_units_sell_exactly_five(
    orders_stub: orders_pb2_grpc.OrderServiceStub, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as s:
        item = data.product(s)
        near, far = data.warehouse(s, "leipzig"), data.warehouse(s, "munich")
        data.stock(s, near, item, 3)
        data.stock(s, far, item, 2)
        buyers = [data.customer(s, "berlin").id for _ in range(BUYERS)]
        product_id, warehouses = item.id, (near.id, far.id)
    carts = {buyer: cart_with(orders_stub, buyer, {product_id: 1}) for buyer in buyers}

    def buy(buyer: int) -> str:
        try:
            orders_stub.CreateOrder(
                pb.CreateOrderRequest(shopping_cart_id=carts[buyer]),
                metadata=as_customer(buyer),
                timeout=30,
            )
            return "ok"
        except grpc.RpcError as refused:
            return reason(refused)

    with ThreadPoolExecutor(max_workers=BUYERS) as pool:
        outcomes = list(pool.map(buy, buyers))

    assert outcomes.count("ok") == UNITS
    assert outcomes.count("OUT_OF_STOCK") == BUYERS - UNITS
    assert [data.available(sessions, w, product_id) for w in warehouses] == [0, 0]
    with sessions() as s:
        reserved = s.scalar(
            text("SELECT sum(quantity) FROM order_allocations WHERE product_id = :p"),
            {"p": product_id},
        )
    assert reserved == UNITS
