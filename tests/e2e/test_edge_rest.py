"""Every seed route with the seed's exact bodies, and every /v1 route, as an
external REST client sees them: HTTPS through Envoy, JSON in and out."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.e2e.edge_fixtures import edge, http
from tests.support import data
from tests.support.rpc import edge_token
from tests.support.waiting import until

__all__ = ["edge", "http"]


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
def shop(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions.begin() as s:
        customer = data.customer(s, "berlin")
        mug, lamp = data.product(s, 1290), data.product(s, 3900)
        leipzig, munich = data.warehouse(s, "leipzig"), data.warehouse(s, "munich")
        data.stock(s, leipzig, mug, 10)
        data.stock(s, munich, lamp, 10)
        return {"customer": customer.id, "mug": mug.id, "lamp": lamp.id}


def test_a_customer_shops_through_the_v1_routes(http: httpx.Client, shop: dict[str, int]) -> None:
    me = auth(edge_token(customer_id=shop["customer"]))

    products = http.get("/v1/products", params={"page_size": 100}, headers=me)
    assert products.status_code == 200
    assert products.headers["content-type"].startswith("application/json")
    assert str(shop["mug"]) in {p["product_id"] for p in products.json()["products"]}

    cart = http.post("/v1/carts", json={}, headers=me).json()["cart"]
    cart_id = cart["cart_id"]
    for product in ("mug", "lamp"):
        added = http.post(
            f"/v1/carts/{cart_id}/items",
            json={"product_id": shop[product], "quantity": 2},
            headers=me,
        )
        assert added.status_code == 200, added.text
    removed = http.delete(f"/v1/carts/{cart_id}/items/{shop['lamp']}", headers=me)
    assert [i["product_id"] for i in removed.json()["cart"]["items"]] == [str(shop["mug"])]
    assert http.get(f"/v1/carts/{cart_id}", headers=me).json()["cart"]["total"] == {
        "amount_minor": "2580",
        "currency_code": "EUR",
    }

    created = http.post(
        "/v1/orders", json={"shopping_cart_id": cart_id, "request_id": "rest-1"}, headers=me
    )
    assert created.status_code == 200, created.text
    order = created.json()["order"]
    assert order["state"] == "ORDER_STATE_CONFIRMED"
    order_id = order["order_id"]

    fetched = http.get(f"/v1/orders/{order_id}", headers=me).json()["order"]
    assert fetched["order_id"] == order_id
    listed = http.get("/v1/orders", params={"page_size": 5}, headers=me).json()["orders"]
    assert order_id in [o["order_id"] for o in listed]

    patched = http.patch(
        f"/v1/orders/{order_id}",
        params={"update_mask": "lines"},
        json={"etag": fetched["etag"], "lines": [{"product_id": shop["mug"], "quantity": 1}]},
        headers=me,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["order"]["lines"][0]["quantity"] == 1

    cancelled = http.delete(f"/v1/orders/{order_id}", headers=me)
    assert cancelled.json()["order"]["state"] == "ORDER_STATE_CANCELLED"


def test_the_seed_routes_work_as_first_written(http: httpx.Client, shop: dict[str, int]) -> None:
    me = auth(edge_token(customer_id=shop["customer"]))
    ops = auth(edge_token(role="ops"))
    cart_id = http.post("/v1/carts", json={}, headers=me).json()["cart"]["cart_id"]
    http.post(
        f"/v1/carts/{cart_id}/items", json={"product_id": shop["mug"], "quantity": 1}, headers=me
    )

    # POST /orders/request {"shopping_cart_id": 1}
    created = http.post("/orders/request", json={"shopping_cart_id": int(cart_id)}, headers=me)
    assert created.status_code == 200, created.text
    order_id = int(created.json()["order"]["order_id"])

    # GET /orders
    orders = http.get("/orders", headers=me)
    assert orders.status_code == 200
    assert str(order_id) in [o["order_id"] for o in orders.json()["orders"]]

    # POST /api/shipping/receive {"order_id": 1, "customer_id": 1}
    alerted = http.post(
        "/api/shipping/receive",
        json={"order_id": order_id, "customer_id": shop["customer"]},
        headers=ops,
    )
    assert alerted.status_code == 200, alerted.text
    assert len(alerted.json()["shipments"]) == 1

    # POST /notifications/send {"customer_id": 1, "message": "Order completed"}
    sent = http.post(
        "/notifications/send",
        json={"customer_id": shop["customer"], "message": "Order completed"},
        headers=ops,
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["notification"]["message"] == "Order completed"


def test_staff_follow_shipments_and_notifications_through_the_v1_routes(
    http: httpx.Client, shop: dict[str, int]
) -> None:
    me = auth(edge_token(customer_id=shop["customer"]))
    ops = auth(edge_token(role="ops"))
    cart_id = http.post("/v1/carts", json={}, headers=me).json()["cart"]["cart_id"]
    http.post(
        f"/v1/carts/{cart_id}/items", json={"product_id": shop["lamp"], "quantity": 1}, headers=me
    )
    order_id = http.post("/v1/orders", json={"shopping_cart_id": cart_id}, headers=me).json()[
        "order"
    ]["order_id"]

    alerted = http.post(
        "/v1/shipping/alerts",
        json={"order_id": order_id, "customer_id": shop["customer"]},
        headers=ops,
    )
    assert alerted.status_code == 200, alerted.text
    shipments = http.get("/v1/shipments", params={"order_id": order_id}, headers=ops).json()
    [shipment] = shipments["shipments"]
    one = http.get(f"/v1/shipments/{shipment['shipment_id']}", headers=me).json()["shipment"]
    assert one["state"] == "SHIPMENT_STATE_LABEL_CREATED"

    moved = http.patch(
        f"/v1/shipments/{shipment['shipment_id']}",
        json={"state": "SHIPMENT_STATE_IN_TRANSIT"},
        headers=ops,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["shipment"]["state"] == "SHIPMENT_STATE_IN_TRANSIT"

    posted = http.post(
        "/v1/notifications",
        json={"customer_id": shop["customer"], "message": "Hello", "request_id": "rest-n-1"},
        headers=ops,
    )
    assert posted.status_code == 200, posted.text
    mine = until(
        lambda: http.get(f"/v1/customers/{shop['customer']}/notifications", headers=me).json()[
            "notifications"
        ],
        within=10,
        what="the customer's notifications",
    )
    assert "Hello" in [n["message"] for n in mine]


def test_a_customer_follows_their_notifications_live_over_rest(
    http: httpx.Client, shop: dict[str, int]
) -> None:
    me = auth(edge_token(customer_id=shop["customer"]))
    ops = auth(edge_token(role="ops"))
    url = f"/v1/customers/{shop['customer']}/notifications:watch"
    with http.stream("GET", url, headers=me, timeout=15) as stream:
        assert stream.status_code == 200
        # The stream's headers arrive once the service follows the customer,
        # so this message is sent after the watch began.
        sent = http.post(
            "/v1/notifications",
            json={"customer_id": shop["customer"], "message": "Live from the edge"},
            headers=ops,
        )
        assert sent.status_code == 200, sent.text
        received = ""
        for chunk in stream.iter_text():
            received += chunk
            if "Live from the edge" in received:
                break
    assert '"message":"Live from the edge"' in received
