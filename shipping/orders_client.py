"""Reading an order from Orders, as the plain values a reconcile needs.

Orders is the source of truth for what an order ships; an alert only says
"look again". The stub comes over meshkit's internal channel, so the call is
retried on UNAVAILABLE and bounded by what is left of the incoming deadline.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from meshkit import errors
from shipping.domain.shipment import merge
from shopmesh.orders.v1 import orders_pb2, orders_pb2_grpc

log = logging.getLogger("shipping.orders")


@dataclass(frozen=True)
class OrderSnapshot:
    order_id: int
    customer_id: int
    cancelled: bool
    # warehouse id -> product id -> units
    fulfillments: dict[int, dict[int, int]]


class OrdersClient:
    def __init__(self, stub: orders_pb2_grpc.OrderServiceStub) -> None:
        self._stub = stub

    def get(self, order_id: int) -> OrderSnapshot | None:
        """The order as Orders has it now; None if Orders does not know it.

        Any other failure is UNAVAILABLE `ORDERS_UNAVAILABLE`: the caller (in
        practice Orders' outbox relay) retries the alert later."""
        try:
            reply = self._stub.GetOrder(orders_pb2.GetOrderRequest(order_id=order_id))
        except grpc.RpcError as error:
            if error.code() is grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
                return None
            raise _unavailable(error, [order_id]) from None
        return _snapshot(reply.order)

    def get_many(self, order_ids: Sequence[int]) -> dict[int, OrderSnapshot] | None:
        """The orders as Orders has them now, with one call; None if Orders
        does not know one of them. Fails as `get` does."""
        try:
            reply = self._stub.BatchGetOrders(orders_pb2.BatchGetOrdersRequest(order_ids=order_ids))
        except grpc.RpcError as error:
            if error.code() is grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
                return None
            raise _unavailable(error, order_ids) from None
        return {order.order_id: _snapshot(order) for order in reply.orders}


def _unavailable(error: grpc.RpcError, order_ids: Sequence[int]) -> errors.AppError:
    code = error.code()  # type: ignore[attr-defined]
    log.warning(
        "cannot read orders from Orders",
        extra={"order_ids": list(order_ids), "code": code.name, "detail": error.details()},  # type: ignore[attr-defined]
    )
    if len(order_ids) == 1:
        return errors.unavailable(
            "ORDERS_UNAVAILABLE",
            f"cannot read order {order_ids[0]} from Orders right now; try again shortly",
            order_id=order_ids[0],
        )
    return errors.unavailable(
        "ORDERS_UNAVAILABLE",
        f"cannot read {len(order_ids)} orders from Orders right now; try again shortly",
    )


def _snapshot(order: orders_pb2.Order) -> OrderSnapshot:
    return OrderSnapshot(
        order_id=order.order_id,
        customer_id=order.customer_id,
        cancelled=order.state == orders_pb2.ORDER_STATE_CANCELLED,
        fulfillments=merge(
            (f.warehouse_id, item.product_id, item.quantity)
            for f in order.fulfillments
            for item in f.items
        ),
    )
