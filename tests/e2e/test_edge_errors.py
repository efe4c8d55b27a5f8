"""What a REST client sees when something is wrong: always the same JSON
shape {"code", "message", "details"} with the right HTTP status, from the
services' errors and from Envoy's own replies alike."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.e2e.edge_fixtures import edge, http
from tests.support import data
from tests.support.edge import EdgeMesh
from tests.support.rpc import edge_token, foreign_edge_token
from tests.support.waiting import until

__all__ = ["edge", "http"]

GRPCURL = str(Path(sys.executable).parent / "grpcurl")


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def assert_error(reply: httpx.Response, status: int, code: int) -> dict:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/json"), reply.headers
    body = reply.json()
    assert set(body) == {"code", "message", "details"}, body
    assert body["code"] == code
    assert "Traceback" not in body["message"] and "SELECT" not in body["message"]
    return body


@pytest.fixture
def customer(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as s:
        return data.customer(s, "hamburg").id


def test_malformed_json_is_400(http: httpx.Client, customer: int) -> None:
    reply = http.post(
        "/orders/request",
        content=b'{"shopping_cart_id": ',
        headers={**auth(edge_token(customer_id=customer)), "content-type": "application/json"},
    )
    assert_error(reply, 400, 3)


def test_a_wrong_type_is_400(http: httpx.Client, customer: int) -> None:
    reply = http.post(
        "/orders/request",
        json={"shopping_cart_id": "one"},
        headers=auth(edge_token(customer_id=customer)),
    )
    assert_error(reply, 400, 3)


def test_a_missing_field_is_400_with_field_violations(http: httpx.Client, customer: int) -> None:
    reply = http.post("/orders/request", json={}, headers=auth(edge_token(customer_id=customer)))
    body = assert_error(reply, 400, 3)
    types = [d["@type"] for d in body["details"]]
    assert "type.googleapis.com/google.rpc.BadRequest" in types


def test_an_unknown_id_is_404_with_its_reason(http: httpx.Client, customer: int) -> None:
    reply = http.get("/v1/orders/987654321", headers=auth(edge_token(customer_id=customer)))
    body = assert_error(reply, 404, 5)
    reasons = [d.get("reason") for d in body["details"]]
    assert "ORDER_NOT_FOUND" in reasons


def test_a_call_stuck_on_a_lock_is_504_and_the_service_stops_waiting(
    http: httpx.Client, customer: int, sessions: sessionmaker[Session]
) -> None:
    me = auth(edge_token(customer_id=customer))
    cart_id = http.post("/v1/carts", json={}, headers=me).json()["cart"]["cart_id"]
    with data.cart_locked(sessions, cart_id):
        reply = http.post("/v1/orders", json={"shopping_cart_id": cart_id}, headers=me)
        assert_error(reply, 504, 4)
        # The edge gave the service a deadline, so it does not wait on.
        until(
            lambda: data.lock_waits(sessions, "orders") == 0,
            within=5,
            what="Orders stops waiting for the cart lock",
        )


def test_another_customers_order_is_404(
    http: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as s:
        owner, other = data.customer(s, "berlin"), data.customer(s, "munich")
        item = data.product(s)
        data.stock(s, data.warehouse(s, "leipzig"), item, 5)
        owner_id, other_id, item_id = owner.id, other.id, item.id
    mine = auth(edge_token(customer_id=owner_id))
    cart = http.post("/v1/carts", json={}, headers=mine).json()["cart"]["cart_id"]
    http.post(f"/v1/carts/{cart}/items", json={"product_id": item_id, "quantity": 1}, headers=mine)
    order_id = http.post("/v1/orders", json={"shopping_cart_id": cart}, headers=mine).json()[
        "order"
    ]["order_id"]

    theirs = http.get(f"/v1/orders/{order_id}", headers=auth(edge_token(customer_id=other_id)))
    assert_error(theirs, 404, 5)


def test_no_token_is_401(http: httpx.Client) -> None:
    assert_error(http.get("/v1/orders"), 401, 16)


def test_a_bad_signature_is_401(http: httpx.Client, customer: int) -> None:
    assert_error(http.get("/v1/orders", headers=auth(foreign_edge_token(customer))), 401, 16)


def test_an_expired_token_is_401(http: httpx.Client, customer: int) -> None:
    expired = edge_token(customer_id=customer, ttl=-120)
    assert_error(http.get("/v1/orders", headers=auth(expired)), 401, 16)


def test_a_customer_cannot_use_staff_routes(http: httpx.Client, customer: int) -> None:
    reply = http.post(
        "/api/shipping/receive",
        json={"order_id": 1, "customer_id": customer},
        headers=auth(edge_token(customer_id=customer)),
    )
    assert_error(reply, 403, 7)


def test_an_unknown_route_is_404(http: httpx.Client, customer: int) -> None:
    reply = http.get("/v1/nothing-here", headers=auth(edge_token(customer_id=customer)))
    assert_error(reply, 404, 5)


def test_an_oversized_body_is_413(http: httpx.Client, edge: EdgeMesh) -> None:
    reply = http.post(
        "/v1/notifications",
        json={"customer_id": 1, "message": "x" * (edge.topology.edge.max_body_bytes + 1)},
        headers=auth(edge_token(role="ops")),
    )
    assert_error(reply, 413, 3)


def test_security_headers_and_no_server_banner(http: httpx.Client) -> None:
    for reply in (http.get("/docs"), http.get("/v1/orders")):
        assert "server" not in reply.headers
        assert reply.headers["strict-transport-security"].startswith("max-age=")
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert reply.headers["x-frame-options"] == "DENY"
        assert reply.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'self'" in reply.headers["content-security-policy"]


def test_plain_http_redirects_to_https(edge: EdgeMesh) -> None:
    reply = httpx.get(f"http://localhost:{edge.topology.edge.http_port}/v1/products")
    assert reply.status_code == 301
    assert (
        reply.headers["location"]
        == f"https://localhost:{edge.topology.edge.https_port}/v1/products"
    )


def test_access_log_is_json_with_the_original_method_and_path(
    http: httpx.Client, edge: EdgeMesh, customer: int
) -> None:
    http.get("/v1/orders/424242", headers=auth(edge_token(customer_id=customer)))
    # Envoy writes its access log in the background.
    entries = until(
        lambda: [e for e in edge.access_log() if e.get("path") == "/v1/orders/424242"],
        within=15,
        what="the access log entry",
    )
    entry = entries[-1]
    assert entry["method"] == "GET" and entry["status"] == 404
    # The transcoder folds the gRPC status into the JSON body; the log derives
    # one from the HTTP status (see docs/errors.md).
    assert isinstance(entry["grpc_status"], int)
    assert entry["request_id"] and isinstance(entry["duration_ms"], int)


def test_grpcurl_through_the_edge(http: httpx.Client, edge: EdgeMesh, customer: int) -> None:
    token = edge_token(customer_id=customer)
    cart_id = http.post("/v1/carts", json={}, headers=auth(token)).json()["cart"]["cart_id"]
    reply = subprocess.run(
        [
            GRPCURL,
            "-insecure",
            "-max-time",
            "10",
            "-H",
            f"authorization: Bearer {token}",
            "-d",
            json.dumps({"cart_id": cart_id}),
            edge.grpc_target,
            "shopmesh.orders.v1.OrderService/GetCart",
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert reply.returncode == 0, reply.stderr
    cart = json.loads(reply.stdout)["cart"]
    assert (cart["cart_id"], cart["customer_id"]) == (cart_id, str(customer))


def test_prometheus_stats_on_the_admin_port(edge: EdgeMesh) -> None:
    stats = edge.admin("/stats/prometheus")
    assert "envoy_cluster_upstream_rq_total" in stats


def test_tls_offers_http2_and_http1(edge: EdgeMesh) -> None:
    def handshake(context: ssl.SSLContext) -> str | None:
        with (
            socket.create_connection(
                ("localhost", edge.topology.edge.https_port), timeout=5
            ) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            return tls.selected_alpn_protocol()

    context = ssl.create_default_context(cafile=str(edge.ca_file))
    context.set_alpn_protocols(["h2", "http/1.1"])
    assert handshake(context) == "h2"
    context.set_alpn_protocols(["http/1.1"])
    assert handshake(context) == "http/1.1"
