"""The paths every order takes stay a few SQL statements each: a refactor
that quietly adds a round trip (an ORM lazy load, a flush per row) fails here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager

import pytest
from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session, sessionmaker

from meshkit import callctx
from meshkit.principal import Principal, Role
from orders import tables
from orders.domain.lifecycle import Progress
from orders.handlers import OrderHandlers
from tests.support import data


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    """The statements sent on `engine` while the test runs (psycopg2 sends
    BEGIN and COMMIT on its own; each adds one more round trip)."""
    sent: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        sent.append(" ".join(statement.split())[:60])

    event.listen(engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def placed(sessions: sessionmaker[Session]) -> tuple[int, int]:
    """A customer with an open cart of two products, stocked in two warehouses."""
    with sessions.begin() as s:
        customer = data.customer(s, "berlin")
        products = [data.product(s, 500), data.product(s, 700)]
        for place in ("leipzig", "munich"):
            where = data.warehouse(s, place)
            for product in products:
                data.stock(s, where, product, 10)
        cart = tables.Cart(customer_id=customer.id, state="open", items=[])
        s.add(cart)
        s.flush()
        for product in products:
            s.add(tables.CartItem(cart_id=cart.id, product_id=product.id, quantity=2))
        return customer.id, cart.id


def within_a_call() -> AbstractContextManager[None]:
    """As the server interceptor binds a call with a deadline."""
    return callctx.bound("req", time_remaining=5.0)


def test_create_order_is_four_statements(
    sessions: sessionmaker[Session], placed: tuple[int, int], statements: list[str]
) -> None:
    customer_id, cart_id = placed
    with within_a_call():
        OrderHandlers(sessions).create_order(
            Principal(Role.CUSTOMER, customer_id=customer_id), cart_id, "r-1", None
        )
    # statement_timeout, lock the cart, read its items and lock their stock,
    # write everything.
    assert len(statements) == 4, statements


def test_get_order_is_one_round_trip_outside_any_transaction(
    engine: Engine, sessions: sessionmaker[Session], placed: tuple[int, int]
) -> None:
    customer_id, cart_id = placed
    caller = Principal(Role.CUSTOMER, customer_id=customer_id)
    handlers = OrderHandlers(sessions)
    sent: list[tuple[str, bool]] = []

    def record(conn: Connection, _cursor: object, statement: str, *_: object) -> None:
        # In autocommit psycopg2 sends no BEGIN before it, nor ROLLBACK after.
        autocommit = conn.connection.driver_connection.autocommit  # type: ignore[union-attr]
        sent.append((" ".join(statement.split())[:29], autocommit))

    with within_a_call():
        order = handlers.create_order(caller, cart_id, "", None)
        event.listen(engine, "before_cursor_execute", record)
        try:
            handlers.get_order(caller, order.order_id)
        finally:
            event.remove(engine, "before_cursor_execute", record)
    # The deadline and the order with its parts, in one query string.
    assert sent == [("SET LOCAL statement_timeout =", True)]


def test_shipment_progress_is_four_statements(
    sessions: sessionmaker[Session], placed: tuple[int, int], statements: list[str]
) -> None:
    customer_id, cart_id = placed
    handlers = OrderHandlers(sessions)
    with within_a_call():
        order = handlers.create_order(
            Principal(Role.CUSTOMER, customer_id=customer_id), cart_id, "", None
        )
        statements.clear()
        handlers.record_shipment_progress(order.order_id, 1, Progress.IN_TRANSIT)
    # statement_timeout, lock the order, read its parts, write the change.
    assert len(statements) == 4, statements
