"""Queries Shipping runs, in SQLAlchemy 2.0 style. Rows stay ORM objects; the
decisions are made by shipping.domain on plain values built from them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from shipping import tables


def lock_orders(session: Session, order_ids: Sequence[int]) -> None:
    """Serialize everything Shipping does to these orders' shipments until the
    transaction ends; one statement. The keys are namespaced, because every
    service shares the database and so the advisory lock space. Taken in id
    order, so that two transactions locking several orders never deadlock."""
    session.execute(
        _LOCK_ORDERS, {"order_ids": sorted(set(order_ids)), "namespace": "shipping.order:"}
    )


_LOCK_ORDERS = text(
    """
    SELECT count(pg_advisory_xact_lock(hashtextextended(:namespace || id, 0)))
      FROM (SELECT id FROM unnest(CAST(:order_ids AS bigint[])) AS id ORDER BY id
            OFFSET 0) AS ordered
    """
)


def shipments_of(session: Session, order_id: int, *, lock: bool = False) -> list[tables.Shipment]:
    query = select(tables.Shipment).where(tables.Shipment.order_id == order_id)
    if lock:
        query = query.with_for_update(of=tables.Shipment)
    return list(session.scalars(query.order_by(tables.Shipment.id)))


def get(session: Session, shipment_id: int, *, lock: bool = False) -> tables.Shipment | None:
    query = select(tables.Shipment).where(tables.Shipment.id == shipment_id)
    if lock:
        query = query.with_for_update(of=tables.Shipment)
    return session.scalar(query)


def page(
    session: Session,
    *,
    customer_id: int | None,
    order_id: int | None,
    after: int | None,
    size: int,
) -> Sequence[tables.Shipment]:
    """In id order; one row more than `size` when there is a next page."""
    query = select(tables.Shipment).order_by(tables.Shipment.id).limit(size + 1)
    if customer_id is not None:
        query = query.where(tables.Shipment.customer_id == customer_id)
    if order_id is not None:
        query = query.where(tables.Shipment.order_id == order_id)
    if after is not None:
        query = query.where(tables.Shipment.id > after)
    return session.scalars(query).all()


def set_items(row: tables.Shipment, items: dict[int, int]) -> None:
    """Change the rows in place: replacing them would delete and insert the same
    (shipment, product) keys in one flush."""
    current = {item.product_id: item for item in row.items}
    for product_id, item in current.items():
        if product_id not in items:
            row.items.remove(item)
    for product_id, quantity in sorted(items.items()):
        if product_id in current:
            current[product_id].quantity = quantity
        else:
            row.items.append(tables.ShipmentItem(product_id=product_id, quantity=quantity))
