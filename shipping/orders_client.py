"""Reading an order from Orders, as the plain values a reconcile needs.

Orders is the source of truth for what an order ships; an alert only says
"look again". The stub comes over meshkit's internal channel, so the call is
retried on UNAVAILABLE and bounded by what is left of the incoming deadline.
"""

from __future__ import annotations

import logging
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
            code = error.code()  # type: ignore[attr-defined]
            if code is grpc.StatusCode.NOT_FOUND:
                return None
            log.warning(
                "cannot read order from Orders",
                extra={"order_id": order_id, "code": code.name, "detail": error.details()},  # type: ignore[attr-defined]
            )
            raise errors.unavailable(
                "ORDERS_UNAVAILABLE",
                f"cannot read order {order_id} from Orders right now; try again shortly",
                order_id=order_id,
            ) from None
        order = reply.order
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
