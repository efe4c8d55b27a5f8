"""OrderService rules at their edges: who may read a cart, when a customer
hears that an order was delivered, how many units a cart line and the stock
take, and two first attempts of one order racing. Real PostgreSQL, through
the real gRPC server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import grpc
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from orders import events, tables
from orders.handlers import MAX_UNITS_PER_LINE
from shopmesh.notifications.v1 import notifications_pb2
from shopmesh.orders.v1 import orders_pb2 as pb
from shopmesh.orders.v1 import orders_pb2_grpc
from tests.integration.orders_fixtures import Shop, cart_with, orders_stub, shop
from tests.support import data
from tests.support.rpc import as_customer, as_service, reason, violations
from tests.support.waiting import until

__all__ = ["orders_stub", "shop"]  # fixtures

Stub = orders_pb2_grpc.OrderServiceStub

CALL_TIMEOUT = 30  # seconds; no call in this file may hang the suite


def place(stub: Stub, shop: Shop, items: dict[int, int]) -> pb.Order:
    cart_id = cart_with(stub, shop.customer_id, items)
    return stub.CreateOrder(
        pb.CreateOrderRequest(shopping_cart_id=cart_id), metadata=as_customer(shop.customer_id)
    ).order


def customer_notices(sessions: sessionmaker[Session], order_id: int) -> list[str]:
    """Subjects of the notifications to the customer about `order_id` that
    Orders wrote to its outbox, oldest first."""
    with sessions() as s:
        rows = s.scalars(
            select(tables.OrdersOutbox)
            .where(tables.OrdersOutbox.topic == events.CUSTOMER_NOTICE)
            .order_by(tables.OrdersOutbox.id)
        ).all()
    notices = [notifications_pb2.SendNotificationRequest.FromString(r.payload) for r in rows]
    return [n.subject for n in notices if n.order_id == order_id]


def cart_quantities(sessions: sessionmaker[Session], cart_id: int) -> dict[int, int]:
    with sessions() as s:
        items = s.scalars(select(tables.CartItem).where(tables.CartItem.cart_id == cart_id))
        return {i.product_id: i.quantity for i in items}


@contextmanager
def stock_locked(sessions: sessionmaker[Session], product_id: int) -> Iterator[None]:
    """Hold the row locks on every stock row of the product for the block,
    as a concurrent order reserving it would."""
    with sessions.begin() as holder:
        holder.execute(
            text("SELECT 1 FROM stock WHERE product_id = :p FOR UPDATE"), {"p": product_id}
        )
        yield


# -- reading carts ----------------------------------------------------------


def test_a_customer_cannot_read_another_customers_cart(orders_stub: Stub, shop: Shop) -> None:
    theirs = cart_with(orders_stub, shop.other_customer_id, {shop.widget: 2})

    with pytest.raises(grpc.RpcError) as refused:
        orders_stub.GetCart(
            pb.GetCartRequest(cart_id=theirs), metadata=as_customer(shop.customer_id)
        )

    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason(refused.value) == "CART_NOT_FOUND"
    # Its owner still reads it as it was.
    cart = orders_stub.GetCart(
        pb.GetCartRequest(cart_id=theirs), metadata=as_customer(shop.other_customer_id)
    ).cart
    assert [(i.product_id, i.quantity) for i in cart.items] == [(shop.widget, 2)]


def test_reading_a_cart_that_does_not_exist_is_not_found(orders_stub: Stub, shop: Shop) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        orders_stub.GetCart(
            pb.GetCartRequest(cart_id=987654321), metadata=as_customer(shop.customer_id)
        )

    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason(refused.value) == "CART_NOT_FOUND"


# -- the delivered notification ---------------------------------------------


def test_the_customer_hears_delivered_once_when_the_order_is_delivered(
    orders_stub: Stub, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    order = place(orders_stub, shop, {shop.widget: 2})  # all from Leipzig: one shipment
    confirmed, delivered = f"Order {order.order_id} confirmed", f"Order {order.order_id} delivered"

    def report(progress: pb.ShipmentProgress) -> pb.Order:
        return orders_stub.RecordShipmentProgress(
            pb.RecordShipmentProgressRequest(
                order_id=order.order_id, shipment_id=1, progress=progress
            ),
            metadata=as_service("shipping"),
        ).order

    assert report(pb.SHIPMENT_PROGRESS_LABEL_CREATED).state == pb.ORDER_STATE_CONFIRMED
    assert report(pb.SHIPMENT_PROGRESS_IN_TRANSIT).state == pb.ORDER_STATE_SHIPPED
    assert customer_notices(sessions, order.order_id) == [confirmed], "shipped is not delivered"

    assert report(pb.SHIPMENT_PROGRESS_DELIVERED).state == pb.ORDER_STATE_DELIVERED
    assert customer_notices(sessions, order.order_id) == [confirmed, delivered]

    # Shipping reports again (a redelivered event): the customer hears nothing new.
    assert report(pb.SHIPMENT_PROGRESS_DELIVERED).state == pb.ORDER_STATE_DELIVERED
    assert customer_notices(sessions, order.order_id) == [confirmed, delivered]
    with sessions() as s:
        row = s.get(tables.Order, order.order_id)
        assert row is not None and row.state == "delivered"


def test_the_customer_hears_delivered_only_once_every_parcel_has_arrived(
    orders_stub: Stub, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    order = place(orders_stub, shop, {shop.widget: 12})  # Leipzig and Munich: two shipments
    confirmed, delivered = f"Order {order.order_id} confirmed", f"Order {order.order_id} delivered"

    def report(shipment_id: int, progress: pb.ShipmentProgress) -> pb.Order:
        return orders_stub.RecordShipmentProgress(
            pb.RecordShipmentProgressRequest(
                order_id=order.order_id, shipment_id=shipment_id, progress=progress
            ),
            metadata=as_service("shipping"),
        ).order

    report(1, pb.SHIPMENT_PROGRESS_IN_TRANSIT)
    report(2, pb.SHIPMENT_PROGRESS_IN_TRANSIT)
    assert report(1, pb.SHIPMENT_PROGRESS_DELIVERED).state == pb.ORDER_STATE_SHIPPED
    assert customer_notices(sessions, order.order_id) == [confirmed], "one parcel is still out"

    assert report(2, pb.SHIPMENT_PROGRESS_DELIVERED).state == pb.ORDER_STATE_DELIVERED
    assert customer_notices(sessions, order.order_id) == [confirmed, delivered]


# -- how many units ---------------------------------------------------------


@pytest.mark.parametrize(
    "additions",
    [[MAX_UNITS_PER_LINE], [MAX_UNITS_PER_LINE - 1, 1]],
    ids=["in one call", "999 then 1"],
)
def test_a_cart_line_takes_up_to_1000_units_and_refuses_one_more(
    orders_stub: Stub, shop: Shop, sessions: sessionmaker[Session], additions: list[int]
) -> None:
    assert MAX_UNITS_PER_LINE == 1000
    cart_id = cart_with(orders_stub, shop.customer_id, {})
    who = as_customer(shop.customer_id)

    for quantity in additions:
        cart = orders_stub.AddCartItem(
            pb.AddCartItemRequest(cart_id=cart_id, product_id=shop.gadget, quantity=quantity),
            metadata=who,
        ).cart
    assert [(i.product_id, i.quantity) for i in cart.items] == [(shop.gadget, 1000)]

    with pytest.raises(grpc.RpcError) as refused:
        orders_stub.AddCartItem(
            pb.AddCartItemRequest(cart_id=cart_id, product_id=shop.gadget, quantity=1),
            metadata=who,
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(refused.value)) == {"quantity"}
    assert cart_quantities(sessions, cart_id) == {shop.gadget: 1000}
    cart = orders_stub.GetCart(pb.GetCartRequest(cart_id=cart_id), metadata=who).cart
    assert [(i.product_id, i.quantity) for i in cart.items] == [(shop.gadget, 1000)]


def test_ordering_every_unit_in_stock_succeeds_and_leaves_none(
    orders_stub: Stub, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    order = place(orders_stub, shop, {shop.widget: 3 + 10})  # Leipzig's 3 and Munich's 10

    assert order.state == pb.ORDER_STATE_CONFIRMED
    shipped = {
        f.warehouse_id: {i.product_id: i.quantity for i in f.items} for f in order.fulfillments
    }
    assert shipped == {shop.leipzig: {shop.widget: 3}, shop.munich: {shop.widget: 10}}
    assert data.available(sessions, shop.leipzig, shop.widget) == 0
    assert data.available(sessions, shop.munich, shop.widget) == 0


def test_ordering_one_unit_more_than_in_stock_is_out_of_stock_and_reserves_nothing(
    orders_stub: Stub, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    cart_id = cart_with(orders_stub, shop.customer_id, {shop.widget: 3 + 10 + 1})
    who = as_customer(shop.customer_id)

    with pytest.raises(grpc.RpcError) as refused:
        orders_stub.CreateOrder(pb.CreateOrderRequest(shopping_cart_id=cart_id), metadata=who)

    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(refused.value) == "OUT_OF_STOCK"
    assert data.available(sessions, shop.leipzig, shop.widget) == 3
    assert data.available(sessions, shop.munich, shop.widget) == 10
    with sessions() as s:
        assert s.scalars(select(tables.Order).where(tables.Order.cart_id == cart_id)).all() == []
    cart = orders_stub.GetCart(pb.GetCartRequest(cart_id=cart_id), metadata=who).cart
    assert cart.state == pb.CART_STATE_OPEN


# -- two first attempts racing ----------------------------------------------


def test_two_first_attempts_with_one_request_id_racing_make_one_order(
    orders_stub: Stub, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    """Both attempts find no order for the request id, then queue on the
    stock both need; the one that commits second breaks the unique
    (customer, request id) and must answer with the first one's order."""
    request_id = str(uuid.uuid4())
    who = as_customer(shop.customer_id)
    # Two carts, so that the cart lock does not put one attempt behind the other.
    carts = [cart_with(orders_stub, shop.customer_id, {shop.widget: 1}) for _ in range(2)]

    def attempt(cart_id: int) -> pb.Order:
        return orders_stub.CreateOrder(
            pb.CreateOrderRequest(shopping_cart_id=cart_id, request_id=request_id),
            metadata=who,
            timeout=CALL_TIMEOUT,
        ).order

    with ThreadPoolExecutor(max_workers=2) as pool:
        # Leaving the lock's block (even by a failure) lets both calls finish
        # before the pool's block joins their threads.
        with stock_locked(sessions, shop.widget):
            calls = [pool.submit(attempt, cart_id) for cart_id in carts]
            until(
                lambda: data.lock_waits(sessions, "orders") == 2,
                within=10,
                what="both attempts to wait for the widget's stock",
            )
            assert not any(call.done() for call in calls)
        first, second = (call.result(timeout=CALL_TIMEOUT) for call in calls)

    assert first.order_id == second.order_id
    with sessions() as s:
        orders = s.scalars(
            select(tables.Order).where(
                tables.Order.customer_id == shop.customer_id,
                tables.Order.request_id == request_id,
            )
        ).all()
        assert [o.id for o in orders] == [first.order_id]
        won = orders[0].cart_id
        lost = next(c for c in carts if c != won)
        winner, loser = s.get(tables.Cart, won), s.get(tables.Cart, lost)
        assert winner is not None and (winner.state, winner.order_id) == ("ordered", first.order_id)
        assert loser is not None and (loser.state, loser.order_id) == ("open", None)
    # One unit reserved, from Leipzig; the losing attempt's reservation was rolled back.
    assert data.available(sessions, shop.leipzig, shop.widget) == 2
    assert data.available(sessions, shop.munich, shop.widget) == 10
    assert cart_quantities(sessions, lost) == {shop.widget: 1}


