"""Carts and orders as the paths every order takes read and write them
(CreateOrder, GetOrder, shipment progress), in a few SQL round trips each:
one statement reads what a decision needs, one data-modifying statement
writes everything it changes.

SQLAlchemy's ORM spent most of these calls' CPU loading rows into objects and
flushing them one by one (its own advice for hot paths: Core statements with
RETURNING and one statement for many rows). Rows map to orders.domain
aggregates here; the rarely used paths in repository.py keep the ORM.

Why some reads are split in two: a row lock waited on (FOR UPDATE) makes
PostgreSQL re-read the locked row, but not the rest of the statement, which
still sees the data from before the wait. What is read after locking a row
is therefore read by the next statement.

Stock is read without locks and taken by the writing statement only where
enough is still there (`available >= units`), locking its rows in
(warehouse, product) order so that concurrent orders queue rather than
deadlock. Its rows are thus locked for one statement and the commit, not
while the order is decided: under load, orders for the same products no
longer queue behind each other's Python. When stock moved between the read
and the write, nothing is written (StockMoved) and the caller decides again
on locked rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, RowMapping, text
from sqlalchemy.orm import Session

from meshkit import db, outbox
from orders.domain.allocation import Point, WarehouseStock
from orders.domain.lifecycle import OrderState, Progress
from orders.domain.money import Money
from orders.domain.order import Address, Allocation, Cart, CartItem, CartState, Line, Order

ADDRESS = ("recipient", "line1", "city", "postal_code", "country_code", "latitude", "longitude")


@dataclass(frozen=True)
class CartToOrder:
    cart: Cart
    customer_address: Address
    # The order this customer already placed with the same request id.
    retried_order_id: int | None
    # The id the new order will have (taken from its sequence up front, so
    # that the events written with it can name it).
    next_order_id: int


_LOCK_CART = text(
    """
    SELECT c.id, c.customer_id, c.state, c.order_id,
           cu.recipient, cu.line1, cu.city, cu.postal_code, cu.country_code,
           cu.latitude, cu.longitude,
           (SELECT o.id FROM orders o
             WHERE o.customer_id = :caller AND o.request_id = :request_id) AS retried,
           nextval(pg_get_serial_sequence('orders', 'id')) AS next_order_id
      FROM carts c JOIN customers cu ON cu.id = c.customer_id
     WHERE c.id = :cart_id
       FOR UPDATE OF c
    """
)


class StockMoved(Exception):
    """Another order took units this one had planned on since it read them."""


# Read after the cart is locked, so that they are the items as of that lock.
_ITEMS_AND_STOCK = """
    WITH items AS (
        SELECT i.product_id, i.quantity, p.sku, p.name, p.price_minor, p.currency_code
          FROM cart_items i JOIN products p ON p.id = i.product_id
         WHERE i.cart_id = :cart_id
    ), stocked AS (
        SELECT s.warehouse_id, s.product_id, s.available, w.name, w.latitude, w.longitude
          FROM stock s JOIN warehouses w ON w.id = s.warehouse_id
         WHERE s.product_id IN (SELECT product_id FROM items)
         ORDER BY s.warehouse_id, s.product_id
          {lock}
    )
    SELECT (SELECT coalesce(json_agg(json_build_array(
                product_id, quantity, sku, name, price_minor, currency_code)
                ORDER BY product_id), '[]') FROM items),
           (SELECT coalesce(json_agg(json_build_array(
                warehouse_id, product_id, available, name, latitude, longitude)), '[]')
              FROM stocked)
