"""Who may call a service, checked on a real Orders server on its own port
(no edge in front): only a verified bearer token names the caller."""

from __future__ import annotations

import logging
import time

import grpc
import pytest

from meshkit import auth
from shopctl import tokens
from shopmesh.orders.v1 import orders_pb2 as pb
from shopmesh.orders.v1 import orders_pb2_grpc
from tests.integration.orders_fixtures import Shop, cart_with, orders_stub, shop
from tests.support import keys
from tests.support.rpc import (
    as_customer,
    as_service,
    bearer,
    edge_token,
    foreign_edge_token,
    reason,
)

__all__ = ["orders_stub", "shop"]  # fixtures

Stub = orders_pb2_grpc.OrderServiceStub


def refused(stub: Stub, metadata: tuple[tuple[str, str], ...] = ()) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        stub.ListProducts(pb.ListProductsRequest(), metadata=metadata, timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert reason(raised.value) == "UNAUTHENTICATED"
    return raised.value


def edge_claims(**changes: object) -> dict[str, object]:
    claims = tokens.edge_claims(keys.ISSUERS, customer_id=1, now=time.time(), ttl=600)
    return {**claims, **changes}


def place(stub: Stub, shop: Shop) -> pb.Order:
    cart_id = cart_with(stub, shop.customer_id, {shop.gadget: 1})
    request = pb.CreateOrderRequest(shopping_cart_id=cart_id)
    return stub.CreateOrder(request, metadata=as_customer(shop.customer_id), timeout=10).order


def test_the_old_development_header_grants_nothing(orders_stub: Stub) -> None:
    refused(orders_stub, (("x-shopmesh-principal", "role:admin"),))


def test_a_call_without_a_token_is_unauthenticated(orders_stub: Stub) -> None:
    assert "no bearer token" in refused(orders_stub).details()


def test_a_garbled_token_is_unauthenticated(orders_stub: Stub) -> None:
    refused(orders_stub, bearer("not.a.token"))
    refused(orders_stub, (("authorization", "Basic b3BzOm9wcw=="),))


def test_an_expired_token_is_unauthenticated_and_not_echoed(orders_stub: Stub) -> None:
    expired = edge_token(role="admin", ttl=-120)

    error = refused(orders_stub, bearer(expired))

    assert "expired" in error.details()
    assert expired not in error.details()
    assert expired.split(".")[2] not in error.details()


def test_a_token_signed_by_another_key_is_unauthenticated(orders_stub: Stub) -> None:
    assert "signature" in refused(orders_stub, bearer(foreign_edge_token(1))).details()


def test_a_token_for_another_audience_is_unauthenticated(orders_stub: Stub) -> None:
    token = auth.sign(keys.edge_key(), edge_claims(aud="someone-else"))
    assert "audience" in refused(orders_stub, bearer(token)).details()


def test_a_token_from_another_issuer_is_unauthenticated(orders_stub: Stub) -> None:
    token = auth.sign(keys.edge_key(), edge_claims(iss="https://auth.elsewhere.example"))
    assert "issuer" in refused(orders_stub, bearer(token)).details()


def test_the_internal_key_cannot_sign_a_staff_token(orders_stub: Stub) -> None:
    forged = auth.sign(keys.internal_key(), edge_claims(role="admin", customer_id=None))
    refused(orders_stub, bearer(forged))


def test_an_internal_token_names_the_calling_service(
    orders_stub: Stub, shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    order = place(orders_stub, shop)
    request = pb.RecordShipmentProgressRequest(
        order_id=order.order_id, shipment_id=1, progress=pb.SHIPMENT_PROGRESS_LABEL_CREATED
    )

    with caplog.at_level(logging.INFO, logger="meshkit.calls"):
        reply = orders_stub.RecordShipmentProgress(
            request, metadata=as_service("shipping"), timeout=10
        )

    assert reply.order.order_id == order.order_id
    callers = [
        getattr(record, "caller", None)
        for record in caplog.records
        if getattr(record, "method", "").endswith("/RecordShipmentProgress")
    ]
    assert callers == ["service:shipping"]


def test_an_internal_token_with_another_audience_is_unauthenticated(orders_stub: Stub) -> None:
    claims = auth.internal_claims("shipping", keys.ISSUERS, now=time.time(), ttl=60)
    token = auth.sign(keys.internal_key(), {**claims, "aud": "someone-else"})
    refused(orders_stub, bearer(token))


def test_a_customer_token_is_that_customer_whatever_else_the_call_says(
    orders_stub: Stub, shop: Shop
) -> None:
    order = place(orders_stub, shop)
    get = pb.GetOrderRequest(order_id=order.order_id)

    mine = orders_stub.GetOrder(get, metadata=as_customer(shop.customer_id), timeout=10)
    assert mine.order.order_id == order.order_id

    other = (*as_customer(shop.other_customer_id), ("x-shopmesh-principal", "role:admin"))
    with pytest.raises(grpc.RpcError) as theirs:
        orders_stub.GetOrder(get, metadata=other, timeout=10)
    assert theirs.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason(theirs.value) == "ORDER_NOT_FOUND"
