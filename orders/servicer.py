"""OrderService over gRPC: check the request, call the handler, answer."""

from __future__ import annotations

from typing import Any

from meshkit import outbox, principal
from meshkit.errors import Violations
from meshkit.principal import Role
from orders import convert
from orders.domain.lifecycle import Progress
from orders.handlers import MAX_UNITS_PER_LINE, OrderHandlers
from shopmesh.orders.v1 import orders_pb2 as pb
from shopmesh.orders.v1 import orders_pb2_grpc

MAX_REQUEST_ID = 64
UPDATABLE = frozenset({"lines", "shipping_address"})


class OrderServicer(orders_pb2_grpc.OrderServiceServicer):
    def __init__(self, handlers: OrderHandlers) -> None:
        self._handlers = handlers

    def ListProducts(self, request: pb.ListProductsRequest, context: Any) -> Any:
        page = self._handlers.list_products(request.page_size, request.page_token)
        return pb.ListProductsResponse(
            products=[convert.product(p) for p in page.items], next_page_token=page.next_token
        )

    def CreateCart(self, request: pb.CreateCartRequest, context: Any) -> Any:
        check = Violations()
        check.require(request.customer_id >= 0, "customer_id", "must not be negative")
        check.raise_if_any()
        cart = self._handlers.create_cart(principal.current(), request.customer_id)
        return pb.CreateCartResponse(cart=convert.cart(cart))

    def GetCart(self, request: pb.GetCartRequest, context: Any) -> Any:
        _require_id(request.cart_id, "cart_id")
        cart = self._handlers.get_cart(principal.current(), request.cart_id)
        return pb.GetCartResponse(cart=convert.cart(cart))

    def AddCartItem(self, request: pb.AddCartItemRequest, context: Any) -> Any:
        check = Violations()
        check.require(request.cart_id > 0, "cart_id", "must be a positive id")
        check.require(request.product_id > 0, "product_id", "must be a positive id")
        check.require(
            0 < request.quantity <= MAX_UNITS_PER_LINE,
            "quantity",
            f"must be between 1 and {MAX_UNITS_PER_LINE}",
        )
        check.raise_if_any()
        cart = self._handlers.add_cart_item(
            principal.current(), request.cart_id, request.product_id, request.quantity
        )
        return pb.AddCartItemResponse(cart=convert.cart(cart))

    def RemoveCartItem(self, request: pb.RemoveCartItemRequest, context: Any) -> Any:
        check = Violations()
        check.require(request.cart_id > 0, "cart_id", "must be a positive id")
        check.require(request.product_id > 0, "product_id", "must be a positive id")
        check.raise_if_any()
        cart = self._handlers.remove_cart_item(
            principal.current(), request.cart_id, request.product_id
        )
        return pb.RemoveCartItemResponse(cart=convert.cart(cart))

    def CreateOrder(self, request: pb.CreateOrderRequest, context: Any) -> Any:
        check = Violations()
        check.require(request.shopping_cart_id > 0, "shopping_cart_id", "must be a positive id")
        check.require(
            len(request.request_id) <= MAX_REQUEST_ID,
            "request_id",
            f"at most {MAX_REQUEST_ID} characters",
        )
        if request.HasField("shipping_address"):
            _check_address(check, request.shipping_address, "shipping_address")
        check.raise_if_any()
        address = (
            convert.address_input(request.shipping_address)
            if request.HasField("shipping_address")
            else None
        )
        order = self._handlers.create_order(
            principal.current(), request.shopping_cart_id, request.request_id, address
        )
        return pb.CreateOrderResponse(order=convert.order(order))

    def GetOrder(self, request: pb.GetOrderRequest, context: Any) -> Any:
        _require_id(request.order_id, "order_id")
        order = self._handlers.get_order(principal.current(), request.order_id)
        return pb.GetOrderResponse(order=convert.order(order))

    def ListOrders(self, request: pb.ListOrdersRequest, context: Any) -> Any:
        check = Violations()
        check.require(request.customer_id >= 0, "customer_id", "must not be negative")
        check.require(
            request.state == pb.ORDER_STATE_UNSPECIFIED
            or request.state in convert.ORDER_STATE_NAMES,
            "state",
            "unknown order state",
        )
        check.raise_if_any()
        state = convert.ORDER_STATE_NAMES.get(request.state)
        page = self._handlers.list_orders(
            principal.current(),
            request.customer_id,
            state.value if state else None,
            request.page_size,
            request.page_token,
        )
        return pb.ListOrdersResponse(
            orders=[convert.order(o) for o in page.items], next_page_token=page.next_token
        )

    def UpdateOrder(self, request: pb.UpdateOrderRequest, context: Any) -> Any:
        order = request.order
        paths = set(request.update_mask.paths) or {
            name for name in UPDATABLE if _is_set(order, name)
        }
        check = Violations()
        check.require(order.order_id > 0, "order.order_id", "must be a positive id")
        check.require(paths <= UPDATABLE, "update_mask", f"only {sorted(UPDATABLE)} can be updated")
        check.require(bool(paths), "update_mask", "nothing to update")
        seen: set[int] = set()
        for i, line in enumerate(order.lines if "lines" in paths else ()):
            check.require(line.product_id > 0, f"order.lines[{i}].product_id", "must be positive")
            check.require(
                line.product_id not in seen, f"order.lines[{i}].product_id", "listed twice"
            )
            check.require(
                0 <= line.quantity <= MAX_UNITS_PER_LINE,
                f"order.lines[{i}].quantity",
                f"must be between 0 (remove) and {MAX_UNITS_PER_LINE}",
            )
            seen.add(line.product_id)
        if "shipping_address" in paths:
            _check_address(check, order.shipping_address, "order.shipping_address")
        check.raise_if_any()
        updated = self._handlers.update_order(
            principal.current(),
            order.order_id,
            order.etag,
            {line.product_id: line.quantity for line in order.lines} if "lines" in paths else None,
            convert.address_input(order.shipping_address) if "shipping_address" in paths else None,
        )
        return pb.UpdateOrderResponse(order=convert.order(updated))

    def DeleteOrder(self, request: pb.DeleteOrderRequest, context: Any) -> Any:
        _require_id(request.order_id, "order_id")
        order = self._handlers.cancel_order(principal.current(), request.order_id, request.etag)
        return pb.DeleteOrderResponse(order=convert.order(order))

    def RecordShipmentProgress(
        self, request: pb.RecordShipmentProgressRequest, context: Any
    ) -> Any:
        principal.current().require(Role.SERVICE, Role.OPS)
        check = Violations()
        report = _checked_report(check, request)
        check.raise_if_any()
        assert report is not None
        order = self._handlers.record_shipment_progress(*report)
        return pb.RecordShipmentProgressResponse(order=convert.order(order))

    def BatchRecordShipmentProgress(
        self, request: pb.BatchRecordShipmentProgressRequest, context: Any
    ) -> Any:
        principal.current().require(Role.SERVICE)
        check = Violations()
        reports = [
            _checked_report(check, one, at)
            for at, one in check.entries("requests", request.requests, outbox.MAX_BATCH)
        ]
        check.raise_if_any()
        orders = self._handlers.record_shipment_progress_many([r for r in reports if r])
        return pb.BatchRecordShipmentProgressResponse(orders=[convert.order(o) for o in orders])

    def BatchGetOrders(self, request: pb.BatchGetOrdersRequest, context: Any) -> Any:
        principal.current().require(Role.SERVICE)
        check = Violations()
        for at, order_id in check.entries("order_ids", request.order_ids, outbox.MAX_BATCH):
            check.require(order_id > 0, at.rstrip("."), "must be a positive id")
        check.raise_if_any()
        orders = self._handlers.get_orders(list(request.order_ids))
        return pb.BatchGetOrdersResponse(orders=[convert.order(o) for o in orders])


