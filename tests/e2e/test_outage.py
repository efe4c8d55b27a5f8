"""A service outage delays effects but never loses or duplicates one."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orders import tables
from shopmesh.orders.v1 import orders_pb2 as opb
from shopmesh.shipping.v1 import shipping_pb2 as spb
from tests.e2e.conftest import Mesh
from tests.support import data
from tests.support.rpc import as_customer, as_role
from tests.support.shop import cart_with
from tests.support.waiting import until


def test_orders_placed_while_shipping_is_down_are_shipped_once_it_is_back(
    mesh: Mesh, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as s:
        customer = data.customer(s, "hamburg")
        item = data.product(s, 1000)
        data.stock(s, data.warehouse(s, "hamburg"), item, 50)
        me, product_id = as_customer(customer.id), item.id

    shipping = mesh.processes["shipping"]
    shipping.stop()
    placed = []
    for _ in range(3):
        cart_id = cart_with(mesh.orders, customer.id, {product_id: 2})
        order = mesh.orders.CreateOrder(
            opb.CreateOrderRequest(shopping_cart_id=cart_id), metadata=me
        ).order
        placed.append(order.order_id)

    def alert_rows() -> list[tables.OrdersOutbox]:
        with sessions() as s:
            rows = s.scalars(
                select(tables.OrdersOutbox).where(
                    tables.OrdersOutbox.topic == "shipping.order_alert"
                )
            ).all()
        return [
            r for r in rows if spb.ReceiveOrderAlertRequest.FromString(r.payload).order_id in placed
        ]

    def alerts_tried_and_pending() -> bool:
        rows = alert_rows()
        return len(rows) == len(placed) and all(
            r.delivered_at is None and r.attempts > 0 for r in rows
        )

    until(alerts_tried_and_pending, within=10, what="the relay to have tried and kept the alerts")

    shipping.start()

    def shipments_per_order() -> Counter[int]:
        counts: Counter[int] = Counter()
        for order_id in placed:
            reply = mesh.shipping.ListShipments(
                spb.ListShipmentsRequest(order_id=order_id), metadata=as_role("ops")
            )
            counts[order_id] = len(reply.shipments)
        return counts

    until(
        lambda: all(shipments_per_order()[o] >= 1 for o in placed),
        within=20,
        what="every order's shipment after Shipping restarted",
    )
    assert shipments_per_order() == Counter({o: 1 for o in placed})
    until(
        lambda: all(r.delivered_at is not None for r in alert_rows()),
        within=10,
        what="every alert marked delivered",
    )
