"""Stand-ins for Orders and Notifications, served by real gRPC servers on
loopback, so that a service can be tested against its peers' contracts
without their code or tables."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc

from meshkit import auth
from meshkit.errors import AppError
from shopmesh.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from shopmesh.orders.v1 import orders_pb2, orders_pb2_grpc
from tests.support import keys
from tests.support.ports import free_port


@dataclass(frozen=True)
class Received:
    request: Any
    # Who the caller's token says it is (`service:shipping`), or why it was refused.
    caller: str


def _caller(context: Any) -> str:
    """Verified as a real service would, with the test session's keys."""
    authorization = dict(context.invocation_metadata()).get(auth.AUTHORIZATION_KEY)
    try:
        return keys.verifier().principal(authorization).label
    except AppError as refused:
        return f"refused: {refused.message}"


class FakeOrders(orders_pb2_grpc.OrderServiceServicer):
    """GetOrder and BatchGetOrders answer from `orders`; progress reports,
    alone or in batches, are recorded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._orders: dict[int, orders_pb2.Order] = {}
        self._down: set[int] = set()
        self._progress: list[Received] = []

    def put(self, order: orders_pb2.Order) -> None:
        with self._lock:
            self._orders[order.order_id] = order

    def fail_with_unavailable(self, order_id: int) -> None:
        """GetOrder for this order answers UNAVAILABLE, as a restarting Orders would."""
        with self._lock:
            self._down.add(order_id)

    def progress(self, order_id: int) -> list[Received]:
        with self._lock:
            return [r for r in self._progress if r.request.order_id == order_id]

    def GetOrder(self, request: orders_pb2.GetOrderRequest, context: Any) -> Any:
        with self._lock:
            down = request.order_id in self._down
            order = self._orders.get(request.order_id)
        if down:
            context.abort(grpc.StatusCode.UNAVAILABLE, "orders is restarting")
        if order is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"order {request.order_id} not found")
        return orders_pb2.GetOrderResponse(order=order)

    def BatchGetOrders(self, request: orders_pb2.BatchGetOrdersRequest, context: Any) -> Any:
        with self._lock:
            down = any(order_id in self._down for order_id in request.order_ids)
            orders = [self._orders.get(order_id) for order_id in request.order_ids]
        if down:
            context.abort(grpc.StatusCode.UNAVAILABLE, "orders is restarting")
        if None in orders:
            context.abort(grpc.StatusCode.NOT_FOUND, "an order was not found")
        return orders_pb2.BatchGetOrdersResponse(orders=orders)

    def RecordShipmentProgress(
        self, request: orders_pb2.RecordShipmentProgressRequest, context: Any
    ) -> Any:
        return orders_pb2.RecordShipmentProgressResponse(
            order=self._record(request, _caller(context))
        )

    def BatchRecordShipmentProgress(
        self, request: orders_pb2.BatchRecordShipmentProgressRequest, context: Any
    ) -> Any:
        caller = _caller(context)
        orders = {one.order_id: self._record(one, caller) for one in request.requests}
        return orders_pb2.BatchRecordShipmentProgressResponse(orders=orders.values())

    def _record(
        self, request: orders_pb2.RecordShipmentProgressRequest, caller: str
    ) -> orders_pb2.Order:
        with self._lock:
            self._progress.append(Received(request, caller))
            return self._orders.get(request.order_id, orders_pb2.Order())


class FakeNotifications(notifications_pb2_grpc.NotificationServiceServicer):
    """Records every notification sent, alone or in a batch."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: list[Received] = []

    def sent(self, order_id: int) -> list[Received]:
        with self._lock:
            return [r for r in self._sent if r.request.order_id == order_id]

    def SendNotification(
        self, request: notifications_pb2.SendNotificationRequest, context: Any
    ) -> Any:
        return notifications_pb2.SendNotificationResponse(
            notification=self._store(request, _caller(context))
        )

    def BatchSendNotifications(
        self, request: notifications_pb2.BatchSendNotificationsRequest, context: Any
    ) -> Any:
        caller = _caller(context)
        return notifications_pb2.BatchSendNotificationsResponse(
            notifications=[self._store(one, caller) for one in request.requests]
        )

    def _store(
        self, request: notifications_pb2.SendNotificationRequest, caller: str
    ) -> notifications_pb2.Notification:
        with self._lock:
            self._sent.append(Received(request, caller))
            number = len(self._sent)
        return notifications_pb2.Notification(
            notification_id=number,
            customer_id=request.customer_id,
            subject=request.subject,
            message=request.message,
            order_id=request.order_id,
        )


@contextmanager
def serving(add: Callable[[grpc.Server], None], *, workers: int = 8) -> Iterator[str]:
    """Serve what `add` registers on a free loopback port; yields the target."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
    add(server)
    port = server.add_insecure_port(f"127.0.0.1:{free_port()}")
    if port == 0:
        raise RuntimeError("could not bind a loopback port for a fake peer")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(0).wait()


@contextmanager
def fake_orders() -> Iterator[tuple[FakeOrders, str]]:
    fake = FakeOrders()
    with serving(lambda s: orders_pb2_grpc.add_OrderServiceServicer_to_server(fake, s)) as target:
        yield fake, target


@contextmanager
def fake_notifications() -> Iterator[tuple[FakeNotifications, str]]:
    fake = FakeNotifications()
    with serving(
        lambda s: notifications_pb2_grpc.add_NotificationServiceServicer_to_server(fake, s)
    ) as target:
        yield fake, target