def _checked_report(
    check: Violations, request: pb.RecordShipmentProgressRequest, at: str = ""
) -> tuple[int, int, Progress] | None:
    """(order id, shipment id, progress); problems are noted in `check`
    under field paths prefixed with `at` (None if the progress is unknown)."""
    check.require(request.order_id > 0, f"{at}order_id", "must be a positive id")
    check.require(request.shipment_id > 0, f"{at}shipment_id", "must be a positive id")
    progress = convert.PROGRESS.get(request.progress)
    check.require(progress is not None, f"{at}progress", "unknown progress")
    return None if progress is None else (request.order_id, request.shipment_id, progress)


def _require_id(value: int, field: str) -> None:
    check = Violations()
    check.require(value > 0, field, "must be a positive id")
    check.raise_if_any()


def _is_set(order: pb.Order, name: str) -> bool:
    return bool(order.lines) if name == "lines" else order.HasField(name)


def _check_address(check: Violations, address: pb.Address, prefix: str) -> None:
    for name in ("recipient", "line1", "city", "postal_code"):
        value = getattr(address, name).strip()
        check.require(0 < len(value) <= 200, f"{prefix}.{name}", "required, at most 200 characters")
    check.require(
        len(address.country_code) == 2 and address.country_code.isalpha(),
        f"{prefix}.country_code",
        "an ISO 3166-1 alpha-2 code such as DE",
    )
    check.require(-90 <= address.latitude <= 90, f"{prefix}.latitude", "between -90 and 90")
    check.require(-180 <= address.longitude <= 180, f"{prefix}.longitude", "between -180 and 180")