# -- stock that moves while an order is decided ------------------------------


def test_an_order_whose_stock_was_taken_meanwhile_is_decided_again_on_what_is_left(
    orders_stub: Stub, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    """CreateOrder reads stock without locking it and takes it only where it
    is still there. Here another sale takes Leipzig's units after the order
    planned on them: the order must ship from where stock is left instead,
    and nothing may be oversold."""
    cart_id = cart_with(orders_stub, shop.customer_id, {shop.widget: 3})  # Leipzig has 3
    who = as_customer(shop.customer_id)

    with ThreadPoolExecutor(max_workers=1) as pool:
        with sessions.begin() as other_sale:
            # Hold Leipzig's row, as a concurrent order taking it would ...
            other_sale.execute(
                text("SELECT 1 FROM stock WHERE warehouse_id = :w AND product_id = :p FOR UPDATE"),
                {"w": shop.leipzig, "p": shop.widget},
            )
            call = pool.submit(
                lambda: (
                    orders_stub.CreateOrder(
                        pb.CreateOrderRequest(shopping_cart_id=cart_id),
                        metadata=who,
                        timeout=CALL_TIMEOUT,
                    ).order
                )
            )
            until(
                lambda: data.lock_waits(sessions, "orders") == 1,
                within=10,
                what="the order to wait for Leipzig's stock",
            )
            # ... and sell two of its three units before letting go.
            other_sale.execute(
                text(
                    "UPDATE stock SET available = available - 2"
                    " WHERE warehouse_id = :w AND product_id = :p"
                ),
                {"w": shop.leipzig, "p": shop.widget},
            )
        order = call.result(timeout=CALL_TIMEOUT)

    shipped = {
        f.warehouse_id: {i.product_id: i.quantity for i in f.items} for f in order.fulfillments
    }
    assert shipped == {shop.munich: {shop.widget: 3}}  # the one warehouse that still has 3
    assert data.available(sessions, shop.leipzig, shop.widget) == 1
    assert data.available(sessions, shop.munich, shop.widget) == 7
