"""Shipments as order alerts read and write them, in Core SQL: every
order's first alert reads its shipments (none yet) and creates one per
warehouse, so this path is a statement to read and one to write, for one
alert or a relay's batch of them, with no ORM objects to build and flush.
The rarer changes (an order updated or cancelled after its shipments were
planned) keep the ORM (repository.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.orm import Session

from shipping import tables
from shipping.domain.shipment import Existing, ShipmentState, new_tracking_number


@dataclass(frozen=True)
class ShipmentRecord:
    """A shipment as callers see it."""

    shipment_id: int
    order_id: int
    customer_id: int
    warehouse_id: int
    state: ShipmentState
    tracking_number: str
    version: int
    # product id -> units
    items: Mapping[int, int]
    create_time: datetime
    update_time: datetime

    @property
    def etag(self) -> str:
        return f"{self.shipment_id}-{self.version}"

    @property
    def existing(self) -> Existing:
        return Existing(self.shipment_id, self.warehouse_id, self.state, self.items)


# Only alerts change a shipment's items, and they hold the order's advisory
# lock; so the items read here, with the rows' locks, are current.
_OF_ORDERS = text(
    """
    SELECT s.id, s.order_id, s.customer_id, s.warehouse_id, s.state, s.tracking_number,
           s.version, s.create_time, s.update_time,
           (SELECT coalesce(json_agg(json_build_array(i.product_id, i.quantity)), '[]')
              FROM shipment_items i WHERE i.shipment_id = s.id) AS items
      FROM shipments s
     WHERE s.order_id = ANY(CAST(:order_ids AS bigint[]))
     ORDER BY s.id
       FOR UPDATE OF s
    """
)

_CREATE = text(
    """
    WITH created AS (
        INSERT INTO shipments (order_id, customer_id, warehouse_id, state, tracking_number,
                               version)
        SELECT n.order_id, n.customer_id, n.warehouse_id, :state, n.tracking_number, 1
          FROM unnest(CAST(:order_ids AS bigint[]), CAST(:customer_ids AS bigint[]),
                      CAST(:warehouse_ids AS bigint[]), CAST(:tracking_numbers AS text[]))
               AS n (order_id, customer_id, warehouse_id, tracking_number)
        RETURNING id, order_id, customer_id, warehouse_id, state, tracking_number, version,
                  create_time, update_time
    ), items AS (
        INSERT INTO shipment_items (shipment_id, product_id, quantity)
        SELECT c.id, i.product_id, i.quantity
          FROM created c
          JOIN unnest(CAST(:item_orders AS bigint[]), CAST(:item_warehouses AS bigint[]),
                      CAST(:item_products AS bigint[]), CAST(:item_units AS integer[]))
               AS i (order_id, warehouse_id, product_id, quantity)
            ON i.order_id = c.order_id AND i.warehouse_id = c.warehouse_id
    )
    SELECT * FROM created ORDER BY id
    """
)


def shipments_of(session: Session, order_ids: Sequence[int]) -> dict[int, list[ShipmentRecord]]:
    """Each order's shipments, locked, oldest first (orders without any are
    left out); one statement."""
    found: dict[int, list[ShipmentRecord]] = {}
    for row in session.execute(_OF_ORDERS, {"order_ids": list(order_ids)}):
        found.setdefault(row.order_id, []).append(_record(row, dict(row.items)))
    return found


@dataclass(frozen=True)
class NewShipments:
    """The shipments to create for one order: warehouse id -> product id -> units."""

    order_id: int
    customer_id: int
    wanted: Mapping[int, Mapping[int, int]]


def create(session: Session, orders: Sequence[NewShipments]) -> list[ShipmentRecord]:
    """A new shipment, label created, for each order's each warehouse; one
    statement."""
    shipments = [(o, w) for o in orders for w in sorted(o.wanted)]
    items = [(o, w, p, n) for o, w in shipments for p, n in sorted(o.wanted[w].items())]
    wanted = {(o.order_id, w): o.wanted[w] for o, w in shipments}
    rows = session.execute(
        _CREATE,
        {
            "state": ShipmentState.LABEL_CREATED.value,
            "order_ids": [o.order_id for o, _ in shipments],
            "customer_ids": [o.customer_id for o, _ in shipments],
            "warehouse_ids": [w for _, w in shipments],
            "tracking_numbers": [new_tracking_number() for _ in shipments],
            "item_orders": [o.order_id for o, _, _, _ in items],
            "item_warehouses": [w for _, w, _, _ in items],
            "item_products": [p for _, _, p, _ in items],
            "item_units": [n for _, _, _, n in items],
        },
    )
    return [_record(row, dict(wanted[row.order_id, row.warehouse_id])) for row in rows]


def from_row(row: tables.Shipment) -> ShipmentRecord:
    """A shipment the ORM paths loaded."""
    return _record(row, {item.product_id: item.quantity for item in row.items})


def _record(row: tables.Shipment | Row[Any], items: Mapping[int, int]) -> ShipmentRecord:
    return ShipmentRecord(
        shipment_id=row.id,
        order_id=row.order_id,
        customer_id=row.customer_id,
        warehouse_id=row.warehouse_id,
        state=ShipmentState(row.state),
        tracking_number=row.tracking_number,
        version=row.version,
        items=items,
        create_time=row.create_time,
        update_time=row.update_time,
    )
