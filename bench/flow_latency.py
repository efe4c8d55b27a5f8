"""How long after CreateOrder returns do the order's shipment and its
confirmation exist? Starts its own mesh (three real processes on an
embedded PostgreSQL in a temporary folder), places ORDERS orders one after
another and prints percentiles. Run with `make bench`.

Loopback only, bounded: ORDERS orders (default 50), each waited for at most
10 seconds.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import grpc

from meshkit.db import make_engine, make_sessions
from shopctl import database, secrets
from shopmesh.notifications.v1 import notifications_pb2 as npb
from shopmesh.notifications.v1 import notifications_pb2_grpc
from shopmesh.orders.v1 import orders_pb2 as opb
from shopmesh.orders.v1 import orders_pb2_grpc
from shopmesh.shipping.v1 import shipping_pb2 as spb
from shopmesh.shipping.v1 import shipping_pb2_grpc
from tests.support import data, keys
from tests.support.ports import free_port
from tests.support.processes import service_process
from tests.support.rpc import as_customer, as_role

ORDERS = int(os.environ.get("ORDERS", "50"))


def percentiles(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return f"median {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms   max {ms[-1]:7.1f} ms"


def wait_for(probe: Callable[[], bool], limit: float = 10.0) -> float:
    """Poll (every 2 ms, to resolve the latency) until `probe` holds."""
    started = time.perf_counter()
    while not probe():
        if time.perf_counter() - started > limit:
            raise TimeoutError("effect did not appear")
        time.sleep(0.002)
    return time.perf_counter()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="shopmesh-bench-") as scratch, ExitStack() as stack:
        os.chmod(scratch, 0o755)  # the embedded server runs as its own user
        keys.use(secrets.ensure(Path(scratch) / "secrets"))
        url = database.embedded_url(Path(scratch) / "pg", "bench")
        engine = make_engine(url, application_name="bench")
        database.upgrade(engine)
        with make_sessions(engine).begin() as s:
            customer = data.customer(s, "berlin")
            item = data.product(s, 990)
            data.stock(s, data.warehouse(s, "leipzig"), item, ORDERS * 2)
            customer_id, product_id = customer.id, item.id
        engine.dispose()

        ports = {name: free_port() for name in ("orders", "shipping", "notifications")}
        env = {
            "DATABASE_URL": url,
            "LOG_LEVEL": "WARNING",
            **keys.service_env(),
            **{f"{n.upper()}_TARGET": f"127.0.0.1:{p}" for n, p in ports.items()},
        }
        targets = {
            name: stack.enter_context(service_process(name, env, port=port)).target
            for name, port in ports.items()
        }
        orders = orders_pb2_grpc.OrderServiceStub(grpc.insecure_channel(targets["orders"]))
        shipping = shipping_pb2_grpc.ShippingServiceStub(grpc.insecure_channel(targets["shipping"]))
        notifications = notifications_pb2_grpc.NotificationServiceStub(
            grpc.insecure_channel(targets["notifications"])
        )
        me = as_customer(customer_id)
        ops = as_role("ops")

        def has_shipment(order_id: int) -> bool:
            request = spb.ListShipmentsRequest(order_id=order_id)
            return bool(shipping.ListShipments(request, metadata=ops).shipments)

        def has_confirmation(order_id: int) -> bool:
            request = npb.ListNotificationsRequest(customer_id=customer_id, page_size=10)
            return any(
                n.order_id == order_id and "confirmed" in n.message
                for n in notifications.ListNotifications(request, metadata=ops).notifications
            )

        created, shipped, notified = [], [], []
        for _ in range(ORDERS):
            cart = orders.CreateCart(opb.CreateCartRequest(), metadata=me).cart
            orders.AddCartItem(
                opb.AddCartItemRequest(cart_id=cart.cart_id, product_id=product_id, quantity=1),
                metadata=me,
            )
            start = time.perf_counter()
            # With a deadline, as every well-behaved client (and the edge) calls.
            order = orders.CreateOrder(
                opb.CreateOrderRequest(shopping_cart_id=cart.cart_id), metadata=me, timeout=5
            ).order
            returned = time.perf_counter()
            created.append(returned - start)
            shipped.append(wait_for(partial(has_shipment, order.order_id)) - returned)
            notified.append(wait_for(partial(has_confirmation, order.order_id)) - returned)
        print(f"{ORDERS} orders, one at a time, three services on loopback")
        print(f"CreateOrder round trip      {percentiles(created)}")
        print(f"shipment exists after       {percentiles(shipped)}")
        print(f"confirmation exists after   {percentiles(notified)}")


if __name__ == "__main__":
    main()
