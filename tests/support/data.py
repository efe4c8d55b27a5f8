"""Test data written straight to the database, each piece unique to its test.

Places: tests use real coordinates so warehouse distances mean something.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from orders import tables

PLACES = {
    "berlin": ("Berlin", 52.5200, 13.4050),
    "munich": ("Munich", 48.1351, 11.5820),
    "hamburg": ("Hamburg", 53.5511, 9.9937),
    "cologne": ("Cologne", 50.9375, 6.9603),
    "leipzig": ("Leipzig", 51.3397, 12.3731),
}

_counter = itertools.count(1)


def ref(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def customer(session: Session, place: str = "berlin") -> tables.Customer:
    city, lat, lon = PLACES[place]
    row = tables.Customer(
        name=ref("Customer"),
        email=f"{ref('c')}@example.test",
        phone="+49 30 0000",
        recipient="Test Customer",
        line1=f"Teststrasse {next(_counter)}",
        city=city,
        postal_code="10115",
        country_code="DE",
        latitude=lat,
        longitude=lon,
    )
    session.add(row)
    session.flush()
    return row


def product(session: Session, price_minor: int = 1999, currency: str = "EUR") -> tables.Product:
    row = tables.Product(
        sku=ref("SKU"), name=ref("Product"), price_minor=price_minor, currency_code=currency
    )
    session.add(row)
    session.flush()
    return row


def warehouse(session: Session, place: str) -> tables.Warehouse:
    city, lat, lon = PLACES[place]
    row = tables.Warehouse(
        code=ref("WH"), name=f"{city} {ref('warehouse')}", city=city, latitude=lat, longitude=lon
    )
    session.add(row)
    session.flush()
    return row


def stock(
    session: Session, warehouse: tables.Warehouse, product: tables.Product, units: int
) -> None:
    session.merge(tables.Stock(warehouse_id=warehouse.id, product_id=product.id, available=units))
    session.flush()


def available(sessions: sessionmaker[Session], warehouse_id: int, product_id: int) -> int:
    with sessions() as session:
        row = session.get(tables.Stock, (warehouse_id, product_id))
        return row.available if row else 0


@contextmanager
def cart_locked(sessions: sessionmaker[Session], cart_id: int) -> Iterator[None]:
    """Hold the cart's row lock for the block, as a concurrent order would."""
    with sessions.begin() as holder:
        holder.execute(text("SELECT 1 FROM carts WHERE id = :id FOR UPDATE"), {"id": cart_id})
        yield


def lock_waits(sessions: sessionmaker[Session], application: str) -> int:
    """How many of `application`'s database sessions wait for a lock now."""
    with sessions() as session:
        return (
            session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE application_name = :application AND wait_event_type = 'Lock'"
                ),
                {"application": application},
            )
            or 0
        )
