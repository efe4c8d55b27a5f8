"""A cart becomes an order; the order follows its shipments (no I/O)."""

from __future__ import annotations

import pytest

from meshkit.errors import AppError, Kind
from orders.domain.allocation import Point
from orders.domain.lifecycle import OrderState, Progress
from orders.domain.money import Money
from orders.domain.order import (
    Address,
    Allocation,
    Cart,
    CartItem,
    CartState,
    Confirmed,
    Delivered,
    Line,
    Order,
)

BERLIN = Address("Ada", "Main St 1", "Berlin", "10115", "DE", 52.52, 13.405)
NAMES = {1: "Leipzig", 2: "Munich"}


def cart(*items: CartItem) -> Cart:
    return Cart(cart_id=5, customer_id=7, state=CartState.OPEN, order_id=None, items=list(items))


def item(product_id: int, quantity: int, price: int = 250) -> CartItem:
    return CartItem(
        product_id, quantity, f"SKU-{product_id}", f"Thing {product_id}", Money(price, "EUR")
    )


def test_an_address_is_a_point_on_the_map() -> None:
    assert BERLIN.point == Point(52.52, 13.405)


def test_a_cart_wants_each_products_units() -> None:
    assert cart(item(11, 2), item(10, 3)).wanted == {11: 2, 10: 3}


def test_placing_a_cart_makes_a_confirmed_order_priced_as_the_cart() -> None:
    basket = cart(item(11, 2, price=250), item(10, 1, price=1999))
    order = basket.place(42, "req-1", BERLIN, {1: {10: 1}, 2: {11: 2}}, NAMES)

    assert (order.order_id, order.customer_id, order.cart_id, order.request_id) == (
        42,
        7,
        5,
        "req-1",
    )
    assert (order.state, order.version, order.address) == (OrderState.CONFIRMED, 1, BERLIN)
    assert order.total == Money(2 * 250 + 1999, "EUR")
    assert order.lines == [  # by product
        Line(10, "SKU-10", "Thing 10", 1, 1999),
        Line(11, "SKU-11", "Thing 11", 2, 250),
    ]
    assert order.allocations == [Allocation(1, "Leipzig", 10, 1), Allocation(2, "Munich", 11, 2)]
    assert order.shipments == {}
    assert order.etag == "42-1"


def test_placing_a_cart_closes_it_onto_its_order() -> None:
    basket = cart(item(10, 1))
    basket.place(42, "", BERLIN, {1: {10: 1}}, NAMES)
    assert (basket.state, basket.order_id) == (CartState.ORDERED, 42)


def test_a_placed_order_tells_of_its_units_total_and_warehouses() -> None:
    order = cart(item(10, 1), item(11, 3)).place(
        42, "", BERLIN, {1: {10: 1, 11: 1}, 2: {11: 2}}, NAMES
    )
    assert order.events == [Confirmed(units=4, total=Money(1000, "EUR"), warehouses=2)]


def test_an_empty_cart_cannot_be_placed() -> None:
    basket = cart()
    with pytest.raises(AppError) as refused:
        basket.place(42, "", BERLIN, {}, NAMES)
    assert (refused.value.kind, refused.value.reason) == (Kind.FAILED_PRECONDITION, "CART_EMPTY")
    assert refused.value.message == "cart 5 has no items"
    assert refused.value.metadata == {"cart_id": "5"}
    assert basket.state is CartState.OPEN


def test_an_ordered_cart_cannot_be_placed_again() -> None:
    basket = cart(item(10, 1))
    basket.place(42, "", BERLIN, {1: {10: 1}}, NAMES)
    with pytest.raises(AppError) as refused:
        basket.place(43, "", BERLIN, {1: {10: 1}}, NAMES)
    assert (refused.value.kind, refused.value.reason) == (Kind.FAILED_PRECONDITION, "CART_CLOSED")
    assert refused.value.message == "cart 5 became order 42"
    assert refused.value.metadata == {"cart_id": "5"}
    assert basket.order_id == 42


def order_from(*warehouses: int) -> Order:
    plan = {w: {10 + i: 1} for i, w in enumerate(warehouses)}
    items = [item(10 + i, 1) for i in range(len(warehouses))]
    order = cart(*items).place(42, "", BERLIN, plan, {1: "Leipzig", 2: "Munich"})
    order.events.clear()
    return order


def test_a_parcel_leaving_ships_the_order_and_bumps_its_version() -> None:
    order = order_from(1)
    order.record_progress(900, Progress.LABEL_CREATED)
    assert (order.state, order.version, order.events) == (OrderState.CONFIRMED, 1, [])
    order.record_progress(900, Progress.IN_TRANSIT)
    assert (order.state, order.version, order.events) == (OrderState.SHIPPED, 2, [])
    assert order.shipments == {900: Progress.IN_TRANSIT}


def test_the_order_is_delivered_once_when_every_parcel_arrives() -> None:
    order = order_from(1, 2)
    order.record_progress(900, Progress.DELIVERED)
    assert (order.state, order.events) == (OrderState.SHIPPED, [])
    order.record_progress(901, Progress.DELIVERED)
    assert (order.state, order.version, order.events) == (OrderState.DELIVERED, 3, [Delivered()])
    order.record_progress(901, Progress.DELIVERED)  # reported again
    assert (order.version, order.events) == (3, [Delivered()])


def test_a_late_report_never_moves_a_shipment_back() -> None:
    order = order_from(1)
    order.record_progress(900, Progress.DELIVERED)
    order.record_progress(900, Progress.IN_TRANSIT)
    assert order.shipments == {900: Progress.DELIVERED}
    assert order.state is OrderState.DELIVERED


def test_a_cancelled_order_stays_cancelled_whatever_shipping_reports() -> None:
    order = order_from(1)
    order.state = OrderState.CANCELLED
    order.record_progress(900, Progress.DELIVERED)
    assert (order.state, order.version, order.events) == (OrderState.CANCELLED, 1, [])
