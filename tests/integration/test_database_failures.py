"""When the database is the problem, the caller hears a status it can act on
(never INTERNAL), and no call outlives its deadline in a lock queue."""

from __future__ import annotations

import grpc
import pytest
from sqlalchemy.orm import Session, sessionmaker

from orders import server
from shopmesh.orders.v1 import orders_pb2 as pb
from shopmesh.orders.v1 import orders_pb2_grpc
from tests.integration.orders_fixtures import Shop, cart_with, orders_stub, shop
from tests.support import data
from tests.support.inprocess import running
from tests.support.ports import free_port
from tests.support.rpc import as_customer, reason
from tests.support.settings import for_service
from tests.support.waiting import until

__all__ = ["orders_stub", "shop"]  # fixtures

Stub = orders_pb2_grpc.OrderServiceStub


def test_a_call_while_the_database_is_unreachable_is_unavailable_to_retry() -> None:
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    with (
        running(server.build(for_service("orders", unreachable)), ready=False) as target,
        grpc.insecure_channel(target) as channel,
        pytest.raises(grpc.RpcError) as failed,
    ):
        Stub(channel).ListProducts(
            pb.ListProductsRequest(), metadata=as_customer(1), timeout=10, wait_for_ready=True
        )

    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert reason(failed.value) == "DATABASE_UNAVAILABLE"
    assert "127.0.0.1" not in (failed.value.details() or ""), "no connection details leak"


def test_a_call_waiting_on_a_lock_gives_up_at_its_deadline_and_changes_nothing(
    orders_stub: Stub, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    cart_id = cart_with(orders_stub, shop.customer_id, {shop.widget: 1})
    with data.cart_locked(sessions, cart_id):
        with pytest.raises(grpc.RpcError) as failed:
            orders_stub.CreateOrder(
                pb.CreateOrderRequest(shopping_cart_id=cart_id),
                metadata=as_customer(shop.customer_id),
                timeout=0.5,
            )
        assert failed.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        # The server gives up too, instead of waiting on while the lock is held.
        until(
            lambda: data.lock_waits(sessions, "orders") == 0,
            within=5,
            what="Orders stops waiting for the cart lock",
        )

    cart = orders_stub.GetCart(
        pb.GetCartRequest(cart_id=cart_id), metadata=as_customer(shop.customer_id)
    ).cart
    assert cart.state == pb.CART_STATE_OPEN, "the timed-out order was rolled back"