"""
_ITEMS_AND_STOCK_AS_IS = text(_ITEMS_AND_STOCK.format(lock=""))
# In (warehouse, product) order, so that concurrent orders queue rather than
# deadlock.
_ITEMS_AND_LOCKED_STOCK = text(_ITEMS_AND_STOCK.format(lock="FOR UPDATE OF s"))

_PLACE = text(
    """
    WITH taken AS (
        -- The subquery locks the rows in its order before any is updated.
        UPDATE stock s SET available = s.available - t.units
          FROM (SELECT k.warehouse_id, k.product_id, w.units
                  FROM stock k
                  JOIN unnest(CAST(:warehouse_ids AS bigint[]), CAST(:product_ids AS bigint[]),
                              CAST(:units AS integer[])) AS w (warehouse_id, product_id, units)
                    ON k.warehouse_id = w.warehouse_id AND k.product_id = w.product_id
                 ORDER BY k.warehouse_id, k.product_id
                   FOR UPDATE OF k) AS t
         WHERE s.warehouse_id = t.warehouse_id AND s.product_id = t.product_id
           AND s.available >= t.units
        RETURNING 1
    ), placed AS (
        INSERT INTO orders (id, customer_id, cart_id, request_id, state, currency_code,
                            total_minor, version, recipient, line1, city, postal_code,
                            country_code, latitude, longitude)
        VALUES (:order_id, :customer_id, :cart_id, :request_id, :state, :currency_code,
                :total_minor, :version, :recipient, :line1, :city, :postal_code,
                :country_code, :latitude, :longitude)
        RETURNING create_time, update_time
    ), lines AS (
        INSERT INTO order_lines (order_id, product_id, sku, name, quantity, unit_price_minor)
        SELECT :order_id, * FROM unnest(
            CAST(:line_products AS bigint[]), CAST(:line_skus AS text[]),
            CAST(:line_names AS text[]), CAST(:line_units AS integer[]),
            CAST(:line_prices AS bigint[]))
    ), allocated AS (
        INSERT INTO order_allocations (order_id, warehouse_id, product_id, quantity)
        SELECT :order_id, * FROM unnest(
            CAST(:warehouse_ids AS bigint[]), CAST(:product_ids AS bigint[]),
            CAST(:units AS integer[]))
    ), closed AS (
        UPDATE carts SET state = 'ordered', order_id = :order_id, update_time = now()
         WHERE id = :cart_id
    ), queued AS (
        INSERT INTO orders_outbox (event_id, topic, payload, request_id, attempts)
        SELECT *, 0 FROM unnest(CAST(:event_ids AS uuid[]), CAST(:topics AS text[]),
                             CAST(:payloads AS bytea[]), CAST(:request_ids AS text[]))
    )
    SELECT create_time, update_time, (SELECT count(*) FROM taken) AS taken FROM placed
    """
)

_ORDER_COLUMNS = """
    o.id, o.customer_id, o.cart_id, o.request_id, o.state, o.currency_code, o.total_minor,
    o.version, o.recipient, o.line1, o.city, o.postal_code, o.country_code, o.latitude,
    o.longitude, o.create_time, o.update_time
"""
_ORDER_PARTS = """
    (SELECT coalesce(json_agg(json_build_array(
         l.product_id, l.sku, l.name, l.quantity, l.unit_price_minor)
         ORDER BY l.product_id), '[]')
       FROM order_lines l WHERE l.order_id = o.id) AS lines,
    (SELECT coalesce(json_agg(json_build_array(a.warehouse_id, w.name, a.product_id, a.quantity)
         ORDER BY a.warehouse_id, a.product_id), '[]')
       FROM order_allocations a JOIN warehouses w ON w.id = a.warehouse_id
      WHERE a.order_id = o.id) AS allocations,
    (SELECT coalesce(json_agg(json_build_array(s.shipment_id, s.progress)), '[]')
       FROM order_shipments s WHERE s.order_id = o.id) AS shipments
