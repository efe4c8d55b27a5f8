"""Queries of Orders' less travelled paths (carts, listing, updating and
cancelling orders), with the ORM, in SQLAlchemy 2.0 style. The decisions
are made by orders.domain on plain values built from the rows; the paths
every order takes are in orders/store.py."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from orders import tables
from orders.domain.allocation import Point, WarehouseStock
from orders.domain.lifecycle import OrderState, Progress
from orders.domain.order import Address, Allocation, Line, Order


def order_by_request(session: Session, customer_id: int, request_id: str) -> tables.Order | None:
    return session.scalar(
        select(tables.Order).where(
            tables.Order.customer_id == customer_id, tables.Order.request_id == request_id
        )
    )


def lock_order(session: Session, order_id: int) -> tables.Order | None:
    return session.scalar(
        select(tables.Order).where(tables.Order.id == order_id).with_for_update(of=tables.Order)
    )


def lock_stock(
    session: Session, product_ids: Iterable[int]
) -> tuple[list[WarehouseStock], dict[int, tables.Warehouse]]:
    """Lock every stock row of these products, always in (warehouse, product)
    order so that concurrent orders queue up instead of deadlocking."""
    rows = session.execute(
        select(tables.Stock, tables.Warehouse)
        .join(tables.Warehouse, tables.Warehouse.id == tables.Stock.warehouse_id)
        .where(tables.Stock.product_id.in_(sorted(set(product_ids))))
        .order_by(tables.Stock.warehouse_id, tables.Stock.product_id)
        .with_for_update(of=tables.Stock)
    ).all()
    by_warehouse: dict[int, tuple[tables.Warehouse, dict[int, int]]] = {}
    for stock, warehouse in rows:
        by_warehouse.setdefault(warehouse.id, (warehouse, {}))[1][stock.product_id] = (
            stock.available
        )
    warehouses = [
        WarehouseStock(w.id, Point(w.latitude, w.longitude), available)
        for w, available in by_warehouse.values()
    ]
    return warehouses, {w.id: w for w, _ in by_warehouse.values()}


def adjust_stock(session: Session, deltas: dict[tuple[int, int], int]) -> None:
    """Add `delta` units to each (warehouse, product): one batched statement."""
    changes = [
        {"w": warehouse_id, "p": product_id, "delta": delta}
        for (warehouse_id, product_id), delta in sorted(deltas.items())
        if delta
    ]
    if changes:
        session.connection().execute(
            update(tables.Stock)
            .where(
                tables.Stock.warehouse_id == bindparam("w"),
                tables.Stock.product_id == bindparam("p"),
            )
            .values(available=tables.Stock.available + bindparam("delta")),
            changes,
        )


def page_of_products(session: Session, after: int | None, size: int) -> Sequence[tables.Product]:
    query = select(tables.Product).order_by(tables.Product.id).limit(size + 1)
    if after is not None:
        query = query.where(tables.Product.id > after)
    return session.scalars(query).all()


def page_of_orders(
    session: Session, *, customer_id: int | None, state: str | None, before: int | None, size: int
) -> Sequence[tables.Order]:
    """Newest first; `before` is the last id of the previous page."""
    query = select(tables.Order).order_by(tables.Order.id.desc()).limit(size + 1)
    if customer_id is not None:
        query = query.where(tables.Order.customer_id == customer_id)
    if state is not None:
        query = query.where(tables.Order.state == state)
    if before is not None:
        query = query.where(tables.Order.id < before)
    return session.scalars(query).all()


def to_domain(row: tables.Order, address: Address) -> Order:
    return Order(
        order_id=row.id,
        customer_id=row.customer_id,
        cart_id=row.cart_id,
        request_id=row.request_id or "",
        state=OrderState(row.state),
        currency_code=row.currency_code,
        total_minor=row.total_minor,
        version=row.version,
        address=address,
        lines=[
            Line(line.product_id, line.sku, line.name, line.quantity, line.unit_price_minor)
            for line in row.lines
        ],
        allocations=[
            Allocation(a.warehouse_id, a.warehouse.name, a.product_id, a.quantity)
            for a in row.allocations
        ],
        shipments={s.shipment_id: Progress(s.progress) for s in row.shipments},
        create_time=row.create_time,
        update_time=row.update_time,
    )
