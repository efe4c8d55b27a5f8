"""Rows -> messages of the shipping.v1 contract, and back for states."""

from __future__ import annotations

from meshkit.wire import timestamp
from shipping import handlers, tables
from shipping.domain.shipment import ShipmentState
from shopmesh.shipping.v1 import shipping_pb2 as pb

STATES = {
    ShipmentState.LABEL_CREATED: pb.SHIPMENT_STATE_LABEL_CREATED,
    ShipmentState.IN_TRANSIT: pb.SHIPMENT_STATE_IN_TRANSIT,
    ShipmentState.DELIVERED: pb.SHIPMENT_STATE_DELIVERED,
    ShipmentState.CANCELLED: pb.SHIPMENT_STATE_CANCELLED,
}
STATE_NAMES = {code: state for state, code in STATES.items()}


def shipment(row: tables.Shipment) -> pb.Shipment:
    return pb.Shipment(
        shipment_id=row.id,
        order_id=row.order_id,
        customer_id=row.customer_id,
        warehouse_id=row.warehouse_id,
        state=STATES[ShipmentState(row.state)],
        items=[pb.ShipmentItem(product_id=i.product_id, quantity=i.quantity) for i in row.items],
        tracking_number=row.tracking_number,
        etag=handlers.etag(row),
        create_time=timestamp(row.create_time),
        update_time=timestamp(row.update_time),
    )
