"""ShippingService over gRPC: check the caller and the request, call the
handler, answer."""

from __future__ import annotations

from typing import Any

from meshkit import outbox, paging, principal
from meshkit.errors import Violations
from meshkit.principal import Role
from shipping import convert
from shipping.handlers import ShippingHandlers
from shopmesh.shipping.v1 import shipping_pb2 as pb
from shopmesh.shipping.v1 import shipping_pb2_grpc

UPDATABLE = frozenset({"state"})
MAX_ETAG = 64


class ShippingServicer(shipping_pb2_grpc.ShippingServiceServicer):
    def __init__(self, handlers: ShippingHandlers) -> None:
        self._handlers = handlers

    def ReceiveOrderAlert(self, request: pb.ReceiveOrderAlertRequest, context: Any) -> Any:
        principal.current().require(Role.OPS, Role.SERVICE)
        check = Violations()
        alert = _checked_alert(check, request)
        check.raise_if_any()
        rows = self._handlers.receive_order_alert(*alert)
        return pb.ReceiveOrderAlertResponse(shipments=[convert.shipment(r) for r in rows])

    def BatchReceiveOrderAlerts(
        self, request: pb.BatchReceiveOrderAlertsRequest, context: Any
    ) -> Any:
        principal.current().require(Role.SERVICE)
        check = Violations()
        alerts = [
            _checked_alert(check, one, at)
            for at, one in check.entries("requests", request.requests, outbox.MAX_BATCH)
        ]
        check.raise_if_any()
        applied = self._handlers.receive_order_alerts(alerts)
        return pb.BatchReceiveOrderAlertsResponse(
            responses=[
                pb.ReceiveOrderAlertResponse(shipments=[convert.shipment(r) for r in rows])
                for rows in applied
            ]
        )

    def GetShipment(self, request: pb.GetShipmentRequest, context: Any) -> Any:
        check = Violations()
        check.require(request.shipment_id > 0, "shipment_id", "must be a positive id")
        check.raise_if_any()
        row = self._handlers.get_shipment(principal.current(), request.shipment_id)
        return pb.GetShipmentResponse(shipment=convert.shipment(row))

    def ListShipments(self, request: pb.ListShipmentsRequest, context: Any) -> Any:
        check = Violations()
        check.require(request.page_size >= 0, "page_size", "must not be negative")
        check.require(request.order_id >= 0, "order_id", "must not be negative")
        check.raise_if_any()
        page = self._handlers.list_shipments(
            principal.current(),
            request.order_id or None,
            paging.page_size(request.page_size),
            paging.decode(request.page_token),
        )
        return pb.ListShipmentsResponse(
            shipments=[convert.shipment(r) for r in page.items], next_page_token=page.next_token
        )

    def UpdateShipment(self, request: pb.UpdateShipmentRequest, context: Any) -> Any:
        principal.current().require(Role.OPS, Role.SERVICE)
        shipment = request.shipment
        paths = set(request.update_mask.paths) or UPDATABLE
        check = Violations()
        check.require(shipment.shipment_id > 0, "shipment.shipment_id", "must be a positive id")
        check.require(paths <= UPDATABLE, "update_mask", "only `state` can be updated")
        check.require(
            shipment.state in convert.STATE_NAMES,
            "shipment.state",
            "must be LABEL_CREATED, IN_TRANSIT, DELIVERED or CANCELLED",
        )
        check.require(len(shipment.etag) <= MAX_ETAG, "shipment.etag", "not an etag we issued")
        check.raise_if_any()
        row = self._handlers.update_state(
            shipment.shipment_id, convert.STATE_NAMES[shipment.state], shipment.etag
        )
        return pb.UpdateShipmentResponse(shipment=convert.shipment(row))


def _checked_alert(
    check: Violations, request: pb.ReceiveOrderAlertRequest, at: str = ""
) -> tuple[int, int]:
    """(order id, customer id); problems are noted in `check` under field
    paths prefixed with `at`."""
    check.require(request.order_id > 0, f"{at}order_id", "must be a positive id")
    check.require(request.customer_id > 0, f"{at}customer_id", "must be a positive id")
    return request.order_id, request.customer_id
