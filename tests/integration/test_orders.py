"""OrderService against real PostgreSQL, through its real gRPC server."""

from __future__ import annotations

import uuid

import grpc
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orders import tables
from shopmesh.notifications.v1.notifications_pb2 import SendNotificationRequest
from shopmesh.orders.v1 import orders_pb2 as pb
from shopmesh.orders.v1 import orders_pb2_grpc
from tests.integration.orders_fixtures import Shop, cart_with, orders_stub, shop
from tests.support import data
from tests.support.rpc import as_customer, as_role, as_service, reason, violations

__all__ = ["orders_stub", "shop"]  # fixtures

Stub = orders_pb2_grpc.OrderServiceStub


def place(stub: Stub, shop: Shop, items: dict[int, int], request_id: str = "") -> pb.Order:
    cart_id = cart_with(stub, shop.customer_id, items)
    return stub.CreateOrder(
        pb.CreateOrderRequest(shopping_cart_id=cart_id, request_id=request_id),
        metadata=as_customer(shop.customer_id),
    ).order


def test_an_order_reserves_stock_in_the_nearest_warehouse_that_has_it_all(
    orders_stub: Stub, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    order = place(orders_stub, shop, {shop.widget: 2})

    assert order.state == pb.ORDER_STATE_CONFIRMED
    assert order.total.amount_minor == 2500 and order.total.currency_code == "EUR"
    # Leipzig is nearer to Berlin than Munich.
    assert [f.warehouse_id for f in order.fulfillments] == [shop.leipzig]
    assert data.available(sessions, shop.leipzig, shop.widget) == 1
    assert data.available(sessions, shop.munich, shop.widget) == 10


def test_an_order_no_warehouse_can_fill_alone_is_split(
    orders_stub: Stub, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    order = place(orders_stub, shop, {shop.widget: 12})

    shipped = {
        f.warehouse_id: {i.product_id: i.quantity for i in f.items} for f in order.fulfillments
    }
    assert shipped == {shop.leipzig: {shop.widget: 3}, shop.munich: {shop.widget: 9}}
    assert data.available(sessions, shop.leipzig, shop.widget) == 0
    assert data.available(sessions, shop.munich, shop.widget) == 1


def test_the_order_snapshots_prices_and_closes_the_cart(orders_stub: Stub, shop: Shop) -> None:
    cart_id = cart_with(orders_stub, shop.customer_id, {shop.gadget: 3})
    who = as_customer(shop.customer_id)
    order = orders_stub.CreateOrder(
        pb.CreateOrderRequest(shopping_cart_id=cart_id), metadata=who
    ).order

    assert [
        (line.product_id, line.quantity, line.unit_price.amount_minor) for line in order.lines
    ] == [(shop.gadget, 3, 499)]
    cart = orders_stub.GetCart(pb.GetCartRequest(cart_id=cart_id), metadata=who).cart
    assert cart.state == pb.CART_STATE_ORDERED and cart.order_id == order.order_id
    with pytest.raises(grpc.RpcError) as closed:
        orders_stub.AddCartItem(
            pb.AddCartItemRequest(cart_id=cart_id, product_id=shop.gadget, quantity=1), metadata=who
        )
    assert closed.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(closed.value) == "CART_CLOSED"


def test_retrying_a_create_returns_the_first_order_and_reserves_once(
    orders_stub: Stub, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    request_id = str(uuid.uuid4())
    cart_id = cart_with(orders_stub, shop.customer_id, {shop.widget: 1})
    who = as_customer(shop.customer_id)
    request = pb.CreateOrderRequest(shopping_cart_id=cart_id, request_id=request_id)

    first = orders_stub.CreateOrder(request, metadata=who).order
    again = orders_stub.CreateOrder(request, metadata=who).order
    same_cart = orders_stub.CreateOrder(
        pb.CreateOrderRequest(shopping_cart_id=cart_id), metadata=who
    ).order

    assert first.order_id == again.order_id == same_cart.order_id
    assert data.available(sessions, shop.leipzig, shop.widget) == 2
    with sessions() as s:
        assert (
            len(s.scalars(select(tables.Order).where(tables.Order.cart_id == cart_id)).all()) == 1
        )


def test_creating_an_order_records_events_for_shipping_and_the_customer(
    orders_stub: Stub, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    order = place(orders_stub, shop, {shop.gadget: 1})
    with sessions() as s:
        topics = sorted(
            row.topic
            for row in s.scalars(
                select(tables.OrdersOutbox).order_by(tables.OrdersOutbox.id.desc()).limit(2)
            )
        )
    assert topics == ["notifications.send", "shipping.order_alert"]
    assert order.order_id


@pytest.mark.parametrize(
    ("make_request", "code", "why"),
    [
        (
            lambda shop, cart: pb.CreateOrderRequest(shopping_cart_id=987654321),
            grpc.StatusCode.NOT_FOUND,
            "CART_NOT_FOUND",
        ),
        (
            lambda shop, cart: pb.CreateOrderRequest(shopping_cart_id=cart),
            grpc.StatusCode.FAILED_PRECONDITION,
            "CART_EMPTY",
        ),
        (
            lambda shop, cart: pb.CreateOrderRequest(),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
        ),
    ],
    ids=["unknown cart", "empty cart", "missing cart id"],
)
def test_create_order_refuses_bad_carts(
    orders_stub: Stub, shop: Shop, make_request, code, why
) -> None:  # type: ignore[no-untyped-def]
    empty_cart = cart_with(orders_stub, shop.customer_id, {})
    with pytest.raises(grpc.RpcError) as refused:
        orders_stub.CreateOrder(
            make_request(shop, empty_cart), metadata=as_customer(shop.customer_id)
        )
    assert refused.value.code() == code
    assert reason(refused.value) == why


def test_another_customers_cart_looks_like_it_does_not_exist(orders_stub: Stub, shop: Shop) -> None:
    cart_id = cart_with(orders_stub, shop.other_customer_id, {shop.widget: 1})
    with pytest.raises(grpc.RpcError) as refused:
        orders_stub.CreateOrder(
            pb.CreateOrderRequest(shopping_cart_id=cart_id), metadata=as_customer(shop.customer_id)
        )
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason(refused.value) == "CART_NOT_FOUND"


def test_out_of_stock_names_the_product_and_reserves_nothing(
    orders_stub: Stub, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    cart_id = cart_with(orders_stub, shop.customer_id, {shop.widget: 1, shop.gadget: 13})
    with pytest.raises(grpc.RpcError) as refused:
        orders_stub.CreateOrder(
            pb.CreateOrderRequest(shopping_cart_id=cart_id), metadata=as_customer(shop.customer_id)
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(refused.value) == "OUT_OF_STOCK"
    assert str(shop.gadget) in refused.value.details()
    assert data.available(sessions, shop.leipzig, shop.widget) == 3
    cart = orders_stub.GetCart(
        pb.GetCartRequest(cart_id=cart_id), metadata=as_customer(shop.customer_id)
    ).cart
    assert cart.state == pb.CART_STATE_OPEN


def test_a_negative_quantity_is_a_field_violation(orders_stub: Stub, shop: Shop) -> None:
    cart_id = cart_with(orders_stub, shop.customer_id, {})
    with pytest.raises(grpc.RpcError) as refused:
        orders_stub.AddCartItem(
            pb.AddCartItemRequest(cart_id=cart_id, product_id=shop.widget, quantity=-2),
            metadata=as_customer(shop.customer_id),
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(refused.value)) == {"quantity"}


def test_calls_without_an_identity_are_unauthenticated(orders_stub: Stub) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        orders_stub.ListProducts(pb.ListProductsRequest())
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_removing_a_cart_item(orders_stub: Stub, shop: Shop) -> None:
    cart_id = cart_with(orders_stub, shop.customer_id, {shop.widget: 1, shop.gadget: 2})
    cart = orders_stub.RemoveCartItem(
        pb.RemoveCartItemRequest(cart_id=cart_id, product_id=shop.widget),
        metadata=as_customer(shop.customer_id),
    ).cart
    assert [(i.product_id, i.quantity) for i in cart.items] == [(shop.gadget, 2)]
    assert cart.total.amount_minor == 998


def test_update_changes_quantities_and_re_reserves_stock(
    orders_stub: Stub, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    order = place(orders_stub, shop, {shop.widget: 2, shop.gadget: 1})
    who = as_customer(shop.customer_id)
    changed = pb.Order(
        order_id=order.order_id,
        etag=order.etag,
        lines=[pb.OrderLine(product_id=shop.widget, quantity=1)],
    )
    updated = orders_stub.UpdateOrder(pb.UpdateOrderRequest(order=changed), metadata=who).order

    assert {line.product_id: line.quantity for line in updated.lines} == {
        shop.widget: 1,
        shop.gadget: 1,
    }
    assert updated.total.amount_minor == 1250 + 499
    assert updated.etag != order.etag
    reserved = sum(
        i.quantity for f in updated.fulfillments for i in f.items if i.product_id == shop.widget
    )
    assert reserved == 1
    total_widgets = sum(
        data.available(sessions, w, shop.widget) for w in (shop.leipzig, shop.munich)
    )
    assert total_widgets == 13 - 1


def test_update_with_a_stale_etag_is_aborted(orders_stub: Stub, shop: Shop) -> None:
    order = place(orders_stub, shop, {shop.widget: 2})
    who = as_customer(shop.customer_id)
    first = pb.Order(
        order_id=order.order_id,
        etag=order.etag,
        lines=[pb.OrderLine(product_id=shop.widget, quantity=1)],
    )
    orders_stub.UpdateOrder(pb.UpdateOrderRequest(order=first), metadata=who)
    with pytest.raises(grpc.RpcError) as refused:
        orders_stub.UpdateOrder(pb.UpdateOrderRequest(order=first), metadata=who)
    assert refused.value.code() == grpc.StatusCode.ABORTED
    assert reason(refused.value) == "ETAG_MISMATCH"


def test_cancelling_releases_stock_and_can_be_repeated(
    orders_stub: Stub, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    order = place(orders_stub, shop, {shop.widget: 3})
    assert data.available(sessions, shop.leipzig, shop.widget) == 0
    who = as_customer(shop.customer_id)

    cancelled = orders_stub.DeleteOrder(
        pb.DeleteOrderRequest(order_id=order.order_id), metadata=who
    ).order
    again = orders_stub.DeleteOrder(
        pb.DeleteOrderRequest(order_id=order.order_id), metadata=who
    ).order

    assert cancelled.state == again.state == pb.ORDER_STATE_CANCELLED
    assert data.available(sessions, shop.leipzig, shop.widget) == 3


def test_the_order_follows_its_shipments_and_then_cannot_change(
    orders_stub: Stub, shop: Shop
) -> None:
    order = place(orders_stub, shop, {shop.widget: 12})  # split: two shipments
    shipping = as_service("shipping")

    def report(shipment_id: int, progress: int) -> pb.Order:
        return orders_stub.RecordShipmentProgress(
            pb.RecordShipmentProgressRequest(
                order_id=order.order_id, shipment_id=shipment_id, progress=progress
            ),
            metadata=shipping,
        ).order

    report(1, pb.SHIPMENT_PROGRESS_LABEL_CREATED)
    report(2, pb.SHIPMENT_PROGRESS_LABEL_CREATED)
    assert report(1, pb.SHIPMENT_PROGRESS_IN_TRANSIT).state == pb.ORDER_STATE_SHIPPED
    assert report(1, pb.SHIPMENT_PROGRESS_DELIVERED).state == pb.ORDER_STATE_SHIPPED
    # A late, repeated report does not move anything back.
    assert report(1, pb.SHIPMENT_PROGRESS_IN_TRANSIT).state == pb.ORDER_STATE_SHIPPED
    report(2, pb.SHIPMENT_PROGRESS_IN_TRANSIT)
    assert report(2, pb.SHIPMENT_PROGRESS_DELIVERED).state == pb.ORDER_STATE_DELIVERED

    with pytest.raises(grpc.RpcError) as refused:
        orders_stub.DeleteOrder(
            pb.DeleteOrderRequest(order_id=order.order_id), metadata=as_customer(shop.customer_id)
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(refused.value) == "ORDER_NOT_CHANGEABLE"


def test_customers_cannot_report_shipment_progress(orders_stub: Stub, shop: Shop) -> None:
    order = place(orders_stub, shop, {shop.widget: 1})
    with pytest.raises(grpc.RpcError) as refused:
        orders_stub.RecordShipmentProgress(
            pb.RecordShipmentProgressRequest(
                order_id=order.order_id, shipment_id=1, progress=pb.SHIPMENT_PROGRESS_DELIVERED
            ),
            metadata=as_customer(shop.customer_id),
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_customers_see_only_their_own_orders(orders_stub: Stub, shop: Shop) -> None:
    mine = place(orders_stub, shop, {shop.gadget: 1})
    with pytest.raises(grpc.RpcError) as refused:
        orders_stub.GetOrder(
            pb.GetOrderRequest(order_id=mine.order_id), metadata=as_customer(shop.other_customer_id)
        )
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    theirs = orders_stub.ListOrders(
        pb.ListOrdersRequest(), metadata=as_customer(shop.other_customer_id)
    )
    assert mine.order_id not in [o.order_id for o in theirs.orders]


def test_listing_pages_newest_first_and_filters_by_state(orders_stub: Stub, shop: Shop) -> None:
    placed = [place(orders_stub, shop, {shop.gadget: 1}).order_id for _ in range(3)]
    who = as_customer(shop.customer_id)
    orders_stub.DeleteOrder(pb.DeleteOrderRequest(order_id=placed[0]), metadata=who)

    first = orders_stub.ListOrders(pb.ListOrdersRequest(page_size=2), metadata=who)
    second = orders_stub.ListOrders(
        pb.ListOrdersRequest(page_size=2, page_token=first.next_page_token), metadata=who
    )
    assert [o.order_id for o in first.orders] == placed[:0:-1]
    assert [o.order_id for o in second.orders] == [placed[0]]
    assert second.next_page_token == ""

    cancelled = orders_stub.ListOrders(
        pb.ListOrdersRequest(state=pb.ORDER_STATE_CANCELLED, customer_id=shop.customer_id),
        metadata=as_role("ops"),
    )
    assert [o.order_id for o in cancelled.orders] == [placed[0]]


def test_a_forged_page_token_is_invalid(orders_stub: Stub, shop: Shop) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        orders_stub.ListOrders(
            pb.ListOrdersRequest(page_token="not-a-token"), metadata=as_customer(shop.customer_id)
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(refused.value)) == {"page_token"}


# -- the batch methods Shipping's relay and alert handler use -----------------


def progress(order_id: int, shipment_id: int, value: int) -> pb.RecordShipmentProgressRequest:
    return pb.RecordShipmentProgressRequest(
        order_id=order_id, shipment_id=shipment_id, progress=value
    )


def test_a_batch_of_progress_reports_applies_in_order_and_tells_the_customer_once(
    orders_stub: Stub, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    split = place(orders_stub, shop, {shop.widget: 12})  # two shipments
    single = place(orders_stub, shop, {shop.gadget: 1})
    batch = pb.BatchRecordShipmentProgressRequest(
        requests=[
            progress(split.order_id, 1, pb.SHIPMENT_PROGRESS_IN_TRANSIT),
            progress(single.order_id, 1, pb.SHIPMENT_PROGRESS_IN_TRANSIT),
            progress(split.order_id, 2, pb.SHIPMENT_PROGRESS_DELIVERED),
            progress(split.order_id, 1, pb.SHIPMENT_PROGRESS_DELIVERED),
            # Repeated within the batch: changes nothing, tells no one again.
            progress(split.order_id, 2, pb.SHIPMENT_PROGRESS_DELIVERED),
        ]
    )

    orders = orders_stub.BatchRecordShipmentProgress(batch, metadata=as_service("shipping")).orders

    assert [(o.order_id, o.state) for o in orders] == sorted(
        [
            (split.order_id, pb.ORDER_STATE_DELIVERED),
            (single.order_id, pb.ORDER_STATE_SHIPPED),
        ]
    )
    with sessions() as session:
        notices = session.scalars(
            select(tables.OrdersOutbox.payload).where(
                tables.OrdersOutbox.topic == "notifications.send"
            )
        ).all()
    delivered = [
        n.order_id
        for n in map(SendNotificationRequest.FromString, notices)
        if "delivered" in n.subject and n.order_id in (split.order_id, single.order_id)
    ]
    assert delivered == [split.order_id]


def test_a_batch_naming_an_unknown_order_records_none_of_it(orders_stub: Stub, shop: Shop) -> None:
    order = place(orders_stub, shop, {shop.gadget: 1})
    batch = pb.BatchRecordShipmentProgressRequest(
        requests=[
            progress(order.order_id, 1, pb.SHIPMENT_PROGRESS_IN_TRANSIT),
            progress(10**12, 1, pb.SHIPMENT_PROGRESS_IN_TRANSIT),
        ]
    )
    with pytest.raises(grpc.RpcError) as refused:
        orders_stub.BatchRecordShipmentProgress(batch, metadata=as_service("shipping"))

    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason(refused.value) == "ORDER_NOT_FOUND"
    assert (
        orders_stub.GetOrder(
            pb.GetOrderRequest(order_id=order.order_id), metadata=as_role("ops")
        ).order.state
        == pb.ORDER_STATE_CONFIRMED
    )


def test_bad_reports_in_a_batch_are_named_by_position(orders_stub: Stub) -> None:
    batch = pb.BatchRecordShipmentProgressRequest(
        requests=[progress(1, 1, pb.SHIPMENT_PROGRESS_IN_TRANSIT), progress(0, 1, 99)]
    )
    with pytest.raises(grpc.RpcError) as refused:
        orders_stub.BatchRecordShipmentProgress(batch, metadata=as_service("shipping"))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(refused.value)) == {"requests[1].order_id", "requests[1].progress"}


def test_batch_get_returns_each_order_asked_for_in_order(orders_stub: Stub, shop: Shop) -> None:
    first = place(orders_stub, shop, {shop.gadget: 1})
    second = place(orders_stub, shop, {shop.widget: 2})

    orders = orders_stub.BatchGetOrders(
        pb.BatchGetOrdersRequest(order_ids=[second.order_id, first.order_id]),
        metadata=as_service("shipping"),
    ).orders

    assert list(orders) == [
        orders_stub.GetOrder(pb.GetOrderRequest(order_id=o.order_id), metadata=as_role("ops")).order
        for o in (second, first)
    ]
    with pytest.raises(grpc.RpcError) as missing:
        orders_stub.BatchGetOrders(
            pb.BatchGetOrdersRequest(order_ids=[first.order_id, 10**12]),
            metadata=as_service("shipping"),
        )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason(missing.value) == "ORDER_NOT_FOUND"


def test_only_services_use_the_batch_methods(orders_stub: Stub, shop: Shop) -> None:
    order = place(orders_stub, shop, {shop.gadget: 1})
    for caller in (as_role("ops"), as_customer(shop.customer_id)):
        with pytest.raises(grpc.RpcError) as refused:
            orders_stub.BatchGetOrders(
                pb.BatchGetOrdersRequest(order_ids=[order.order_id]), metadata=caller
            )
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.RpcError) as refused:
            orders_stub.BatchRecordShipmentProgress(
                pb.BatchRecordShipmentProgressRequest(
                    requests=[progress(order.order_id, 1, pb.SHIPMENT_PROGRESS_IN_TRANSIT)]
                ),
                metadata=caller,
            )
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
