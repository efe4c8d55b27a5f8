"""The demo data: safe to load on every start, and shaped so that orders
really get split across warehouses."""

from __future__ import annotations

import itertools

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from meshkit.db import transaction
from orders.domain.allocation import Point, WarehouseStock, allocate
from orders.tables import Customer, Product, Stock, Warehouse
from shopctl import seed

SKUS = [sku for sku, _, _ in seed.PRODUCTS]
CODES = [code for code, _, _ in seed.WAREHOUSES]
EMAILS = [email for email, *_ in seed.CUSTOMERS]


def load(sessions: sessionmaker[Session]) -> seed.Seeded:
    with transaction(sessions) as session:
        return seed.load(session)


def row_counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        return {
            table.__tablename__: session.scalar(select(func.count()).select_from(table)) or 0
            for table in (Customer, Product, Warehouse, Stock)
        }


def demo_stock(sessions: sessionmaker[Session]) -> dict[str, dict[str, int]]:
    """sku -> warehouse code -> units, for the demo products and warehouses."""
    with sessions() as session:
        rows = session.execute(
            select(Product.sku, Warehouse.code, Stock.available)
            .join(Product, Product.id == Stock.product_id)
            .join(Warehouse, Warehouse.id == Stock.warehouse_id)
            .where(Product.sku.in_(SKUS), Warehouse.code.in_(CODES), Stock.available > 0)
        )
        stock: dict[str, dict[str, int]] = {}
        for sku, code, units in rows:
            stock.setdefault(sku, {})[code] = units
        return stock


def test_seeding_twice_gives_the_same_rows(sessions: sessionmaker[Session]) -> None:
    load(sessions)
    once = row_counts(sessions)

    again = load(sessions)

    assert again == seed.Seeded(customers=0, products=0, warehouses=0, stock=0)
    assert row_counts(sessions) == once


def test_seeding_again_keeps_the_stock_a_running_shop_has_sold(
    sessions: sessionmaker[Session],
) -> None:
    load(sessions)
    with transaction(sessions) as session:
        mug = session.scalar(select(Product.id).where(Product.sku == "MUG-350"))
        leipzig = session.scalar(select(Warehouse.id).where(Warehouse.code == "DE-LEJ"))
        where = (Stock.product_id == mug, Stock.warehouse_id == leipzig)
        initial = session.scalar(select(Stock.available).where(*where))
        assert initial is not None
        session.execute(update(Stock).where(*where).values(available=initial - 7))
    try:
        load(sessions)
        with sessions() as session:
            assert session.scalar(select(Stock.available).where(*where)) == initial - 7
    finally:
        with transaction(sessions) as session:
            session.execute(update(Stock).where(*where).values(available=initial))


def test_the_stock_forces_orders_to_be_split(sessions: sessionmaker[Session]) -> None:
    load(sessions)
    stock = demo_stock(sessions)

    assert any(max(units.values()) < sum(units.values()) for units in stock.values()), (
        "some product's whole stock cannot come from one warehouse"
    )
    assert any(
        not stock[a].keys() & stock[b].keys() for a, b in itertools.combinations(stock, 2)
    ), "some two products have no warehouse in common"


def test_orders_from_the_demo_shop_are_allocated_to_several_warehouses(
    sessions: sessionmaker[Session],
) -> None:
    load(sessions)
    with sessions() as session:
        products = dict(
            session.execute(select(Product.sku, Product.id).where(Product.sku.in_(SKUS))).all()
        )
        demo = session.scalars(select(Warehouse).where(Warehouse.code.in_(CODES))).all()
        anna = session.scalars(select(Customer).where(Customer.email == "anna@example.com")).one()
        warehouses = [
            WarehouseStock(
                w.id,
                Point(w.latitude, w.longitude),
                dict(
                    session.execute(
                        select(Stock.product_id, Stock.available).where(Stock.warehouse_id == w.id)
                    ).all()
                ),
            )
            for w in demo
        ]
    codes = {w.id: w.code for w in demo}

    def ships_from(cart: dict[str, int]) -> set[str]:
        """The warehouses the allocation rule picks for a cart sent to Berlin."""
        wanted = {products[sku]: units for sku, units in cart.items()}
        return {
            codes[w] for w in allocate(wanted, warehouses, Point(anna.latitude, anna.longitude))
        }

    assert ships_from({"MUG-350": 1}) == {"DE-LEJ"}, "the nearest, when one warehouse will do"
    assert ships_from({"HEADPHONES": 1, "KEYBOARD-DE": 1}) == {"DE-FRA", "DE-LEJ"}
    assert len(ships_from({"BOTTLE-750": 4})) == 2


def test_customers_and_warehouses_are_in_different_cities(
    sessions: sessionmaker[Session],
) -> None:
    load(sessions)
    with sessions() as session:
        customers = session.scalars(select(Customer).where(Customer.email.in_(EMAILS))).all()
        warehouses = session.scalars(select(Warehouse).where(Warehouse.code.in_(CODES))).all()

    assert len({c.city for c in customers}) >= 3
    assert len({w.city for w in warehouses}) >= 3
    for place in [*customers, *warehouses]:
        # Real places in Germany, so distances between them mean something.
        assert 47.2 < place.latitude < 55.1 and 5.8 < place.longitude < 15.1, place.city
    assert all(c.country_code == "DE" and c.email and c.phone for c in customers)
    with sessions() as session:
        products = session.scalars(select(Product).where(Product.sku.in_(SKUS))).all()
    assert len(products) == 8
    assert all(p.currency_code == "EUR" and p.price_minor > 0 for p in products)
