"""The calls the bench makes, as a customer's client makes them: a bearer
token, a request id on every CreateOrder, a deadline on every call."""

from __future__ import annotations

import asyncio
import json
import ssl
import uuid
from collections.abc import Sequence
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.data import Carts, Catalogue
from bench.load import Call, CallFailed
from shopmesh.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from shopmesh.orders.v1 import orders_pb2 as pb
from shopmesh.orders.v1 import orders_pb2_grpc
from tests.support.rpc import Metadata, as_customer

DEADLINE = 5.0
GET_ORDER = "/shopmesh.orders.v1.OrderService/GetOrder"

# Client-side round robin over every address of the target, as the services
# balance over each other (meshkit/channels.py).
_ROUND_ROBIN = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})


def channel(target: str) -> grpc.aio.Channel:
    """Create inside the event loop that will use it."""
    return grpc.aio.insecure_channel(target, options=[("grpc.service_config", _ROUND_ROBIN)])


async def warm_up(channel: grpc.aio.Channel, instances: int) -> None:
    """Connect to every instance before the clock starts (health checks cost
    the servers next to nothing)."""
    health = health_pb2_grpc.HealthStub(channel)
    for _ in range(4 * instances):
        await health.Check(health_pb2.HealthCheckRequest(), wait_for_ready=True, timeout=10)


class CustomerTokens:
    """One edge token per bench customer, signed once."""

    def __init__(self, catalogue: Catalogue) -> None:
        self._catalogue = catalogue
        self._metadata = {
            customer_id: as_customer(customer_id)
            for customer_id in range(
                catalogue.first_customer, catalogue.first_customer + catalogue.customers
            )
        }

    def of_cart(self, index: int) -> Metadata:
        """The token of the customer owning cart `index` of a batch."""
        return self._metadata[self._catalogue.customer_of(index)]


def create_orders(channel: grpc.aio.Channel, carts: Carts, tokens: CustomerTokens) -> Call:
    """Call i orders cart i of `carts`, with a fresh request id."""
    stub = orders_pb2_grpc.OrderServiceStub(channel)

    async def create(index: int) -> None:
        await stub.CreateOrder(
            _create_request(carts.first + index), metadata=tokens.of_cart(index), timeout=DEADLINE
        )

    return create


async def place_order(channel: grpc.aio.Channel, cart_id: int, token: Metadata) -> int:
    """Order one cart; the new order's id."""
    stub = orders_pb2_grpc.OrderServiceStub(channel)
    reply = await stub.CreateOrder(_create_request(cart_id), metadata=token, timeout=DEADLINE)
    return int(reply.order.order_id)


def _create_request(cart_id: int) -> pb.CreateOrderRequest:
    return pb.CreateOrderRequest(shopping_cart_id=cart_id, request_id=uuid.uuid4().hex)


def get_order(channel: grpc.aio.Channel, order_id: int, token: Metadata) -> Call:
    """Every call reads the same order (so its reply is the same bytes)."""
    stub = orders_pb2_grpc.OrderServiceStub(channel)
    request = pb.GetOrderRequest(order_id=order_id)

    async def get(_: int) -> None:
        await stub.GetOrder(request, metadata=token, timeout=DEADLINE)

    return get


async def get_order_bytes(channel: grpc.aio.Channel, order_id: int, token: Metadata) -> bytes:
    """GetOrder's reply exactly as the server serialized it."""
    raw = channel.unary_unary(
        GET_ORDER,
        request_serializer=pb.GetOrderRequest.SerializeToString,
        response_deserializer=None,
    )
    reply = await raw(pb.GetOrderRequest(order_id=order_id), metadata=token, timeout=DEADLINE)
    assert isinstance(reply, bytes)
    return reply


def rest_clients(base_url: str, ca_file: Path, count: int) -> list[httpx.AsyncClient]:
    """HTTPS clients of the edge as REST clients call it: HTTP/1.1, trusting
    the edge's CA, each with one connection kept alive between calls. One
    connection a client, not one pool of `count`: httpcore polls every
    connection of its pool on every request (encode/httpcore#924), a cost
    of the client that grows with the pool and is no part of the edge's."""
    return [
        httpx.AsyncClient(
            base_url=base_url,
            verify=ssl.create_default_context(cafile=str(ca_file)),
            timeout=DEADLINE,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        for _ in range(count)
    ]


def rest_get_order(clients: Sequence[httpx.AsyncClient], order_id: int, token: Metadata) -> Call:
    """GET /v1/orders/{order_id} (GetOrder's REST binding), the same order
    every time, each call on a client no other call is using (give as many
    as there are callers). The JSON body is read but not parsed: the figure
    is about the edge, and the client's own CPU is reported apart
    (bench/rest.py)."""
    path = f"/v1/orders/{order_id}"
    headers = dict(token)
    idle: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
    for client in clients:
        idle.put_nowait(client)

    async def get(_: int) -> None:
        client = await idle.get()
        try:
            reply = await client.get(path, headers=headers)
        except httpx.HTTPError as error:
            raise CallFailed(type(error).__name__) from error
        finally:
            idle.put_nowait(client)
        if reply.status_code != httpx.codes.OK:
            raise CallFailed(f"HTTP {reply.status_code}")

    return get


def health_check(channel: grpc.aio.Channel, deadline: float) -> Call:
    """The gRPC health check of the whole server, as Envoy sends it."""
    stub = health_pb2_grpc.HealthStub(channel)
    request = health_pb2.HealthCheckRequest()

    async def check(_: int) -> None:
        await stub.Check(request, timeout=deadline)

    return check


def list_notifications(
    channel: grpc.aio.Channel, customer_id: int, token: Metadata, deadline: float
) -> Call:
    """The first page of a customer's notifications, as that customer."""
    stub = notifications_pb2_grpc.NotificationServiceStub(channel)
    request = notifications_pb2.ListNotificationsRequest(customer_id=customer_id)

    async def list_page(_: int) -> None:
        await stub.ListNotifications(request, metadata=token, timeout=deadline)

    return list_page
