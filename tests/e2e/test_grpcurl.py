"""A developer's view: the real grpcurl against running services, with the
seed's own request bodies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from tests.e2e.conftest import Mesh
from tests.support import data
from tests.support.rpc import edge_token
from tests.support.shop import cart_with

GRPCURL = str(Path(sys.executable).parent / "grpcurl")


def grpcurl(
    target: str, *args: str, token: str = "", header: str = "", body: dict | None = None
) -> subprocess.CompletedProcess[str]:
    command = [GRPCURL, "-plaintext", "-max-time", "10"]
    if token:
        command += ["-H", f"authorization: Bearer {token}"]
    if header:
        command += ["-H", header]
    if body is not None:
        command += ["-d", json.dumps(body)]
    return subprocess.run([*command, target, *args], capture_output=True, text=True, timeout=20)


def test_grpcurl_lists_describes_calls_and_checks_health(
    mesh: Mesh, sessions: sessionmaker[Session]
) -> None:
    orders = mesh.processes["orders"].target
    shipping = mesh.processes["shipping"].target
    notifications = mesh.processes["notifications"].target

    listed = grpcurl(orders, "list")
    assert listed.returncode == 0, listed.stderr
    assert {"shopmesh.orders.v1.OrderService", "grpc.health.v1.Health"} <= set(
        listed.stdout.split()
    )

    described = grpcurl(orders, "describe", "shopmesh.orders.v1.OrderService")
    assert "rpc CreateOrder ( .shopmesh.orders.v1.CreateOrderRequest )" in described.stdout

    for target in (orders, shipping, notifications):
        health = grpcurl(target, "grpc.health.v1.Health/Check")
        assert json.loads(health.stdout) == {"status": "SERVING"}

    with sessions.begin() as s:
        customer = data.customer(s, "cologne")
        item = data.product(s, 250)
        data.stock(s, data.warehouse(s, "cologne"), item, 10)
        customer_id, product_id = customer.id, item.id
    cart_id = cart_with(mesh.orders, customer_id, {product_id: 1})

    # POST /orders/request {"shopping_cart_id": 1}
    created = grpcurl(
        orders,
        "shopmesh.orders.v1.OrderService/CreateOrder",
        token=edge_token(customer_id=customer_id),
        body={"shopping_cart_id": cart_id},
    )
    assert created.returncode == 0, created.stderr
    order = json.loads(created.stdout)["order"]
    assert order["state"] == "ORDER_STATE_CONFIRMED"

    # GET /orders
    listed_orders = grpcurl(
        orders,
        "shopmesh.orders.v1.OrderService/ListOrders",
        token=edge_token(customer_id=customer_id),
        body={},
    )
    assert [o["order_id"] for o in json.loads(listed_orders.stdout)["orders"]] == [
        order["order_id"]
    ]

    # POST /api/shipping/receive {"order_id": 1, "customer_id": 1}
    alerted = grpcurl(
        shipping,
        "shopmesh.shipping.v1.ShippingService/ReceiveOrderAlert",
        token=edge_token(role="ops"),
        body={"order_id": int(order["order_id"]), "customer_id": customer_id},
    )
    assert alerted.returncode == 0, alerted.stderr
    assert len(json.loads(alerted.stdout)["shipments"]) == 1

    # POST /notifications/send {"customer_id": 1, "message": "Order completed"}
    sent = grpcurl(
        notifications,
        "shopmesh.notifications.v1.NotificationService/SendNotification",
        token=edge_token(role="ops"),
        body={"customer_id": customer_id, "message": "Order completed"},
    )
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["notification"]["message"] == "Order completed"

    for forged in ("", "x-shopmesh-principal: role:admin"):
        anonymous = grpcurl(
            orders, "shopmesh.orders.v1.OrderService/ListOrders", header=forged, body={}
        )
        assert anonymous.returncode != 0
        assert "Unauthenticated" in anonymous.stderr + anonymous.stdout

    refused = grpcurl(
        orders,
        "shopmesh.orders.v1.OrderService/CreateOrder",
        token=edge_token(customer_id=customer_id),
        body={"shopping_cart_id": 987654321},
    )
    assert refused.returncode != 0
    assert "NotFound" in refused.stderr + refused.stdout
