"""Demo data: a few customers, a catalogue and three warehouses to order from.

Safe to load on every start. Rows are upserted by their natural key
(customer e-mail, product sku, warehouse code), so editing a row below and
restarting updates it. Stock is only written where a warehouse has no row
for the product yet: a running shop's stock is never reset.

The stock is deliberately uneven so that carts must be split across
warehouses: headphones are only in Frankfurt and keyboards only in Leipzig,
and no warehouse holds more than 3 water bottles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, Table, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from orders.tables import Customer, Product, Stock, Warehouse

CURRENCY = "EUR"
COUNTRY = "DE"

# fmt: off
# Where the places below are: latitude, longitude.
PLACES = {
    "Berlin":    (52.5200, 13.4050),
    "Munich":    (48.1351, 11.5820),
    "Hamburg":   (53.5511,  9.9937),
    "Cologne":   (50.9375,  6.9603),
    "Leipzig":   (51.3397, 12.3731),
    "Frankfurt": (50.1109,  8.6821),
}

CUSTOMERS = (
    # e-mail (the key)    name            phone              street             postcode  city
    ("anna@example.com",  "Anna Schmidt", "+49 30 5550101",  "Torstr. 112",     "10119", "Berlin"),
    ("jonas@example.com", "Jonas Weber",  "+49 89 5550102",  "Leopoldstr. 44",  "80802", "Munich"),
    ("lea@example.com",   "Lea Hoffmann", "+49 40 5550103",  "Osterstr. 17",    "20259", "Hamburg"),
    ("murat@example.com", "Murat Yilmaz", "+49 221 5550104", "Venloer Str. 23", "50823", "Cologne"),
)

PRODUCTS = (
    # sku (the key)  name                                  price in cents
    ("MUG-350",      "Ceramic mug, 350 ml",                  1290),
    ("TEE-BLK-M",    "T-shirt, black, size M",               1999),
    ("BOTTLE-750",   "Steel water bottle, 750 ml",           2490),
    ("NOTEBOOK-A5",  "Dotted notebook, A5",                   899),
    ("HEADPHONES",   "Wireless headphones",                  8999),
    ("BACKPACK-20",  "Backpack, 20 l",                       5900),
    ("LAMP-DESK",    "LED desk lamp",                        3450),
    ("KEYBOARD-DE",  "Mechanical keyboard, German layout",  11900),
)

WAREHOUSES = (
    # code (the key)  name                   city
    ("DE-LEJ",        "Leipzig warehouse",   "Leipzig"),
    ("DE-FRA",        "Frankfurt warehouse", "Frankfurt"),
    ("DE-HAM",        "Hamburg warehouse",   "Hamburg"),
)

# Units per warehouse when the shop is new; None: the warehouse does not stock it.
STOCK = {
    #                DE-LEJ  DE-FRA  DE-HAM
    "MUG-350":      (  40,     25,     30),   # plenty everywhere
    "TEE-BLK-M":    (  10,   None,     15),
    "BOTTLE-750":   (   3,      2,      3),   # a little everywhere: 4 or more need two warehouses
    "NOTEBOOK-A5":  ( 100,     50,   None),
    "HEADPHONES":   (None,      6,   None),   # Frankfurt only
    "BACKPACK-20":  (   2,   None,      4),
    "LAMP-DESK":    (None,      8,      3),
    "KEYBOARD-DE":  (   5,   None,   None),   # Leipzig only
}
# fmt: on


@dataclass(frozen=True)
class Seeded:
    """Rows written by one load (inserted or changed); all zero when the data
    was already there."""

    customers: int
    products: int
    warehouses: int
    stock: int

    def summary(self) -> str:
        shop = f"{len(CUSTOMERS)} customers, {len(PRODUCTS)} products, {len(WAREHOUSES)} warehouses"
        written = [
            f"{count} {what}"
            for count, what in (
                (self.customers, "customers"),
                (self.products, "products"),
                (self.warehouses, "warehouses"),
                (self.stock, "stock rows"),
            )
            if count
        ]
        return f"{shop} ({'wrote ' + ', '.join(written) if written else 'already loaded'})"


def load(session: Session) -> Seeded:
    """Upsert the demo data in the caller's transaction."""
    customers = _upsert(
        session,
        Customer.__table__,  # type: ignore[arg-type]
        "email",
        [
            {
                "email": email,
                "name": name,
                "phone": phone,
                "recipient": name,
                "line1": street,
                "postal_code": postcode,
                "city": city,
                "country_code": COUNTRY,
                **_located(city),
            }
            for email, name, phone, street, postcode, city in CUSTOMERS
        ],
    )
    products = _upsert(
        session,
        Product.__table__,  # type: ignore[arg-type]
        "sku",
        [
            {"sku": sku, "name": name, "price_minor": price, "currency_code": CURRENCY}
            for sku, name, price in PRODUCTS
        ],
    )
    warehouses = _upsert(
        session,
        Warehouse.__table__,  # type: ignore[arg-type]
        "code",
        [
            {"code": code, "name": name, "city": city, **_located(city)}
            for code, name, city in WAREHOUSES
        ],
    )
    return Seeded(customers, products, warehouses, _add_missing_stock(session))


def _located(city: str) -> dict[str, float]:
    latitude, longitude = PLACES[city]
    return {"latitude": latitude, "longitude": longitude}


def _upsert(session: Session, table: Table, key: str, rows: list[dict[str, object]]) -> int:
    """Insert rows, or update those whose values differ; return how many changed."""
    statement = insert(table).values(rows)
    columns = [name for name in rows[0] if name != key]
    changed = tuple_(*(table.c[name] for name in columns)).is_distinct_from(
        tuple_(*(statement.excluded[name] for name in columns))
    )
    statement = statement.on_conflict_do_update(
        index_elements=[key],
        set_={
            **{name: statement.excluded[name] for name in columns},
            "update_time": func.now(),
        },
        where=changed,
    )
    return cast(CursorResult[Any], session.execute(statement)).rowcount


def _add_missing_stock(session: Session) -> int:
    codes = [code for code, _, _ in WAREHOUSES]
    products = select(Product.sku, Product.id).where(Product.sku.in_(STOCK))
    warehouses = select(Warehouse.code, Warehouse.id).where(Warehouse.code.in_(codes))
    product_ids = {sku: id_ for sku, id_ in session.execute(products)}
    warehouse_ids = {code: id_ for code, id_ in session.execute(warehouses)}
    rows = [
        {
            "warehouse_id": warehouse_ids[code],
            "product_id": product_ids[sku],
            "available": units,
        }
        for sku, per_warehouse in STOCK.items()
        for code, units in zip(codes, per_warehouse, strict=True)
        if units is not None
    ]
    statement = insert(Stock).values(rows).on_conflict_do_nothing()
    return cast(CursorResult[Any], session.execute(statement)).rowcount
