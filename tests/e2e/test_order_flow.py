"""The whole flow across the three real service processes:
cart -> order -> shipments + notification, then ship -> deliver -> order
delivered and the customer told at every step."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session, sessionmaker

from meshkit.callctx import REQUEST_ID_KEY
from shopmesh.notifications.v1 import notifications_pb2 as npb
from shopmesh.orders.v1 import orders_pb2 as opb
from shopmesh.shipping.v1 import shipping_pb2 as spb
from tests.e2e.conftest import Mesh
from tests.support import data
from tests.support.rpc import as_customer, as_role
from tests.support.shop import cart_with
from tests.support.waiting import until


def shipments_of(mesh: Mesh, order_id: int) -> list[spb.Shipment]:
    reply = mesh.shipping.ListShipments(
        spb.ListShipmentsRequest(order_id=order_id), metadata=as_role("ops")
    )
    return list(reply.shipments)


def messages_of(mesh: Mesh, customer_id: int) -> list[str]:
    reply = mesh.notifications.ListNotifications(
        npb.ListNotificationsRequest(customer_id=customer_id), metadata=as_role("ops")
    )
    return [n.message for n in reply.notifications]


def test_a_split_order_ships_from_two_warehouses_and_is_delivered(
    mesh: Mesh, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as s:
        customer = data.customer(s, "berlin")
        lamp, chair = data.product(s, 3900), data.product(s, 12900)
        leipzig, munich = data.warehouse(s, "leipzig"), data.warehouse(s, "munich")
        data.stock(s, leipzig, lamp, 5)
        data.stock(s, munich, chair, 5)
        me, products = as_customer(customer.id), (lamp.id, chair.id)

    cart_id = cart_with(mesh.orders, customer.id, dict.fromkeys(products, 1))
    trace = f"flow-{uuid.uuid4().hex}"
    order = mesh.orders.CreateOrder(
        opb.CreateOrderRequest(shopping_cart_id=cart_id, request_id="flow-1"),
        metadata=(*me, (REQUEST_ID_KEY, trace)),
    ).order
    assert order.total.amount_minor == 3900 + 12900
    assert len(order.fulfillments) == 2

    shipments = until(
        lambda: len(shipments_of(mesh, order.order_id)) == 2 and shipments_of(mesh, order.order_id),
        within=10,
        what="a shipment per warehouse",
    )
    assert {s.warehouse_id for s in shipments} == {f.warehouse_id for f in order.fulfillments}
    assert all(s.state == spb.SHIPMENT_STATE_LABEL_CREATED for s in shipments)
    until(
        lambda: any(
            f"Order {order.order_id} is confirmed" in m for m in messages_of(mesh, customer.id)
        ),
        within=10,
        what="the order confirmation",
    )

    for state in (spb.SHIPMENT_STATE_IN_TRANSIT, spb.SHIPMENT_STATE_DELIVERED):
        for shipment in shipments:
            mesh.shipping.UpdateShipment(
                spb.UpdateShipmentRequest(
                    shipment=spb.Shipment(shipment_id=shipment.shipment_id, state=state)
                ),
                metadata=as_role("ops"),
            )

    def order_state() -> int:
        return mesh.orders.GetOrder(
            opb.GetOrderRequest(order_id=order.order_id), metadata=me
        ).order.state

    until(lambda: order_state() == opb.ORDER_STATE_DELIVERED, within=10, what="order delivered")
    until(
        lambda: any(
            f"order {order.order_id} has been delivered" in m
            for m in messages_of(mesh, customer.id)
        ),
        within=10,
        what="the delivery notification",
    )
    # The request id of CreateOrder followed the alert into Shipping (and its
    # GetOrder call back to Orders) and the confirmation into Notifications.
    for service in ("orders", "shipping", "notifications"):
        assert trace in mesh.processes[service].log(), f"{service} never logged {trace}"
    # Shipping told the customer about each parcel as well; nothing twice.
    messages = messages_of(mesh, customer.id)
    assert len(messages) == len(set(messages))
    assert len(messages) >= 4


def test_cancelling_an_order_cancels_its_shipments_and_returns_the_stock(
    mesh: Mesh, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as s:
        customer = data.customer(s, "munich")
        item = data.product(s, 2500)
        munich = data.warehouse(s, "munich")
        data.stock(s, munich, item, 4)
        me, product_id, warehouse_id = as_customer(customer.id), item.id, munich.id

    cart_id = cart_with(mesh.orders, customer.id, {product_id: 3})
    order = mesh.orders.CreateOrder(
        opb.CreateOrderRequest(shopping_cart_id=cart_id), metadata=me
    ).order
    until(lambda: shipments_of(mesh, order.order_id), within=10, what="the shipment")
    assert data.available(sessions, warehouse_id, product_id) == 1

    cancelled = mesh.orders.DeleteOrder(
        opb.DeleteOrderRequest(order_id=order.order_id, etag=order.etag), metadata=me
    ).order

    assert cancelled.state == opb.ORDER_STATE_CANCELLED
    assert data.available(sessions, warehouse_id, product_id) == 4
    until(
        lambda: all(
            s.state == spb.SHIPMENT_STATE_CANCELLED for s in shipments_of(mesh, order.order_id)
        ),
        within=10,
        what="the shipment cancelled",
    )
    until(
        lambda: any(
            f"Order {order.order_id} was cancelled" in m for m in messages_of(mesh, customer.id)
        ),
        within=10,
        what="the cancellation notice",
    )
