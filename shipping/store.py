"""Shipments as an order alert reads and writes them, in Core SQL: every
order's first alert reads its shipments (none yet) and creates one per
warehouse, so this path is a statement to read and one to write, with no
ORM objects to build and flush. The rarer changes (an order updated or
cancelled after its shipments were planned) keep the ORM (repository.py).
"""

from __future__ import annotations

from collections.abc import Mapping
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
_OF_ORDER = text(
    """
    SELECT s.id, s.order_id, s.customer_id, s.warehouse_id, s.state, s.tracking_number,
           s.version, s.create_time, s.update_time,
           (SELECT coalesce(json_agg(json_build_array(i.product_id, i.quantity)), '[]')
              FROM shipment_items i WHERE i.shipment_id = s.id) AS items
      FROM shipments s
     WHERE s.order_id = :order_id
     ORDER BY s.id
       FOR UPDATE OF s
    """
)

_CREATE = text(
    """
    WITH created AS (
        INSERT INTO shipments (order_id, customer_id, warehouse_id, state, tracking_number,
                               version)
        SELECT :order_id, :customer_id, n.warehouse_id, :state, n.tracking_number, 1
          FROM unnest(CAST(:warehouse_ids AS bigint[]), CAST(:tracking_numbers AS text[]))
               AS n (warehouse_id, tracking_number)
        RETURNING id, order_id, customer_id, warehouse_id, state, tracking_number, version,
                  create_time, update_time
    ), items AS (
        INSERT INTO shipment_items (shipment_id, product_id, quantity)
        SELECT c.id, i.product_id, i.quantity
          FROM created c
          JOIN unnest(CAST(:item_warehouses AS bigint[]), CAST(:item_products AS bigint[]),
                      CAST(:item_units AS integer[])) AS i (warehouse_id, product_id, quantity)
            ON i.warehouse_id = c.warehouse_id
    )
    SELECT * FROM created ORDER BY id
    """
)


def shipments_of(session: Session, order_id: int) -> list[ShipmentRecord]:
    """The order's shipments, locked, oldest first."""
    return [
        _record(row, dict(row.items)) for row in session.execute(_OF_ORDER, {"order_id": order_id})
    ]


def create(
    session: Session, order_id: int, customer_id: int, wanted: Mapping[int, Mapping[int, int]]
) -> list[ShipmentRecord]:
    """A new shipment, label created, for each warehouse -> items of `wanted`."""
    warehouses = sorted(wanted)
    items = [(w, p, n) for w in warehouses for p, n in sorted(wanted[w].items())]
    rows = session.execute(
        _CREATE,
        {
            "order_id": order_id,
            "customer_id": customer_id,
            "state": ShipmentState.LABEL_CREATED.value,
            "warehouse_ids": warehouses,
            "tracking_numbers": [new_tracking_number() for _ in warehouses],
            "item_warehouses": [w for w, _, _ in items],
            "item_products": [p for _, p, _ in items],
            "item_units": [n for _, _, n in items],
        },
    )
    return [_record(row, dict(wanted[row.warehouse_id])) for row in rows]


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