"""
_ORDERS_SQL = (
    f"SELECT {_ORDER_COLUMNS}, {_ORDER_PARTS} FROM orders o"
    " WHERE o.id = ANY(CAST(:order_ids AS bigint[]))"
)
_ORDERS = text(_ORDERS_SQL)
_ORDERS_BOUNDED = db.bounded(_ORDERS_SQL)
# In id order, so that transactions locking several orders never deadlock.
_LOCK_ORDERS = text(
    f"SELECT {_ORDER_COLUMNS} FROM orders o WHERE o.id = ANY(CAST(:order_ids AS bigint[]))"
    " ORDER BY o.id FOR UPDATE OF o"
)
_ORDER_PARTS_ONLY = text(
    f"SELECT o.id, {_ORDER_PARTS} FROM orders o WHERE o.id = ANY(CAST(:order_ids AS bigint[]))"
)

_RECORD_PROGRESS = text(
    """
    WITH progress AS (
        INSERT INTO order_shipments (order_id, shipment_id, progress)
        VALUES (:order_id, :shipment_id, :progress)
        ON CONFLICT (order_id, shipment_id) DO UPDATE SET progress = EXCLUDED.progress
    ), changed AS (
        UPDATE orders SET state = :state, version = :version, update_time = now()
         WHERE id = :order_id AND version <> :version
        RETURNING update_time
    ), queued AS (
        INSERT INTO orders_outbox (event_id, topic, payload, request_id, attempts)
        SELECT *, 0 FROM unnest(CAST(:event_ids AS uuid[]), CAST(:topics AS text[]),
                             CAST(:payloads AS bytea[]), CAST(:request_ids AS text[]))
    )
    SELECT update_time FROM changed
    """
)


def lock_cart(
    session: Session, cart_id: int, *, caller_customer_id: int | None, request_id: str
) -> CartToOrder | None:
    """Lock the cart; with a customer's request id, also find the order a
    first attempt already placed. The cart's items are read by `lock_stock`."""
    row = (
        session.execute(
            _LOCK_CART,
            {"cart_id": cart_id, "caller": caller_customer_id, "request_id": request_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    cart = Cart(row["id"], row["customer_id"], CartState(row["state"]), row["order_id"], [])
    return CartToOrder(
        cart, Address(*(row[name] for name in ADDRESS)), row["retried"], row["next_order_id"]
    )


def read_items_and_stock(
    session: Session, cart: Cart, *, lock: bool = False
) -> tuple[list[WarehouseStock], dict[int, str]]:
    """Fill in the locked cart's items and read (with `lock`, lock) the
    stock of its products: the warehouses holding them, and their names."""
    statement = _ITEMS_AND_LOCKED_STOCK if lock else _ITEMS_AND_STOCK_AS_IS
    items, stock = session.execute(statement, {"cart_id": cart.cart_id}).one()
    cart.items = [
        CartItem(product_id, quantity, sku, name, Money(price, currency))
        for product_id, quantity, sku, name, price, currency in items
    ]
    available: dict[int, dict[int, int]] = {}
    places: dict[int, tuple[str, Point]] = {}
    for warehouse_id, product_id, units, name, latitude, longitude in stock:
        available.setdefault(warehouse_id, {})[product_id] = units
        places[warehouse_id] = (name, Point(latitude, longitude))
    warehouses = [
        WarehouseStock(w, places[w][1], products) for w, products in sorted(available.items())
    ]
    return warehouses, {w: name for w, (name, _) in places.items()}


def insert_order(
    session: Session, order: Order, events: Sequence[outbox.Entry]
) -> tuple[datetime, datetime]:
    """Write a placed order in one statement: take its units from stock,
    insert it with its lines and allocations, close its cart and queue its
    events. Returns its create and update times; raises StockMoved (and the
    transaction must be rolled back) when some units were no longer there."""
    row = session.execute(
        _PLACE,
        {
            "order_id": order.order_id,
            "customer_id": order.customer_id,
            "cart_id": order.cart_id,
            "request_id": order.request_id or None,
            "state": order.state.value,
            "currency_code": order.currency_code,
            "total_minor": order.total_minor,
            "version": order.version,
            **{name: getattr(order.address, name) for name in ADDRESS},
            "warehouse_ids": [a.warehouse_id for a in order.allocations],
            "product_ids": [a.product_id for a in order.allocations],
            "units": [a.quantity for a in order.allocations],
            "line_products": [line.product_id for line in order.lines],
            "line_skus": [line.sku for line in order.lines],
            "line_names": [line.name for line in order.lines],
            "line_units": [line.quantity for line in order.lines],
            "line_prices": [line.unit_price_minor for line in order.lines],
            **outbox.columns(events),
        },
    ).one()
    if row.taken != len(order.allocations):
        raise StockMoved(f"order {order.order_id}")
    return row.create_time, row.update_time


def order(session: Session, order_id: int) -> Order | None:
    """The order with its lines, allocations and shipments, in one statement."""
    return orders(session, [order_id]).get(order_id)


def orders(session: Session, order_ids: Sequence[int]) -> dict[int, Order]:
    """The orders found, by id, with their parts; one statement."""
    rows = session.execute(_ORDERS, {"order_ids": list(order_ids)}).mappings()
    return {row["id"]: _order(row, row) for row in rows}


def read_orders(connection: Connection, order_ids: Sequence[int]) -> dict[int, Order]:
    """As `orders`, outside any transaction (db.reading): one round trip."""
    parameters = {"order_ids": list(order_ids), "statement_timeout_ms": db.statement_timeout_ms()}
    rows = connection.execute(_ORDERS_BOUNDED, parameters).mappings()
    return {row["id"]: _order(row, row) for row in rows}


def lock_order(session: Session, order_id: int) -> Order | None:
    return lock_orders(session, [order_id]).get(order_id)


def lock_orders(session: Session, order_ids: Sequence[int]) -> dict[int, Order]:
    """Lock the orders found, then read their parts as they are once they
    are ours; two statements."""
    ids = sorted(set(order_ids))
    locked = session.execute(_LOCK_ORDERS, {"order_ids": ids}).mappings().all()
    if not locked:
        return {}
    parts = {
        row["id"]: row for row in session.execute(_ORDER_PARTS_ONLY, {"order_ids": ids}).mappings()
    }
    return {row["id"]: _order(row, parts[row["id"]]) for row in locked}


def save_progress(
    session: Session, order: Order, shipment_id: int, events: Sequence[outbox.Entry]
) -> None:
    """Write a shipment's progress, the order's state if it changed (its
    version then differs from the row's), and the events it caused."""
    changed = session.execute(
        _RECORD_PROGRESS,
        {
            "order_id": order.order_id,
            "shipment_id": shipment_id,
            "progress": order.shipments[shipment_id].value,
            "state": order.state.value,
            "version": order.version,
            **outbox.columns(events),
        },
    ).first()
    if changed is not None:
        order.update_time = changed.update_time


def _order(row: RowMapping, parts: RowMapping) -> Order:
    return Order(
        order_id=row["id"],
        customer_id=row["customer_id"],
        cart_id=row["cart_id"],
        request_id=row["request_id"] or "",
        state=OrderState(row["state"]),
        currency_code=row["currency_code"],
        total_minor=row["total_minor"],
        version=row["version"],
        address=Address(*(row[name] for name in ADDRESS)),
        lines=[Line(*values) for values in parts["lines"]],
        allocations=[Allocation(*values) for values in parts["allocations"]],
        shipments={shipment: Progress(progress) for shipment, progress in parts["shipments"]},
        create_time=row["create_time"],
        update_time=row["update_time"],
    )
