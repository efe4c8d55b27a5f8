"""The bench's data, written straight in SQL so that the load measures
CreateOrder alone: customers, products, warehouses with stock that never
runs out, and one open cart with two items for every order to be placed.

The layout is arithmetic, so that pgbench can follow it without reading
anything back (bench/create_order.pgbench.sql repeats these rules; change
both together). Cart `k` of a batch (0-based):

- belongs to customer `k % customers`;
- holds products `k % products` and `(k + 1 + (k / products) % (products - 1))
  % products` (two different ones), one unit each;
- ships from warehouse `customer % warehouses`: each customer lives at the
  very spot of one warehouse, so Orders' rule (the nearest warehouse that can
  fill the whole order) always picks that one.

Product `i` costs `100 + 10 i` cents. Ids are reserved from each table's
identity sequence and written explicitly, so a batch's ids are contiguous
even on a DATABASE_URL that already holds rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

from tests.support.data import PLACES

# Enough to look like a shop, few enough that orders contend for stock rows
# (every order locks its two products' rows in every warehouse) as they do
# in a real one.
CUSTOMERS = 48
PRODUCTS = 32
WAREHOUSE_PLACES = ("berlin", "munich", "hamburg")
# Far more than any run takes: the bench measures ordering, not running out.
UNITS_IN_STOCK = 1_000_000_000


@dataclass(frozen=True)
class Catalogue:
    """Where the bench's customers, products and warehouses start."""

    # Unique to this run, in every unique column (e-mails, SKUs, codes).
    tag: str
    first_customer: int
    first_product: int
    first_warehouse: int
    customers: int = CUSTOMERS
    products: int = PRODUCTS
    warehouses: int = len(WAREHOUSE_PLACES)

    def customer_of(self, index: int) -> int:
        """The customer owning cart `index` of a batch."""
        return self.first_customer + index % self.customers


@dataclass(frozen=True)
class Carts:
    """A batch of open carts: ids `first` to `first + count - 1`."""

    first: int
    count: int

    @property
    def last(self) -> int:
        return self.first + self.count - 1


def prepare_catalogue(engine: Engine) -> Catalogue:
    tag = uuid.uuid4().hex[:8]
    with engine.begin() as connection:
        first_warehouse = _reserve(connection, "warehouses", len(WAREHOUSE_PLACES))
        for index, place in enumerate(WAREHOUSE_PLACES):
            city, latitude, longitude = PLACES[place]
            connection.execute(
                text(
                    "INSERT INTO warehouses (id, code, name, city, latitude, longitude)"
                    " VALUES (:id, :code, :name, :city, :lat, :lon)"
                ),
                {
                    "id": first_warehouse + index,
                    "code": f"BENCH-{tag}-{index}",
                    "name": f"{city} bench warehouse",
                    "city": city,
                    "lat": latitude,
                    "lon": longitude,
                },
            )
        first_customer = _insert_customers(connection, CUSTOMERS, tag, first_warehouse)
        first_product = _reserve(connection, "products", PRODUCTS)
        connection.execute(
            text(
                "INSERT INTO products (id, sku, name, price_minor, currency_code)"
                " SELECT :first + i, 'BENCH-' || :tag || '-' || i, 'Bench product ' || i,"
                " 100 + 10 * i, 'EUR' FROM generate_series(0, :n - 1) AS i"
            ),
            {"first": first_product, "tag": tag, "n": PRODUCTS},
        )
        connection.execute(
            text(
                "INSERT INTO stock (warehouse_id, product_id, available)"
                " SELECT w, p, :units"
                " FROM generate_series(:first_warehouse, :last_warehouse) AS w,"
                " generate_series(:first_product, :last_product) AS p"
            ),
            {
                "units": UNITS_IN_STOCK,
                "first_warehouse": first_warehouse,
                "last_warehouse": first_warehouse + len(WAREHOUSE_PLACES) - 1,
                "first_product": first_product,
                "last_product": first_product + PRODUCTS - 1,
            },
        )
    return Catalogue(tag, first_customer, first_product, first_warehouse)


def add_customers(engine: Engine, catalogue: Catalogue, count: int) -> range:
    """`count` more customers, apart from the catalogue's (whose ids the
    carts' layout counts on), living where its warehouses are; their ids."""
    with engine.begin() as connection:
        first = _insert_customers(
            connection, count, f"{catalogue.tag}-more", catalogue.first_warehouse
        )
    return range(first, first + count)


def _insert_customers(connection: Connection, count: int, tag: str, first_warehouse: int) -> int:
    """Customer `i` lives at warehouse `i % warehouses`; the first id."""
    first = _reserve(connection, "customers", count)
    connection.execute(
        text(
            "INSERT INTO customers (id, name, email, phone, recipient, line1, city,"
            " postal_code, country_code, latitude, longitude)"
            " SELECT :first + i, 'Bench customer ' || i, 'bench-' || :tag || '-' || i"
            " || '@example.test', '+49 30 0000', 'Bench Customer', 'Benchstrasse ' || i,"
            " w.city, '10115', 'DE', w.latitude, w.longitude"
            " FROM generate_series(0, :n - 1) AS i"
            " JOIN warehouses AS w ON w.id = :first_warehouse + i % :warehouses"
        ),
        {
            "first": first,
            "tag": tag,
            "n": count,
            "first_warehouse": first_warehouse,
            "warehouses": len(WAREHOUSE_PLACES),
        },
    )
    return first


def add_carts(engine: Engine, catalogue: Catalogue, count: int) -> Carts:
    """`count` open carts laid out as the module docstring says."""
    with engine.begin() as connection:
        first = _reserve(connection, "carts", count)
        layout = {
            "first": first,
            "n": count,
            "first_customer": catalogue.first_customer,
            "customers": catalogue.customers,
            "first_product": catalogue.first_product,
            "products": catalogue.products,
        }
        connection.execute(
            text(
                "INSERT INTO carts (id, customer_id, state)"
                " SELECT :first + k, :first_customer + k % :customers, 'open'"
                " FROM generate_series(0, :n - 1) AS k"
            ),
            layout,
        )
        connection.execute(
            text(
                "INSERT INTO cart_items (cart_id, product_id, quantity)"
                " SELECT :first + k, :first_product + k % :products, 1"
                " FROM generate_series(0, :n - 1) AS k"
                " UNION ALL"
                " SELECT :first + k,"
                " :first_product + (k + 1 + (k / :products) % (:products - 1)) % :products, 1"
                " FROM generate_series(0, :n - 1) AS k"
            ),
            layout,
        )
    return Carts(first, count)


def _reserve(connection: Connection, table: str, count: int) -> int:
    """Take `count` consecutive ids from `table`'s identity sequence; the first.
    Only the bench inserts into these tables while it runs, so nothing takes
    an id between the two calls."""
    sequence = connection.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table})
    last = connection.scalar(
        text("SELECT setval(:s, nextval(:s) + :n - 1)"), {"s": sequence, "n": count}
    )
    assert last is not None
    return int(last) - count + 1
