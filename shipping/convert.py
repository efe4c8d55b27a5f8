"""Rows -> messages of the shipping.v1 contract, and back for states."""

from __future__ import annotations

from meshkit.wire import timestamp
from shipping.domain.shipment import ShipmentState
from shipping.store import ShipmentRecord
from shopmesh.shipping.v1 import shipping_pb2 as pb

STATES = {
    ShipmentState.LABEL_CREATED: pb.SHIPMENT_STATE_LABEL_CREATED,
    ShipmentState.IN_TRANSIT: pb.SHIPMENT_STATE_IN_TRANSIT,
    ShipmentState.DELIVERED: pb.SHIPMENT_STATE_DELIVERED,
    ShipmentState.CANCELLED: pb.SHIPMENT_STATE_CANCELLED,
}
STATE_NAMES = {code: state for state, code in STATES.items()}


def shipment(value: ShipmentRecord) -> pb.Shipment:
    return pb.Shipment(
        shipment_id=value.shipment_id,
        order_id=value.order_id,
        customer_id=value.customer_id,
        warehouse_id=value.warehouse_id,
        state=STATES[value.state],
        items=[
            pb.ShipmentItem(product_id=product_id, quantity=quantity)
            for product_id, quantity in sorted(value.items.items())
        ],
        tracking_number=value.tracking_number,
        etag=value.etag,
        create_time=timestamp(value.create_time),
        update_time=timestamp(value.update_time),
    )
